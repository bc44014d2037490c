// The llm plugin through the host's registry, as a manifest table reaches it: options read at
// construction (nothing loaded), Load(), the chat template or {prompt} template and the hidden
// layer, loading errors, its Maker, whose tiny LLM learns the captions inside the encoder's own
// prompt format (and, with train_rewrite, to rewrite), its Tokenizer and its Rewriter.
#include <algorithm>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/hf_folder.h"
#include "common/hf_tokenizer.h"
#include "common/llama_decoder.h"
#include "common/prompt_template.h"
#include "common/tiny_models.h"
#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/sdk/options.h"
#include "modelgrow/sdk/prompt_rewriter.h"
#include "modelgrow/sdk/text_encoder.h"
#include "modelgrow/sdk/text_tokenizer.h"
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
  EXPECT_TRUE(info.has_tokenizer);
  EXPECT_TRUE(info.rewrites_prompts);
  EXPECT_NE(info.examples.find("[[example]]"), std::string::npos);
  EXPECT_NE(info.examples.find("make = {"), std::string::npos);
}

TEST_F(LlmPlugin, ConstructionReadsOptionsAndLoadsNothing) {
  auto encoder = plugin_->Construct(
      "path = \"/no/such/llm-folder\"\nhidden_layer = 7\ntemplate = \"<{prompt}>\"\n");
  EXPECT_EQ(encoder->max_length(), 300);
  EXPECT_EQ(encoder->Describe()["hidden_layer"], 7);
  EXPECT_EQ(encoder->Describe()["path"], "/no/such/llm-folder");
  EXPECT_THROW_WITH(encoder->CacheKey(), RunError, "before Load()");
  EXPECT_THROW_WITH(encoder->Load(), InputError, "llm", "/no/such/llm-folder", "does not exist");
}

// By default the folder's chat template renders [system, user] and the ids are those of that text
// tokenised without added special tokens (apply_chat_template(tokenize=True)).
TEST_F(LlmPlugin, EncodesTheChatTemplatedPromptAtAChosenLayer) {
  auto last = plugin_->Load(Table("max_length = 64\n"));
  auto first = plugin_->Load(Table("max_length = 64\nhidden_layer = 1\n"));
  auto plain = plugin_->Load(Table("max_length = 64\ntemplate = \"{prompt}\"\n"));
  auto bare = plugin_->Load(Table("max_length = 64\nsystem_prompt = \"\"\n"));
  EXPECT_EQ(last->dim(), 32);
  TextEncoding a = last->Encode({"a red cube"});
  TextEncoding b = first->Encode({"a red cube"});
  TextEncoding c = plain->Encode({"a red cube"});
  TextEncoding d = bare->Encode({"a red cube"});
  EXPECT_EQ(a.embedding.sizes(), (std::vector<int64_t>{1, 64, 32}));
  EXPECT_FALSE(torch::allclose(a.embedding, b.embedding));
  EXPECT_GT(a.mask.sum().item<int64_t>(), c.mask.sum().item<int64_t>() + 10);  // the markup
  EXPECT_GT(a.mask.sum().item<int64_t>(), d.mask.sum().item<int64_t>() + 5);   // the system line
  EXPECT_NE(last->CacheKey(), first->CacheKey());
  EXPECT_NE(last->CacheKey(), plain->CacheKey());
  EXPECT_NE(last->CacheKey(), bare->CacheKey());
  EXPECT_EQ(last->CacheKey(), plugin_->Load(Table("max_length = 64\n"))->CacheKey());
  EXPECT_EQ(last->Describe()["prompt_format"], "tokenizer_config.json chat_template");
  EXPECT_EQ(plain->Describe()["prompt_format"], "manifest template");
  EXPECT_EQ(first->Describe()["hidden_state_index"], 1);
  EXPECT_EQ(last->Describe()["tokenizer"]["kind"], "tokenizer.json");

  // The same numbers as the shared library's model on the ids of the rendered text.
  LlamaDecoder model = LoadLlamaDecoder(*dir_ / "llama");
  hf::HfTokenizer tokenizer = hf::HfTokenizer::Load(*dir_ / "llama");
  std::vector<int32_t> ids = tokenizer.Encode(
      "<s><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful language and vision "
      "assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\na red cube<|eot_id|>",
      false);
  const int64_t n = static_cast<int64_t>(ids.size());
  ASSERT_EQ(a.mask.sum().item<int64_t>(), n);
  at::Tensor input = torch::full({1, 64}, 2, torch::kLong);
  for (int64_t i = 0; i < n; ++i) input[0][i] = ids[i];
  torch::NoGradGuard no_grad;
  EXPECT_LT(testing::MaxAbsError(model->HiddenState(input, a.mask, -1), a.embedding), 1e-6);
  // A {prompt} template: BOS, then the text's ids.
  std::vector<int32_t> text = tokenizer.Encode("a red cube", false);
  EXPECT_EQ(c.mask.sum().item<int64_t>(), static_cast<int64_t>(text.size()) + 1);
}

// echo: the prompt is read twice, [system, user: prompt, assistant: prompt], and the states of the
// assistant's copy come out, moved to the front of the row. Every token of that copy has seen the
// whole prompt, which no token of a single reading has.
TEST_F(LlmPlugin, EchoReadsTheSecondCopyInWhichEveryTokenHasSeenThePrompt) {
  auto echo = plugin_->Load(Table("max_length = 64\necho = true\n"));
  auto plain = plugin_->Load(Table("max_length = 64\n"));
  const std::vector<std::string> prompts = {"a red cube moves left", "a red cube moves right"};
  TextEncoding e = echo->Encode(prompts);
  TextEncoding p = plain->Encode(prompts);
  EXPECT_EQ(e.embedding.sizes(), (std::vector<int64_t>{2, 64, 32}));
  EXPECT_EQ(echo->Describe()["echo"], true);
  EXPECT_NE(echo->CacheKey(), plain->CacheKey());

  // The same numbers as the model over the conversation rendered by hand, its copy cut out by
  // hand: the ids after the assistant's header, up to its end-of-turn.
  const std::string head =
      "<s><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful language and vision "
      "assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\na red cube moves "
      "left<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n";
  hf::HfTokenizer tokenizer = hf::HfTokenizer::Load(*dir_ / "llama");
  std::vector<int32_t> before = tokenizer.Encode(head, false);
  std::vector<int32_t> all = tokenizer.Encode(head + "a red cube moves left<|eot_id|>", false);
  ASSERT_EQ(std::vector<int32_t>(all.begin(), all.begin() + before.size()), before);
  const int64_t start = static_cast<int64_t>(before.size());
  const int64_t n = static_cast<int64_t>(all.size()) - 1 - start;  // less the end-of-turn
  ASSERT_GT(n, 3);
  ASSERT_EQ(e.mask[0].sum().item<int64_t>(), n);
  at::Tensor input = torch::tensor(std::vector<int64_t>(all.begin(), all.end() - 1)).unsqueeze(0);
  LlamaDecoder model = LoadLlamaDecoder(*dir_ / "llama");
  torch::NoGradGuard no_grad;
  at::Tensor states = model->HiddenState(input, torch::ones_like(input, torch::kBool), -1);
  EXPECT_LT(testing::MaxAbsError(states[0].narrow(0, start, n), e.embedding[0].narrow(0, 0, n)),
            1e-5);
  EXPECT_EQ(e.embedding[0].narrow(0, n, 64 - n).abs().max().item<float>(), 0.0f);

  // "left" and "right" come last: read once, every state before them is the same for both
  // prompts; in the copy, the first already differs.
  const int64_t shared =
      static_cast<int64_t>(tokenizer.Encode(head.substr(0, head.find("left")), false).size()) - 1;
  ASSERT_GT(shared, 20);
  EXPECT_LT(testing::MaxAbsError(p.embedding[0].narrow(0, 0, shared),
                                 p.embedding[1].narrow(0, 0, shared)),
            1e-6);
  EXPECT_GT((e.embedding[0][0] - e.embedding[1][0]).abs().max().item<float>(), 1e-3);

  // Cut at max_length: the first states are unchanged (nothing later reaches them), and counted.
  auto short_echo = plugin_->Load(Table("max_length = 3\necho = true\n"));
  TextEncoding cut = short_echo->Encode({prompts[0]});
  EXPECT_EQ(cut.mask.sum().item<int64_t>(), 3);
  EXPECT_LT(testing::MaxAbsError(cut.embedding[0], e.embedding[0].narrow(0, 0, 3)), 1e-5);
  EXPECT_EQ(short_echo->Describe()["prompts_truncated"], 1);
  // An empty prompt has no tokens of its own: it is read as the token before its place.
  TextEncoding empty = echo->Encode({""});
  EXPECT_EQ(empty.mask.sum().item<int64_t>(), 1);
  EXPECT_TRUE(torch::isfinite(empty.embedding).all().item<bool>());

  // A folder without a chat template has no assistant's turn to repeat the prompt in.
  TempDir dir;
  std::filesystem::copy(*dir_ / "llama", dir / "plain");
  nlohmann::json config = nlohmann::json::parse(ReadFile(dir / "plain" / "tokenizer_config.json"));
  config.erase("chat_template");
  WriteFileAtomic(dir / "plain" / "tokenizer_config.json", config.dump());
  auto no_chat =
      plugin_->Construct(fmt::format("path = \"{}\"\necho = true\n", (dir / "plain").string()));
  EXPECT_THROW_WITH(no_chat->Load(), InputError, "echo", "needs a chat template",
                    (dir / "plain").string());
}

TEST_F(LlmPlugin, OptionProblemsAtConstructionModelProblemsAtLoad) {
  EXPECT_THROW_WITH(
      plugin_->Construct(Table("template = \"no slot\"\nmax_length = 0\nadd_bos = 1\n")),
      ValidationError, "template", "{prompt} exactly once", "max_length", "add_bos");
  // Options of the other kind of format would be ignored: refused instead.
  EXPECT_THROW_WITH(plugin_->Construct(Table("template = \"{prompt}\"\nchat_template = \"x\"\n")),
                    ValidationError, "either `template`");
  EXPECT_THROW_WITH(plugin_->Construct(Table("template = \"{prompt}\"\nsystem_prompt = \"s\"\n")),
                    ValidationError, "apply to chat templates");
  EXPECT_THROW_WITH(plugin_->Construct(Table("chat_template = \"x\"\nadd_bos = false\n")),
                    ValidationError, "add_bos", "writes BOS itself");
  EXPECT_THROW_WITH(plugin_->Construct(Table("echo = true\ntemplate = \"{prompt}\"\n")),
                    ValidationError, "echo", "needs a chat template");
  EXPECT_THROW_WITH(plugin_->Construct(Table("echo = true\nadd_generation_prompt = true\n")),
                    ValidationError, "add_generation_prompt", "with echo");
  EXPECT_THROW_WITH(plugin_->Construct(Table("echo = \"yes\"\n")), ValidationError, "echo",
                    "true or false");
  // Known only at Load: the folder has a chat template.
  EXPECT_THROW_WITH(plugin_->Construct(Table("add_bos = false\n"))->Load(), InputError,
                    "add_bos applies to {prompt} templates", "tokenizer_config.json");
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

// Llama 3 / Qwen2 style folders ship only tokenizer.json: they load like any other.
TEST_F(LlmPlugin, AFolderWithOnlyTokenizerJsonLoads) {
  TempDir dir;
  std::filesystem::copy(*dir_ / "llama", dir / "llama3");
  std::filesystem::remove(dir / "llama3" / "tokenizer.model");
  auto only_json = plugin_->Load(fmt::format("path = \"{}\"\n", (dir / "llama3").string()));
  auto both = plugin_->Load(Table());
  TextEncoding a = only_json->Encode({"a red cube moves left"});
  TextEncoding b = both->Encode({"a red cube moves left"});
  EXPECT_TRUE(torch::equal(a.embedding, b.embedding));
  EXPECT_TRUE(torch::equal(a.mask, b.mask));
  // A tokenizer.json that is not one names the file and the JSON path.
  WriteFileAtomic(dir / "llama3" / "tokenizer.json", "{}");
  auto broken = plugin_->Construct(fmt::format("path = \"{}\"\n", (dir / "llama3").string()));
  EXPECT_THROW_WITH(broken->Load(), InputError, "tokenizer.json", "model");
  std::filesystem::remove(dir / "llama3" / "tokenizer.json");
  EXPECT_THROW_WITH(
      plugin_->Construct(fmt::format("path = \"{}\"\n", (dir / "llama3").string()))->Load(),
      InputError, "no tokenizer");
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
  // The encoder built from the same table reads prompts in the format the decoder learned.
  auto encoder =
      plugin_->Load(fmt::format("path = \"{}\"\n{}", (dir / "trained").string(), encoder_table));
  nlohmann::json record = TrainingRecord(dir / "trained");
  EXPECT_EQ(record["prompt_format"], encoder->Describe()["prompt_format"]);
  EXPECT_EQ(record["prompt_format"], "manifest template");
  EXPECT_EQ(record["max_length"], 80);  // max(64, the encoder's max_length)
  EXPECT_EQ(record["steps"], 4);
  EXPECT_EQ(record["rewrite_pairs"], 0);
  EXPECT_EQ(record["repeat_conversations"], 0);
  EXPECT_EQ(facts["repeat_conversations"], 0);

  // train_repeat: every caption is also a repeating conversation.
  nlohmann::json repeating = plugin_->MakeModel(
      "vocab_size = 160\nd_model = 32\ntrain_steps = 2\ntrain_batch_size = 8\n"
      "train_repeat = true\n",
      dir / "repeating", encoder_table);
  EXPECT_EQ(repeating["repeat_conversations"], 400);
  EXPECT_GT(repeating["repeat_loss_before"].get<double>(), 0);
  EXPECT_EQ(TrainingRecord(dir / "repeating")["repeat_conversations"], 400);

  // Without a template both use the folder's chat template; training takes at least 64 tokens.
  plugin_->MakeModel("vocab_size = 160\nd_model = 32\ntrain_steps = 1\n", dir / "default",
                     "max_length = 32\n");
  auto by_default = plugin_->Load(fmt::format("path = \"{}\"\n", (dir / "default").string()));
  record = TrainingRecord(dir / "default");
  EXPECT_EQ(record["prompt_format"], by_default->Describe()["prompt_format"]);
  EXPECT_EQ(record["prompt_format"], "tokenizer_config.json chat_template");
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
  // The prompt format is part of what is made.
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

TEST_F(LlmPlugin, TokenizerServesTheFolder) {
  PluginContext context;
  context.options = Options::ParseString(Table(), "tokenize");
  std::shared_ptr<TextTokenizer> tokenizer = plugin_->registry().MakeTextTokenizer("llm", context);
  tokenizer->Load();
  hf::HfTokenizer reference = hf::HfTokenizer::Load(*dir_ / "llama");
  std::vector<int32_t> expected = reference.Encode("a red cube", true);
  EXPECT_EQ(tokenizer->Encode("a red cube", true),
            std::vector<int64_t>(expected.begin(), expected.end()));
  EXPECT_EQ(tokenizer->Encode("a red cube", false).size(), expected.size() - 1);
  EXPECT_EQ(tokenizer->Decode(tokenizer->Encode("a red cube", true), true), "a red cube");
  EXPECT_EQ(tokenizer->Describe()["kind"], "tokenizer.json");
}

// A tiny LLM trained on (short -> detailed) pairs rewrites: deterministic for its options, stops
// at a stop token or its budget, and every option that shapes the text is in its cache key.
TEST_F(LlmPlugin, MakerTrainsRewritingAndTheRewriterGenerates) {
  TempDir dir;
  nlohmann::json facts = plugin_->MakeModel(
      "vocab_size = 160\nd_model = 32\ntrain_steps = 60\ntrain_batch_size = 16\n"
      "train_rewrite = true\n",
      dir / "rewriter", "max_length = 64\n");
  EXPECT_EQ(facts["rewrite_pairs"], 400);
  EXPECT_LT(facts["rewrite_loss_after"].get<double>(), facts["rewrite_loss_before"].get<double>());
  auto make = [&](const std::string& more) {
    PluginContext context;
    context.options = Options::ParseString(
        fmt::format("path = \"{}\"\n{}", (dir / "rewriter").string(), more), "rewrite");
    std::shared_ptr<PromptRewriter> r = plugin_->registry().MakePromptRewriter("llm", context);
    r->Load();
    return r;
  };
  auto greedy = make("max_new_tokens = 40\n");
  RewriteResult a = greedy->Rewrite("a red cube moves left");
  EXPECT_FALSE(a.text.empty());
  EXPECT_GT(a.prompt_tokens, 10);
  EXPECT_GE(a.new_tokens, 1);
  EXPECT_LE(a.new_tokens, 40);
  EXPECT_EQ(greedy->Rewrite("a red cube moves left").text, a.text);
  EXPECT_EQ(a.text.find("<|eot_id|>"), std::string::npos);  // special tokens are not text
  // The budget.
  RewriteResult one = make("max_new_tokens = 1\n")->Rewrite("a red cube moves left");
  EXPECT_EQ(one.new_tokens, 1);
  // Sampling: the seed decides.
  auto s1 = make("temperature = 1.0\ntop_p = 0.9\nseed = 1\nmax_new_tokens = 30\n");
  auto s1b = make("temperature = 1.0\ntop_p = 0.9\nseed = 1\nmax_new_tokens = 30\n");
  EXPECT_EQ(s1->Rewrite("a blue cone").text, s1b->Rewrite("a blue cone").text);
  EXPECT_EQ(s1->CacheKey(), s1b->CacheKey());
  EXPECT_NE(s1->CacheKey(), greedy->CacheKey());
  EXPECT_NE(make("seed = 2\ntemperature = 1.0\n")->CacheKey(),
            make("seed = 3\ntemperature = 1.0\n")->CacheKey());
  // Stop tokens must be tokens of the vocabulary.
  EXPECT_THROW_WITH(make("stop_tokens = [\"no such token\"]\n"), InputError, "no such token",
                    "not one token");
  EXPECT_NO_THROW(make("stop_tokens = [\"<|eot_id|>\"]\n"));
  // Options are checked at construction.
  PluginContext bad;
  bad.options = Options::ParseString("path = \"x\"\ntop_p = 0.0\ntemperature = -1.0\n", "r");
  EXPECT_THROW_WITH(plugin_->registry().MakePromptRewriter("llm", bad), ValidationError, "top_p",
                    "temperature");
  // Without a chat template there is nothing to rewrite with.
  std::filesystem::copy(dir / "rewriter", dir / "plain");
  nlohmann::json config = nlohmann::json::parse(ReadFile(dir / "plain" / "tokenizer_config.json"));
  config.erase("chat_template");
  WriteFileAtomic(dir / "plain" / "tokenizer_config.json", config.dump());
  PluginContext context;
  context.options =
      Options::ParseString(fmt::format("path = \"{}\"\n", (dir / "plain").string()), "r");
  EXPECT_THROW_WITH(plugin_->registry().MakePromptRewriter("llm", context)->Load(), InputError,
                    "no chat template");
}

}  // namespace
}  // namespace modelgrow
