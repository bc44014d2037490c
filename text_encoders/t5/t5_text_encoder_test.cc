// The t5 plugin through the host's registry, as a manifest table reaches it: options read at
// construction (nothing loaded), Load(), encoding, truncation reports, loading errors, and its
// Maker (`make = {...}`).
#include <algorithm>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/sentencepiece_training.h"
#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/sdk/options.h"
#include "modelgrow/sdk/text_encoder.h"
#include "modelgrow/text/text_cache.h"
#include "test_util.h"
#include "text/text_plugin_util.h"

namespace modelgrow {
namespace {

using testing::TempDir;

class T5Plugin : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    plugin_ = new testing::TextPluginUnderTest();
    plugin_->MakeModel("vocab_size = 160\nd_model = 32\nseed = 3\n", *dir_ / "t5");
  }
  static void TearDownTestSuite() {
    delete plugin_;
    delete dir_;
  }

  // path = the tiny T5 folder, plus `more` TOML lines.
  static std::string Table(const std::string& more = "") {
    return fmt::format("path = \"{}\"\n{}", (*dir_ / "t5").string(), more);
  }

  static TempDir* dir_;
  static testing::TextPluginUnderTest* plugin_;
};
TempDir* T5Plugin::dir_ = nullptr;
testing::TextPluginUnderTest* T5Plugin::plugin_ = nullptr;

TEST_F(T5Plugin, IsListedWithExamplesAndAMaker) {
  EXPECT_EQ(plugin_->name(), "t5");
  PluginInfo info = plugin_->info();
  EXPECT_TRUE(info.makes_text_models);
  EXPECT_NE(info.examples.find("[[example]]"), std::string::npos);
  EXPECT_NE(info.examples.find("make = {"), std::string::npos);
}

TEST_F(T5Plugin, ConstructionReadsOptionsAndLoadsNothing) {
  // A folder that does not exist: constructing is fine, loading names it.
  auto encoder = plugin_->Construct("path = \"/no/such/t5-folder\"\nmax_length = 20\n");
  EXPECT_EQ(encoder->max_length(), 20);
  EXPECT_EQ(encoder->Describe()["path"], "/no/such/t5-folder");
  EXPECT_THROW_WITH(encoder->dim(), RunError, "before Load()");
  EXPECT_THROW_WITH(encoder->Encode({"a red cube"}), RunError, "before Load()");
  EXPECT_THROW_WITH(encoder->Load(), InputError, "t5", "/no/such/t5-folder", "does not exist");
}

TEST_F(T5Plugin, EncodesFromAFolderWithOneTable) {
  auto encoder = plugin_->Load(Table("max_length = 20\n"));
  EXPECT_EQ(encoder->dim(), 32);
  EXPECT_EQ(encoder->max_length(), 20);
  EXPECT_EQ(encoder->null_policy(), NullCaptionPolicy::kModelBuffer);
  TextEncoding e = encoder->Encode({"a red cube moves left", "a blue sphere"});
  EXPECT_EQ(e.embedding.sizes(), (std::vector<int64_t>{2, 20, 32}));
  EXPECT_EQ(e.embedding.scalar_type(), at::kFloat);
  EXPECT_EQ(e.mask.scalar_type(), at::kBool);
  EXPECT_GT(e.mask[0].sum().item<int64_t>(), e.mask[1].sum().item<int64_t>());
  // Deterministic, and a prompt's encoding does not depend on its batch.
  TextEncoding alone = encoder->Encode({"a blue sphere"});
  EXPECT_LT(testing::MaxAbsError(alone.embedding[0], e.embedding[1]), 1e-5);
  EXPECT_EQ(encoder->CacheKey(), plugin_->Load(Table("max_length = 20\n"))->CacheKey());
  EXPECT_NE(encoder->CacheKey(), plugin_->Load(Table("max_length = 21\n"))->CacheKey());
  EXPECT_EQ(encoder->CacheKey().rfind("t5-", 0), 0u);
  EXPECT_EQ(encoder->Describe()["d_model"], 32);
  auto bf16 = plugin_->Load(Table("max_length = 20\ndtype = \"bfloat16\"\n"));
  EXPECT_NE(bf16->CacheKey(), encoder->CacheKey());
  EXPECT_LT(testing::MaxRelError(bf16->Encode({"a blue sphere"}).embedding, alone.embedding), 0.1);
}

TEST_F(T5Plugin, TruncationIsCountedAndReported) {
  auto encoder = plugin_->Load(Table("max_length = 6\n"));
  ::testing::internal::CaptureStderr();
  TextEncoding e = encoder->Encode({"a red cube moves left on a grey floor", "a cube"});
  encoder->Encode({"a green cylinder falls from the sky in a dark room"});
  std::string warned = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(e.mask[0].all().item<bool>());
  EXPECT_EQ(encoder->Describe()["prompts_truncated"], 2);
  // Reported once, with the count and the max length.
  EXPECT_NE(warned.find("1 prompt(s) longer than max_length 6"), std::string::npos) << warned;
  EXPECT_EQ(warned.find("modelgrow: warning", warned.find("modelgrow: warning") + 1),
            std::string::npos)
      << warned;
}

TEST_F(T5Plugin, CacheRunsThePluginOncePerPrompt) {
  auto encoder = plugin_->Load(Table("max_length = 12\n"));
  TextEncoderCache cache(encoder);
  TextEncoding first = cache.Encode({"a red cube", "a blue cone"});
  TextEncoding second = cache.Encode({"a blue cone"});
  EXPECT_EQ(cache.encoder_calls(), 1);
  EXPECT_TRUE(torch::equal(second.embedding[0], first.embedding[1]));
}

TEST_F(T5Plugin, OptionProblemsAreReportedTogetherAtConstruction) {
  EXPECT_THROW_WITH(
      plugin_->Construct("max_length = 1\ndtype = \"fp8\"\nflavour = 3\ndevice = \"tpu\"\n"),
      ValidationError, "path", "max_length", "dtype", "flavour", "'tpu' is not a device");
}

TEST_F(T5Plugin, TokenizerProblemsAreLoadErrors) {
  TempDir dir;
  // A tokenizer with more pieces than the model's vocabulary (the reference T5 has 96), trained
  // on made-up words so the corpus supports 200 pieces.
  std::vector<std::string> words;
  uint32_t state = 12345;
  for (int line = 0; line < 300; ++line) {
    std::string text;
    for (int w = 0; w < 8; ++w) {
      for (int c = 0; c < 5; ++c) {
        state = state * 1664525u + 1013904223u;
        text.push_back(static_cast<char>('a' + (state >> 24) % 26));
      }
      text.push_back(' ');
    }
    words.push_back(text);
  }
  SentencePieceTrainOptions big;
  big.vocab_size = 200;
  WriteFileAtomic(dir / "big.model", TrainSentencePiece(words, big));
  auto encoder = plugin_->Construct(fmt::format("path = \"{}\"\ntokenizer = \"{}\"\n",
                                                testing::Fixture("reference/t5").string(),
                                                (dir / "big.model").string()));
  EXPECT_THROW_WITH(encoder->Load(), InputError, "big.model", "200 tokens", "vocab_size 96",
                    "does not belong");
  auto missing =
      plugin_->Construct(Table(fmt::format("tokenizer = \"{}\"\n", (dir / "none.model").string())));
  EXPECT_THROW_WITH(missing->Load(), InputError, "none.model", "does not exist");
}

// The folder's tokenizer.json is what a T5 folder is read with when it has one; a folder with only
// the SentencePiece model (what the tiny T5s were before) gives the same encodings.
TEST_F(T5Plugin, TokenizerJsonAndSentencePieceGiveTheSameEncoding) {
  TempDir dir;
  plugin_->MakeModel("vocab_size = 96\nd_model = 16\nlayers = 1\nheads = 2\n", dir / "made");
  std::filesystem::copy(dir / "made", dir / "spm");
  std::filesystem::remove(dir / "spm" / "tokenizer.json");
  auto json =
      plugin_->Load(fmt::format("path = \"{}\"\nmax_length = 8\n", (dir / "made").string()));
  auto spm = plugin_->Load(fmt::format("path = \"{}\"\nmax_length = 8\n", (dir / "spm").string()));
  EXPECT_EQ(json->Describe()["tokenizer"]["kind"], "tokenizer.json");
  EXPECT_EQ(spm->Describe()["tokenizer"]["kind"], "sentencepiece");
  const std::vector<std::string> prompts = {"a red cube moves left",
                                            "a green cylinder falls from the sky in a dark room"};
  TextEncoding a = json->Encode(prompts), b = spm->Encode(prompts);
  EXPECT_TRUE(torch::equal(a.embedding, b.embedding));
  EXPECT_TRUE(torch::equal(a.mask, b.mask));
  EXPECT_NE(json->CacheKey(), spm->CacheKey());
  // `tokenizer` may name a tokenizer.json too.
  auto named = plugin_->Load(fmt::format("path = \"{}\"\nmax_length = 8\ntokenizer = \"{}\"\n",
                                         (dir / "spm").string(),
                                         (dir / "made" / "tokenizer.json").string()));
  EXPECT_TRUE(torch::equal(named->Encode(prompts).embedding, a.embedding));
}

TEST_F(T5Plugin, MakerWritesAFolderTheEncoderLoads) {
  TempDir dir;
  nlohmann::json facts = plugin_->MakeModel(
      "vocab_size = 96\nd_model = 16\nlayers = 1\nheads = 2\nd_ff = 24\n", dir / "made");
  EXPECT_EQ(facts["type"], "t5");
  EXPECT_EQ(facts["captions"], 400);
  EXPECT_GT(facts["parameters"].get<int64_t>(), 0);
  auto encoder =
      plugin_->Load(fmt::format("path = \"{}\"\nmax_length = 16\n", (dir / "made").string()));
  EXPECT_EQ(encoder->dim(), 16);
  EXPECT_EQ(encoder->Describe()["vocab_size"], facts["vocab_size"]);
  EXPECT_EQ(encoder->Describe()["layers"], 1);
  EXPECT_EQ(encoder->Encode({"a red cube"}).embedding.sizes(), (std::vector<int64_t>{1, 16, 16}));
}

TEST_F(T5Plugin, SameMakeOptionsAndCaptionsGiveTheSameBytes) {
  TempDir dir;
  const std::string make = "vocab_size = 96\nd_model = 16\nlayers = 1\nheads = 2\nseed = 4\n";
  plugin_->MakeModel(make, dir / "a");
  plugin_->MakeModel(make, dir / "b");
  EXPECT_EQ(testing::FolderBytes(dir / "a"), testing::FolderBytes(dir / "b"));
  plugin_->MakeModel("vocab_size = 96\nd_model = 16\nlayers = 1\nheads = 2\nseed = 5\n", dir / "c");
  EXPECT_NE(ReadFile(dir / "a" / "model.safetensors"), ReadFile(dir / "c" / "model.safetensors"));
  std::vector<std::string> fewer = testing::CaptionCorpus(200);
  std::ostringstream log;
  plugin_->Maker(make)->Make({fewer, {}}, dir / "d", log);
  EXPECT_NE(ReadFile(dir / "a" / "config.json"), ReadFile(dir / "d" / "config.json"));
}

TEST_F(T5Plugin, ABadMakeTableReportsEveryProblemAtOnce) {
  PluginContext context;
  Options doc = Options::ParseString(
      "[text.t5.make]\nvocab_size = 8\nd_model = 30\nheads = 4\ntokenizer_type = \"wordpiece\"\n"
      "type = \"llama\"\ntrain_steps = 10\n",
      "exp.toml");
  context.options = doc.AtPath("text.t5.make");
  try {
    plugin_->registry().MakeTextModelMaker("t5", context, Options::Empty());
    ADD_FAILURE() << "expected a ValidationError";
  } catch (const ValidationError& e) {
    std::vector<std::string> paths;
    for (const Problem& p : e.problems()) paths.push_back(p.key_path);
    std::sort(paths.begin(), paths.end());
    EXPECT_EQ(paths, (std::vector<std::string>{"text.t5.make.heads", "text.t5.make.tokenizer_type",
                                               "text.t5.make.train_steps", "text.t5.make.type",
                                               "text.t5.make.vocab_size"}))
        << e.what();
    std::string message = e.what();
    EXPECT_NE(message.find("heads 4 does not divide d_model 30"), std::string::npos) << message;
    EXPECT_NE(message.find("unknown key 'type'"), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace modelgrow
