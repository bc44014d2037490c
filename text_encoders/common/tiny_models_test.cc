// The tiny models the toolkit makes itself: one options table with one reader and one set of
// bounds, valid Hugging Face folders, deterministic for a seed, loaded through the same code as
// real ones; the tiny LLM learns the corpus.
#include <algorithm>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/hf_folder.h"
#include "common/llama_decoder.h"
#include "common/llm_prompt.h"
#include "common/llm_rewriter.h"
#include "common/llm_trainer.h"
#include "common/prompt_template.h"
#include "common/t5_encoder.h"
#include "common/tiny_model_options.h"
#include "common/tiny_models.h"
#include "common/tokenizer.h"
#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/sdk/options.h"
#include "modelgrow/sdk/safetensors.h"
#include "test_util.h"
#include "text/caption_corpus.h"

namespace modelgrow {
namespace {

using testing::TempDir;

TinyModelOptions Tiny(const std::string& type) {
  TinyModelOptions o;
  o.type = type;
  o.vocab_size = 160;
  o.d_model = 32;
  o.layers = 2;
  o.heads = 4;
  o.seed = 7;
  return o;
}

// The problems recorded on a document, as "key.path: message" lines.
std::vector<std::string> ProblemsOf(const Options& table) {
  std::vector<std::string> out;
  for (const Problem& p : table.TakeProblems()) out.push_back(p.key_path + ": " + p.message);
  return out;
}

bool HasProblem(const std::vector<std::string>& problems, const std::string& key_path,
                const std::string& words = "") {
  return std::any_of(problems.begin(), problems.end(), [&](const std::string& p) {
    return p.rfind(key_path + ": ", 0) == 0 && p.find(words) != std::string::npos;
  });
}

TEST(TinyModelOptions, DefaultsAreTheManifestsDefaults) {
  Options empty = Options::Empty();
  TinyModelOptions t5 = TinyModelOptions::Read(empty, TinyModelFamily::kT5);
  TinyModelOptions llm = TinyModelOptions::Read(empty, TinyModelFamily::kDecoder);
  EXPECT_FALSE(empty.HasProblems());
  EXPECT_EQ(t5.type, "t5");
  EXPECT_EQ(llm.type, "llama");
  for (const TinyModelOptions& o : {t5, llm}) {
    EXPECT_EQ(o.vocab_size, 256);
    EXPECT_EQ(o.tokenizer_type, "bpe");
    EXPECT_EQ(o.d_model, 64);
    EXPECT_EQ(o.layers, 2);
    EXPECT_EQ(o.heads, 4);
    EXPECT_EQ(o.kv_heads, 0);
    EXPECT_EQ(o.d_ff, 0);
    EXPECT_EQ(o.seed, 0u);
    EXPECT_EQ(o.train_steps, 0);
    EXPECT_DOUBLE_EQ(o.train_lr, 3e-3);
    EXPECT_EQ(o.train_batch_size, 32);
    EXPECT_FALSE(o.train_rewrite);
    EXPECT_FALSE(o.train_repeat);
  }
  // kv_heads = 0: half the heads when even, else all of them.
  EXPECT_EQ(llm.ResolvedKvHeads(), 2);
  TinyModelOptions odd = llm;
  odd.heads = 3;
  odd.d_model = 48;
  EXPECT_EQ(odd.ResolvedKvHeads(), 3);
  odd.kv_heads = 1;
  EXPECT_EQ(odd.ResolvedKvHeads(), 1);
}

TEST(TinyModelOptions, ReadsEveryKeyOfItsFamily) {
  Options llm = Options::ParseString(
      "type = \"qwen2\"\nvocab_size = 300\ntokenizer_type = \"unigram\"\nd_model = 48\n"
      "layers = 3\nheads = 6\nkv_heads = 3\nd_ff = 100\nseed = 9\ntrain_steps = 5\n"
      "train_lr = 0.01\ntrain_batch_size = 8\ntrain_rewrite = true\ntrain_repeat = true\n",
      "make.toml");
  TinyModelOptions o = TinyModelOptions::Read(llm, TinyModelFamily::kDecoder);
  llm.RejectUnknownKeys();
  EXPECT_EQ(ProblemsOf(llm), std::vector<std::string>{});
  EXPECT_EQ(o.type, "qwen2");
  EXPECT_EQ(o.vocab_size, 300);
  EXPECT_EQ(o.tokenizer_type, "unigram");
  EXPECT_EQ(o.d_model, 48);
  EXPECT_EQ(o.layers, 3);
  EXPECT_EQ(o.heads, 6);
  EXPECT_EQ(o.kv_heads, 3);
  EXPECT_EQ(o.d_ff, 100);
  EXPECT_EQ(o.seed, 9u);
  EXPECT_EQ(o.train_steps, 5);
  EXPECT_DOUBLE_EQ(o.train_lr, 0.01);
  EXPECT_EQ(o.train_batch_size, 8);
  EXPECT_TRUE(o.train_rewrite);
  EXPECT_TRUE(o.train_repeat);

  // The t5 plugin makes T5: `type`, kv_heads and the training keys are not its keys.
  Options t5 = Options::ParseString(
      "type = \"t5\"\nkv_heads = 2\ntrain_steps = 5\ntrain_lr = 0.1\ntrain_batch_size = 2\n"
      "train_repeat = true\nd_ff = 96\n",
      "make.toml");
  TinyModelOptions made = TinyModelOptions::Read(t5, TinyModelFamily::kT5);
  t5.RejectUnknownKeys();
  std::vector<std::string> problems = ProblemsOf(t5);
  EXPECT_EQ(problems.size(), 6u) << ::testing::PrintToString(problems);
  for (const char* key :
       {"type", "kv_heads", "train_steps", "train_lr", "train_batch_size", "train_repeat"}) {
    EXPECT_TRUE(HasProblem(problems, key, "unknown key")) << key;
  }
  EXPECT_EQ(made.type, "t5");
  EXPECT_EQ(made.d_ff, 96);
}

TEST(TinyModelOptions, ABadTableReportsEveryProblemAtOnceWithItsKeyPath) {
  Options doc = Options::ParseString(
      "[text.llm.make]\ntype = \"bert\"\nvocab_size = 4\ntokenizer_type = \"wordpiece\"\n"
      "d_model = 30\nheads = 4\ntrain_lr = 0.0\ntrain_batch_size = 0\nlayers = 0\n",
      "exp.toml");
  Options table = doc.AtPath("text.llm.make");
  TinyModelOptions::Read(table, TinyModelFamily::kDecoder);
  std::vector<std::string> problems = ProblemsOf(doc);
  EXPECT_EQ(problems.size(), 7u) << ::testing::PrintToString(problems);
  for (const char* key : {"type", "vocab_size", "tokenizer_type", "heads", "train_lr",
                          "train_batch_size", "layers"}) {
    EXPECT_TRUE(HasProblem(problems, std::string("text.llm.make.") + key)) << key;
  }
  EXPECT_TRUE(HasProblem(problems, "text.llm.make.heads", "heads 4 does not divide d_model 30"));
}

TEST(TinyModelOptions, HeadSizesAreCheckedWhenTheTableIsRead) {
  // A decoder's head size must be even (rotary embeddings); T5 has no such rule.
  Options odd = Options::ParseString("d_model = 20\nheads = 4\n", "make.toml");
  TinyModelOptions::Read(odd, TinyModelFamily::kDecoder);
  EXPECT_TRUE(HasProblem(ProblemsOf(odd), "heads", "d_model / heads = 5 must be even"));
  Options t5 = Options::ParseString("d_model = 20\nheads = 4\n", "make.toml");
  TinyModelOptions::Read(t5, TinyModelFamily::kT5);
  EXPECT_FALSE(t5.HasProblems());
  Options kv = Options::ParseString("heads = 4\nkv_heads = 3\n", "make.toml");
  TinyModelOptions::Read(kv, TinyModelFamily::kDecoder);
  EXPECT_TRUE(HasProblem(ProblemsOf(kv), "kv_heads", "kv_heads 3 does not divide heads 4"));
  // Options built in code meet the same bounds.
  TinyModelOptions o = Tiny("llama");
  o.vocab_size = 16;
  o.heads = 3;
  EXPECT_THROW_WITH(o.Validate(), InputError, "vocab_size: 16 is out of range",
                    "heads: heads 3 does not divide d_model 32");
  o = Tiny("t5");
  o.train_steps = 10;
  EXPECT_THROW_WITH(o.Validate(), InputError, "train_steps", "a tiny T5 stays random");
  // Rewriting and repeating are learned by training.
  Options untrained = Options::ParseString("train_rewrite = true\ntrain_repeat = true\n", "m");
  TinyModelOptions::Read(untrained, TinyModelFamily::kDecoder);
  std::vector<std::string> problems = ProblemsOf(untrained);
  EXPECT_TRUE(HasProblem(problems, "train_rewrite", "needs train_steps > 0"));
  EXPECT_TRUE(HasProblem(problems, "train_repeat", "needs train_steps > 0"));
}

TEST(TinyModels, CorpusLinesAreWhatACorpusFileHolds) {
  EXPECT_EQ(CorpusLines({"a red cube", "  ", "two\nlines\r", "", "tab\tinside"}),
            (std::vector<std::string>{"a red cube", "two", "lines", "tab\tinside"}));
  EXPECT_THROW_WITH(CorpusLines({" \t", "\n"}), InputError, "holds no caption");
}

TEST(TinyModels, T5FolderIsAHuggingFaceFolderTheLoaderReads) {
  TempDir dir;
  TinyModelFacts facts = MakeTinyModel(Tiny("t5"), testing::CaptionCorpus(), dir / "t5");
  for (const char* f : {"config.json", "model.safetensors", "spiece.model", "tokenizer.json",
                        "tokenizer_config.json", "special_tokens_map.json"}) {
    EXPECT_TRUE(std::filesystem::exists(dir / "t5" / f)) << f;
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "t5.staging"));
  EXPECT_EQ(facts.captions, 400);
  EXPECT_EQ(facts.ToJson()["vocab_size"], facts.vocab_size);
  HfConfig hf = HfConfig::Read(dir / "t5");
  EXPECT_EQ(hf.model_type(), "t5");
  EXPECT_EQ(hf.json()["architectures"][0], "T5EncoderModel");
  EXPECT_EQ(hf.Int("vocab_size"), facts.vocab_size);
  EXPECT_EQ(hf.String("feed_forward_proj", ""), "gated-gelu");
  EXPECT_EQ(hf.json()["modelgrow"]["corpus_lines"], 400);
  EXPECT_EQ(SafetensorsFile::Open(dir / "t5" / "model.safetensors").metadata().at("format"), "pt");
  EXPECT_TRUE(SafetensorsFile::Open(dir / "t5" / "model.safetensors")
                  .Has("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"));

  T5Encoder model = LoadT5Encoder(dir / "t5");
  SentencePieceTokenizer tokenizer = SentencePieceTokenizer::Load(dir / "t5" / "spiece.model");
  EXPECT_EQ(tokenizer.vocab_size(), facts.vocab_size);
  EXPECT_EQ(tokenizer.eos_id(), 1);
  TokenizedBatch b = TokenizeBatch(tokenizer, {"a red cube moves left"}, {.max_length = 16});
  torch::NoGradGuard no_grad;
  at::Tensor out = model->forward(b.ids, b.mask);
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{1, 16, 32}));
  EXPECT_TRUE(out.isfinite().all().item<bool>());
  // Hugging Face's initialisation: the embedding has unit scale.
  EXPECT_NEAR(model->shared->weight.std().item<double>(), 1.0, 0.1);
}

TEST(TinyModels, SameSeedSameBytesOtherSeedOtherWeights) {
  TempDir dir;
  TinyModelOptions o = Tiny("llama");
  std::vector<std::string> captions = testing::CaptionCorpus();
  MakeTinyModel(o, captions, dir / "a");
  MakeTinyModel(o, captions, dir / "b");
  o.seed = 8;
  MakeTinyModel(o, captions, dir / "c");
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.model", "tokenizer.json",
                        "tokenizer_config.json"}) {
    EXPECT_EQ(ReadFile(dir / "a" / f), ReadFile(dir / "b" / f)) << f;
  }
  EXPECT_NE(ReadFile(dir / "a" / "model.safetensors"), ReadFile(dir / "c" / "model.safetensors"));
  // Writing again replaces the folder whole.
  MakeTinyModel(o, captions, dir / "a");
  EXPECT_EQ(ReadFile(dir / "a" / "model.safetensors"), ReadFile(dir / "c" / "model.safetensors"));
}

TEST(TinyModels, LlamaAndQwen2FoldersLoadWithTheirLayouts) {
  TempDir dir;
  std::vector<std::string> captions = testing::CaptionCorpus();
  MakeTinyModel(Tiny("llama"), captions, dir / "llama");
  MakeTinyModel(Tiny("qwen2"), captions, dir / "qwen2");
  HfConfig hf = HfConfig::Read(dir / "llama");
  EXPECT_EQ(hf.json()["architectures"][0], "LlamaForCausalLM");
  EXPECT_EQ(hf.Int("num_key_value_heads"), 2);  // kv_heads 0: half of 4 heads
  EXPECT_EQ(HfConfig::Read(dir / "qwen2").json()["architectures"][0], "Qwen2ForCausalLM");
  EXPECT_TRUE(SafetensorsFile::Open(dir / "qwen2" / "model.safetensors")
                  .Has("model.layers.1.self_attn.q_proj.bias"));
  EXPECT_TRUE(SafetensorsFile::Open(dir / "llama" / "model.safetensors").Has("lm_head.weight"));
  SentencePieceTokenizer tokenizer =
      SentencePieceTokenizer::Load(dir / "llama" / "tokenizer.model");
  EXPECT_EQ(tokenizer.bos_id(), 1);
  EXPECT_GE(tokenizer.PieceToId("<|eot_id|>"), 0);
  // Generation ends at EOS and at the end of a chat turn, as for Llama 3 Instruct.
  nlohmann::json generation =
      nlohmann::json::parse(ReadFile(dir / "llama" / "generation_config.json"));
  EXPECT_EQ(generation["eos_token_id"],
            nlohmann::json({tokenizer.eos_id(), tokenizer.PieceToId("<|eot_id|>")}));
  for (const char* name : {"llama", "qwen2"}) {
    LlamaDecoder model = LoadLlamaDecoder(dir / name);
    TokenizedBatch b = TokenizeBatch(tokenizer, {ApplyTemplate(kDefaultLlmTemplate, "a blue cone")},
                                     {.max_length = 96, .add_bos = true, .add_eos = false});
    EXPECT_EQ(b.truncated, 0);
    EXPECT_FALSE(b.ids.eq(tokenizer.unk_id()).logical_and(b.mask).any().item<bool>());
    torch::NoGradGuard no_grad;
    EXPECT_EQ(model->HiddenState(b.ids, b.mask, -1).sizes(), (std::vector<int64_t>{1, 96, 32}));
  }
}

TEST(TinyModels, BadOptionsOrCaptionsWriteNothing) {
  TempDir dir;
  TinyModelOptions o = Tiny("gpt2");
  EXPECT_THROW_WITH(MakeTinyModel(o, testing::CaptionCorpus(), dir / "x"), InputError,
                    "type: 'gpt2'");
  o = Tiny("llama");
  o.heads = 3;
  EXPECT_THROW_WITH(MakeTinyModel(o, testing::CaptionCorpus(), dir / "x"), InputError,
                    "heads 3 does not divide d_model 32");
  EXPECT_THROW_WITH(MakeTinyModel(Tiny("t5"), {"", "  "}, dir / "x"), InputError,
                    "holds no caption");
  EXPECT_FALSE(std::filesystem::exists(dir / "x"));
  EXPECT_FALSE(std::filesystem::exists(dir / "x.staging"));
}

LlmTrainOptions Training(const TempDir& dir) {
  LlmTrainOptions o;
  o.model = dir / "llama";
  o.out = dir / "trained";
  o.steps = 120;
  o.lr = 1e-2;
  o.batch_size = 16;
  o.log_every = 40;
  return o;
}

TEST(TinyModels, TrainedLlmLearnsTheCorpus) {
  TempDir dir;
  std::vector<std::string> captions = testing::CaptionCorpus();
  MakeTinyModel(Tiny("llama"), captions, dir / "llama");
  LlmTrainOptions o = Training(dir);
  std::ostringstream progress;
  LlmTrainReport report = TrainTinyLlm(o, captions, {}, progress);
  EXPECT_GT(report.loss_before, 4.0);  // about ln(vocab) for an untrained model
  EXPECT_LT(report.loss_after, 0.5 * report.loss_before) << progress.str();
  // One progress line per 40 steps, with loss, rate and ETA.
  std::string text = progress.str();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 3) << text;
  EXPECT_NE(text.find("step 120/120"), std::string::npos) << text;
  EXPECT_NE(text.find("steps/s"), std::string::npos);
  EXPECT_NE(text.find("ETA"), std::string::npos);

  // The trained folder is complete and loads; its record says what happened.
  HfConfig hf = HfConfig::Read(o.out);
  const nlohmann::json& record = hf.json()["modelgrow"]["training"];
  EXPECT_DOUBLE_EQ(record["loss_after"].get<double>(), report.loss_after);
  EXPECT_EQ(record["prompt_format"], "tokenizer_config.json chat_template");
  EXPECT_EQ(record["corpus_lines"], 400);
  EXPECT_TRUE(std::filesystem::exists(o.out / "tokenizer.model"));
  EXPECT_EQ(ReadFile(o.out / "tokenizer.model"), ReadFile(dir / "llama" / "tokenizer.model"));
  LlamaDecoder trained = LoadLlamaDecoder(o.out, true);
  LlamaDecoder untrained = LoadLlamaDecoder(dir / "llama", true);
  EXPECT_FALSE(torch::equal(trained->embed_tokens->weight, untrained->embed_tokens->weight));

  // Deterministic: the same run gives the same bytes, whatever the caller's grad mode (a host
  // may make encoders lazily, inside a no-grad scope).
  o.out = dir / "again";
  std::ostringstream quiet;
  torch::NoGradGuard callers_no_grad;
  EXPECT_DOUBLE_EQ(TrainTinyLlm(o, captions, {}, quiet).loss_after, report.loss_after);
  EXPECT_EQ(ReadFile(dir / "again" / "model.safetensors"),
            ReadFile(dir / "trained" / "model.safetensors"));
}

// What a folder answers to the repeating instruction (greedy).
std::string Repeated(const std::filesystem::path& folder, const std::string& caption) {
  PluginContext context;
  context.options = Options::ParseString(
      fmt::format("path = \"{}\"\nsystem_prompt = \"{}\"\nmax_new_tokens = 32\n", folder.string(),
                  kRepeatSystemPrompt),
      "repeat");
  LlmRewriter rewriter(context);
  rewriter.Load();
  return rewriter.Rewrite(caption).text;
}

// A model trained to repeat carries the colour and the motion of captions it never saw into its
// answer: it keeps a colour apart from the other colours, which next-token training on this
// corpus never asks (each caption names its colour once, and nothing before it predicts it). At
// this size and length it does not yet keep the five shapes apart (it answers one shape for all),
// so only colour and motion are checked.
TEST(TinyModels, RepeatingCarriesTheColourAndMotionOfUnseenCaptions) {
  TempDir dir;
  std::vector<std::string> captions = testing::CaptionCorpus();
  MakeTinyModel(Tiny("llama"), captions, dir / "llama");
  LlmTrainOptions o = Training(dir);
  o.steps = 300;
  std::ostringstream progress;
  LlmTrainReport plain = TrainTinyLlm(o, captions, {}, progress);
  EXPECT_EQ(plain.repeat_conversations, 0);
  EXPECT_EQ(plain.repeat_loss_after, 0);
  o.out = dir / "repeating";
  o.repeat = true;
  LlmTrainReport repeating = TrainTinyLlm(o, captions, {}, progress);
  EXPECT_EQ(repeating.repeat_conversations, 400);
  EXPECT_LT(repeating.repeat_loss_after, 0.25 * repeating.repeat_loss_before);
  HfConfig hf = HfConfig::Read(o.out);
  const nlohmann::json& record = hf.json()["modelgrow"]["training"];
  EXPECT_EQ(record["repeat_conversations"], 400);
  EXPECT_DOUBLE_EQ(record["repeat_loss_after"].get<double>(), repeating.repeat_loss_after);

  struct Unseen {
    std::string caption, color, motion;
  };
  int kept_untaught = 0;
  for (const Unseen& u : std::vector<Unseen>{
           {"a yellow pyramid moves right near a tall wall", "yellow", "moves right"},
           {"a blue sphere rolls forward", "blue", "rolls forward"},
           {"a black cone spins slowly under a bright light", "black", "spins slowly"},
           {"a white cylinder bounces up and down in a dark room", "white",
            "bounces up and down"}}) {
    ASSERT_EQ(std::count(captions.begin(), captions.end(), u.caption), 0) << u.caption;
    auto keeps = [&](const std::string& answer) {
      return answer.rfind("a " + u.color + " ", 0) == 0 && answer.find(u.motion) != answer.npos;
    };
    std::string answer = Repeated(o.out, u.caption);
    kept_untaught += keeps(Repeated(dir / "trained", u.caption));
    EXPECT_TRUE(keeps(answer)) << u.caption << " -> " << answer;
  }
  EXPECT_EQ(kept_untaught, 0);
}

TEST(TinyModels, TrainerProgressUpdatesOneLineOnATerminal) {
  TempDir dir;
  std::vector<std::string> captions = testing::CaptionCorpus();
  MakeTinyModel(Tiny("qwen2"), captions, dir / "llama");
  LlmTrainOptions o = Training(dir);
  o.steps = 3;
  std::ostringstream progress;
  TrainTinyLlm(o, captions, {}, progress, /*progress_is_terminal=*/true);
  std::string text = progress.str();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\r'), 3) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
  EXPECT_TRUE(std::filesystem::exists(o.out / "model.safetensors"));
}

TEST(TinyModels, TrainerRejectsBadInput) {
  TempDir dir;
  std::vector<std::string> captions = testing::CaptionCorpus();
  LlmTrainOptions o = Training(dir);
  o.model = dir / "nope";
  std::ostringstream progress;
  EXPECT_THROW_WITH(TrainTinyLlm(o, captions, {}, progress), InputError, "nope", "does not exist");
  MakeTinyModel(Tiny("t5"), captions, dir / "t5");
  o.model = dir / "t5";
  EXPECT_THROW_WITH(TrainTinyLlm(o, captions, {}, progress), InputError, "model_type", "'t5'");
  MakeTinyModel(Tiny("llama"), captions, dir / "llama");
  o.model = dir / "llama";
  o.prompt.text_template = "no slot";
  EXPECT_THROW_WITH(TrainTinyLlm(o, captions, {}, progress), InputError, "{prompt} exactly once");
  EXPECT_FALSE(std::filesystem::exists(o.out));
  // Rewriting needs the chat template the tiny folders carry.
  o.prompt.text_template = "";
  o.prompt.chat_template = "{{ messages[0]['content'] }}";
  o.steps = 1;
  EXPECT_NO_THROW(TrainTinyLlm(o, captions, testing::CaptionPairs(8), progress));
  // ... and so does repeating: a folder without one says so.
  std::filesystem::copy(dir / "llama", dir / "plain");
  nlohmann::json config = nlohmann::json::parse(ReadFile(dir / "plain" / "tokenizer_config.json"));
  config.erase("chat_template");
  WriteFileAtomic(dir / "plain" / "tokenizer_config.json", config.dump());
  o.model = dir / "plain";
  o.prompt = {};
  o.prompt.text_template = "{prompt}";
  o.out = dir / "repeating";
  o.repeat = true;
  EXPECT_THROW_WITH(TrainTinyLlm(o, captions, {}, progress), InputError, "plain",
                    "no chat template", "repeating");
  EXPECT_FALSE(std::filesystem::exists(dir / "repeating"));
  EXPECT_FALSE(std::filesystem::exists(dir / "nope"));
}

}  // namespace
}  // namespace modelgrow
