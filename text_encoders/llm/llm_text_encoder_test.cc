// The llm plugin through the host's registry, as a manifest table reaches it: options read at
// construction (nothing loaded), Load(), the template and hidden layer, loading errors, and its
// Maker, whose tiny LLM learns the captions inside the encoder's own template.
#include <algorithm>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/hf_folder.h"
#include "common/llama_decoder.h"
#include "common/prompt_template.h"
#include "common/tiny_models.h"
#include "common/tokenizer.h"
#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/sdk/options.h"
#include "modelgrow/sdk/text_encoder.h"
#include "test_util.h"
#include "text/text_plugin_util.h"

namespace modelgrow {
namespace {

using testing::TempDir;

constexpr const char* kSmallLlama = "vocab_size = 160\nd_model = 32\nseed = 3\n";

class LlmPlugin : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    plugin_ = new testing::TextPluginUnderTest();
    plugin_->MakeModel(kSmallLlama, *dir_ / "llama");
  }
  static void TearDownTestSuite() {
    delete plugin_;
    delete dir_;
  }

  // path = the tiny Llama folder, plus `more` TOML lines.
  static std::string Table(const std::string& more = "") {
    return fmt::format("path = \"{}\"\n{}", (*dir_ / "llama").string(), more);
  }
  static nlohmann::json TrainingRecord(const std::filesystem::path& folder) {
    return HfConfig::Read(folder).json()["modelgrow"]["training"];
  }

  static TempDir* dir_;
  static testing::TextPluginUnderTest* plugin_;
};
TempDir* LlmPlugin::dir_ = nullptr;
testing::TextPluginUnderTest* LlmPlugin::plugin_ = nullptr;

TEST_F(LlmPlugin, IsListedWithExamplesAndAMaker) {
  EXPECT_EQ(plugin_->name(), "llm");
  PluginInfo info = plugin_->info();
  EXPECT_TRUE(info.makes_text_models);
  EXPECT_NE(info.examples.find("[[example]]"), std::string::npos);
  EXPECT_NE(info.examples.find("make = {"), std::string::npos);
}

TEST_F(LlmPlugin, ConstructionReadsOptionsAndLoadsNothing) {
  auto encoder = plugin_->Construct(
      "path = \"/no/such/llm-folder\"\nhidden_layer = 7\ntemplate = \"<{prompt}>\"\n");
  EXPECT_EQ(encoder->max_length(), 300);
  EXPECT_EQ(encoder->Describe()["template"], "<{prompt}>");
  EXPECT_EQ(encoder->Describe()["path"], "/no/such/llm-folder");
  EXPECT_THROW_WITH(encoder->CacheKey(), RunError, "before Load()");
  EXPECT_THROW_WITH(encoder->Load(), InputError, "llm", "/no/such/llm-folder", "does not exist");
}

TEST_F(LlmPlugin, EncodesATemplatedPromptAtAChosenLayer) {
  auto last = plugin_->Load(Table("max_length = 64\n"));
  auto first = plugin_->Load(Table("max_length = 64\nhidden_layer = 1\n"));
  auto plain = plugin_->Load(Table("max_length = 64\ntemplate = \"{prompt}\"\n"));
  EXPECT_EQ(last->dim(), 32);
  TextEncoding a = last->Encode({"a red cube"});
  TextEncoding b = first->Encode({"a red cube"});
  TextEncoding c = plain->Encode({"a red cube"});
  EXPECT_EQ(a.embedding.sizes(), (std::vector<int64_t>{1, 64, 32}));
  EXPECT_FALSE(torch::allclose(a.embedding, b.embedding));
  EXPECT_GT(a.mask.sum().item<int64_t>(), c.mask.sum().item<int64_t>() + 10);  // the system line
  EXPECT_NE(last->CacheKey(), first->CacheKey());
  EXPECT_NE(last->CacheKey(), plain->CacheKey());
  EXPECT_EQ(last->CacheKey(), plugin_->Load(Table("max_length = 64\n"))->CacheKey());
  EXPECT_EQ(last->Describe()["template"], std::string(kDefaultLlmTemplate));
  EXPECT_EQ(first->Describe()["hidden_state_index"], 1);

  // The same numbers as the shared library's model on the same ids.
  LlamaDecoder model = LoadLlamaDecoder(*dir_ / "llama");
  SentencePieceTokenizer tok = SentencePieceTokenizer::Load(*dir_ / "llama" / "tokenizer.model");
  TokenizedBatch ids =
      TokenizeBatch(tok, {ApplyTemplate(kDefaultLlmTemplate, "a red cube")},
                    {.max_length = 64, .add_bos = true, .add_eos = false, .pad_id = tok.eos_id()});
  torch::NoGradGuard no_grad;
  EXPECT_LT(testing::MaxAbsError(model->HiddenState(ids.ids, ids.mask, -1), a.embedding), 1e-6);
}

TEST_F(LlmPlugin, OptionProblemsAtConstructionModelProblemsAtLoad) {
  EXPECT_THROW_WITH(
      plugin_->Construct(Table("template = \"no slot\"\nmax_length = 0\nadd_bos = 1\n")),
      ValidationError, "template", "{prompt} exactly once", "max_length", "add_bos");
  // The layer count is the model's: known only when it is loaded.
  auto deep = plugin_->Construct(Table("hidden_layer = 9\n"));
  EXPECT_THROW_WITH(deep->Load(), InputError, "hidden_layer 9", "out of range");
  TempDir dir;
  TinyModelOptions t5;
  t5.vocab_size = 64;
  t5.d_model = 16;
  t5.heads = 2;
  MakeTinyModel(t5, testing::CaptionCorpus(100), dir / "t5");
  auto wrong = plugin_->Construct(fmt::format("path = \"{}\"\n", (dir / "t5").string()));
  EXPECT_THROW_WITH(wrong->Load(), InputError, "model_type", "'t5'");
}

TEST_F(LlmPlugin, AFolderWithOnlyTokenizerJsonIsALoadError) {
  TempDir dir;
  // A Llama 3 / Qwen2 style folder: weights but only tokenizer.json.
  std::filesystem::copy(*dir_ / "llama", dir / "llama3");
  std::filesystem::remove(dir / "llama3" / "tokenizer.model");
  WriteFileAtomic(dir / "llama3" / "tokenizer.json", "{}");
  auto encoder = plugin_->Construct(fmt::format("path = \"{}\"\n", (dir / "llama3").string()));
  EXPECT_THROW_WITH(encoder->Load(), InputError, "tokenizer.json", "SentencePiece", "precomputed");
}

TEST_F(LlmPlugin, MakerTrainsInsideTheEncodersTemplate) {
  TempDir dir;
  const std::string encoder_table =
      "template = \"Describe the video: {prompt}\"\nmax_length = 80\n";
  nlohmann::json facts =
      plugin_->MakeModel("vocab_size = 160\nd_model = 32\ntrain_steps = 4\ntrain_batch_size = 8\n",
                         dir / "trained", encoder_table);
  EXPECT_EQ(facts["type"], "llama");
  EXPECT_EQ(facts["steps"], 4);
  EXPECT_TRUE(facts.contains("loss_before") && facts.contains("loss_after"));
  EXPECT_FALSE(std::filesystem::exists(dir / "trained.untrained"));
  // The encoder built from the same table wraps prompts in the template the decoder learned.
  auto encoder =
      plugin_->Load(fmt::format("path = \"{}\"\n{}", (dir / "trained").string(), encoder_table));
  nlohmann::json record = TrainingRecord(dir / "trained");
  EXPECT_EQ(record["template"], encoder->Describe()["template"]);
  EXPECT_EQ(record["template"], "Describe the video: {prompt}");
  EXPECT_EQ(record["max_length"], 80);  // max(64, the encoder's max_length)
  EXPECT_EQ(record["steps"], 4);

  // Without a template both use the encoder's default; training takes at least 64 tokens.
  plugin_->MakeModel("vocab_size = 160\nd_model = 32\ntrain_steps = 1\n", dir / "default",
                     "max_length = 32\n");
  auto by_default = plugin_->Construct(fmt::format("path = \"{}\"\n", (dir / "default").string()));
  record = TrainingRecord(dir / "default");
  EXPECT_EQ(record["template"], by_default->Describe()["template"]);
  EXPECT_EQ(record["template"], std::string(kDefaultLlmTemplate));
  EXPECT_EQ(record["max_length"], 64);
}

TEST_F(LlmPlugin, MakerWithoutTrainingWritesTheUntrainedModel) {
  TempDir dir;
  nlohmann::json facts = plugin_->MakeModel(
      "type = \"qwen2\"\nvocab_size = 96\nd_model = 16\nlayers = 1\nheads = 2\nkv_heads = 1\n",
      dir / "qwen2");
  EXPECT_EQ(facts["type"], "qwen2");
  EXPECT_FALSE(facts.contains("loss_after"));
  HfConfig hf = HfConfig::Read(dir / "qwen2");
  EXPECT_EQ(hf.model_type(), "qwen2");
  EXPECT_EQ(hf.Int("num_key_value_heads"), 1);
  EXPECT_FALSE(hf.json()["modelgrow"].contains("training"));
  auto encoder = plugin_->Load(fmt::format("path = \"{}\"\n", (dir / "qwen2").string()));
  EXPECT_EQ(encoder->dim(), 16);
}

TEST_F(LlmPlugin, SameMakeOptionsAndCaptionsGiveTheSameBytes) {
  TempDir dir;
  const std::string make =
      "vocab_size = 96\nd_model = 16\nlayers = 1\nheads = 2\ntrain_steps = 3\n";
  plugin_->MakeModel(make, dir / "a", "max_length = 40\n");
  plugin_->MakeModel(make, dir / "b", "max_length = 40\n");
  EXPECT_EQ(testing::FolderBytes(dir / "a"), testing::FolderBytes(dir / "b"));
  // The template is part of what is made.
  plugin_->MakeModel(make, dir / "c", "max_length = 40\ntemplate = \"<{prompt}>\"\n");
  EXPECT_NE(ReadFile(dir / "a" / "model.safetensors"), ReadFile(dir / "c" / "model.safetensors"));
}

TEST_F(LlmPlugin, ABadMakeTableReportsEveryProblemAtOnce) {
  PluginContext context;
  Options doc = Options::ParseString(
      "[text.llm.make]\ntype = \"gpt2\"\nd_model = 20\nheads = 4\nkv_heads = 3\n"
      "train_lr = -1.0\nmax_length = 64\n",
      "exp.toml");
  context.options = doc.AtPath("text.llm.make");
  try {
    plugin_->registry().MakeTextModelMaker("llm", context, Options::Empty());
    ADD_FAILURE() << "expected a ValidationError";
  } catch (const ValidationError& e) {
    std::vector<std::string> paths;
    for (const Problem& p : e.problems()) paths.push_back(p.key_path);
    std::sort(paths.begin(), paths.end());
    // max_length is the encoder's option now, not a make key.
    EXPECT_EQ(paths, (std::vector<std::string>{"text.llm.make.heads", "text.llm.make.kv_heads",
                                               "text.llm.make.max_length", "text.llm.make.train_lr",
                                               "text.llm.make.type"}))
        << e.what();
    std::string message = e.what();
    EXPECT_NE(message.find("d_model / heads = 5 must be even"), std::string::npos) << message;
    EXPECT_NE(message.find("kv_heads 3 does not divide heads 4"), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace modelgrow
