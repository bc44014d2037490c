// `modelgrow text make` and `modelgrow text encode` with the built text plugins: a tiny model made
// from a corpus file and loaded by its plugin, the encoder's options checked while making, exit
// code 2 with the reason for bad input, and help with a usage line and an example.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "modelgrow/sdk/atomic_file.h"
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
  EXPECT_EQ(config["modelgrow"]["training"]["template"], "Describe: {prompt}");
  EXPECT_EQ(config["modelgrow"]["training"]["max_length"], 96);

  testing::CliResult encoded = RunCli(fmt::format(
      "text encode --plugin llm --set path={} --set max_length=96 --prompt 'a red cube' "
      "--prompt 'a blue cone' --json",
      folder));
  ExpectSuccess(encoded);
  nlohmann::json report = JsonOf(encoded.output);
  EXPECT_EQ(report["embedding_shape"], (std::vector<int64_t>{2, 96, 32}));
  EXPECT_GT(report["prompts"][0]["tokens"].get<int>(), 10);  // the default template's system line
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
  for (const char* command : {"text --help", "text make --help", "text encode --help"}) {
    testing::CliResult help = RunCli(command);
    EXPECT_EQ(help.exit_code, 0) << command;
    EXPECT_NE(help.output.find("usage: modelgrow text"), std::string::npos) << help.output;
    EXPECT_NE(help.output.find("example"), std::string::npos) << help.output;
  }
}

}  // namespace
}  // namespace modelgrow
