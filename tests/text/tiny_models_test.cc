// The tiny encoders the toolkit makes itself: valid Hugging Face folders, deterministic for a
// seed, loaded through the same code as real ones; the tiny LLM learns the corpus.
#include <sstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "caption_corpus.h"
#include "modelgrow/base/options.h"
#include "modelgrow/io/atomic_file.h"
#include "modelgrow/io/safetensors.h"
#include "modelgrow/text/chat_template.h"
#include "modelgrow/text/hf_folder.h"
#include "modelgrow/text/llama_decoder.h"
#include "modelgrow/text/llm_trainer.h"
#include "modelgrow/text/t5_encoder.h"
#include "modelgrow/text/tiny_models.h"
#include "modelgrow/text/tokenizer.h"
#include "test_util.h"

namespace modelgrow {
namespace {

using testing::TempDir;

TinyEncoderOptions Tiny(const std::string& type, const TempDir& dir, const std::string& name) {
  TinyEncoderOptions o;
  o.type = type;
  o.corpus = testing::WriteCorpus(dir / "corpus.txt");
  o.out = dir / name;
  o.vocab_size = 160;
  o.d_model = 32;
  o.layers = 2;
  o.heads = 4;
  o.kv_heads = 2;
  o.seed = 7;
  return o;
}

TEST(TinyModels, T5FolderIsAHuggingFaceFolderTheLoaderReads) {
  TempDir dir;
  TinyEncoderResult r = MakeTinyEncoder(Tiny("t5", dir, "t5"));
  for (const char* f :
       {"config.json", "model.safetensors", "spiece.model", "tokenizer_config.json"}) {
    EXPECT_TRUE(std::filesystem::exists(r.folder / f)) << f;
  }
  HfConfig hf = HfConfig::Read(r.folder);
  EXPECT_EQ(hf.model_type(), "t5");
  EXPECT_EQ(hf.json()["architectures"][0], "T5EncoderModel");
  EXPECT_EQ(hf.Int("vocab_size"), r.vocab_size);
  EXPECT_EQ(hf.String("feed_forward_proj", ""), "gated-gelu");
  EXPECT_EQ(SafetensorsFile::Open(r.folder / "model.safetensors").metadata().at("format"), "pt");
  EXPECT_TRUE(SafetensorsFile::Open(r.folder / "model.safetensors")
                  .Has("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"));

  T5Encoder model = LoadT5Encoder(r.folder);
  SentencePieceTokenizer tokenizer = SentencePieceTokenizer::Load(r.folder / "spiece.model");
  EXPECT_EQ(tokenizer.vocab_size(), r.vocab_size);
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
  TinyEncoderOptions o = Tiny("llama", dir, "a");
  MakeTinyEncoder(o);
  o.out = dir / "b";
  MakeTinyEncoder(o);
  o.out = dir / "c";
  o.seed = 8;
  MakeTinyEncoder(o);
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.model"}) {
    EXPECT_EQ(ReadFile(dir / "a" / f), ReadFile(dir / "b" / f)) << f;
  }
  EXPECT_NE(ReadFile(dir / "a" / "model.safetensors"), ReadFile(dir / "c" / "model.safetensors"));
}

TEST(TinyModels, LlamaAndQwen2FoldersLoadWithTheirLayouts) {
  TempDir dir;
  TinyEncoderResult llama = MakeTinyEncoder(Tiny("llama", dir, "llama"));
  TinyEncoderResult qwen = MakeTinyEncoder(Tiny("qwen2", dir, "qwen2"));
  HfConfig hf = HfConfig::Read(llama.folder);
  EXPECT_EQ(hf.json()["architectures"][0], "LlamaForCausalLM");
  EXPECT_EQ(hf.Int("num_key_value_heads"), 2);
  EXPECT_EQ(HfConfig::Read(qwen.folder).json()["architectures"][0], "Qwen2ForCausalLM");
  EXPECT_TRUE(SafetensorsFile::Open(qwen.folder / "model.safetensors")
                  .Has("model.layers.1.self_attn.q_proj.bias"));
  EXPECT_TRUE(SafetensorsFile::Open(llama.folder / "model.safetensors").Has("lm_head.weight"));
  SentencePieceTokenizer tokenizer = SentencePieceTokenizer::Load(llama.folder / "tokenizer.model");
  EXPECT_EQ(tokenizer.bos_id(), 1);
  EXPECT_GE(tokenizer.PieceToId("<|eot_id|>"), 0);
  for (const auto& folder : {llama.folder, qwen.folder}) {
    LlamaDecoder model = LoadLlamaDecoder(folder);
    TokenizedBatch b = TokenizeBatch(tokenizer, {ApplyTemplate(kDefaultLlmTemplate, "a blue cone")},
                                     {.max_length = 96, .add_bos = true, .add_eos = false});
    EXPECT_EQ(b.truncated, 0);
    EXPECT_FALSE(b.ids.eq(tokenizer.unk_id()).logical_and(b.mask).any().item<bool>());
    torch::NoGradGuard no_grad;
    EXPECT_EQ(model->HiddenState(b.ids, b.mask, -1).sizes(), (std::vector<int64_t>{1, 96, 32}));
  }
}

TEST(TinyModels, BadOptionsAndCorpus) {
  TempDir dir;
  TinyEncoderOptions o = Tiny("gpt2", dir, "x");
  EXPECT_THROW_WITH(MakeTinyEncoder(o), InputError, "type 'gpt2'");
  o = Tiny("llama", dir, "x");
  o.heads = 3;
  EXPECT_THROW_WITH(MakeTinyEncoder(o), InputError, "heads 3 does not divide d_model 32");
  o = Tiny("t5", dir, "x");
  o.corpus = dir / "missing.txt";
  EXPECT_THROW_WITH(MakeTinyEncoder(o), InputError, "missing.txt", "does not exist");
  WriteFileAtomic(dir / "blank.txt", "\n  \n");
  o.corpus = dir / "blank.txt";
  EXPECT_THROW_WITH(MakeTinyEncoder(o), InputError, "blank.txt", "holds no caption");
  EXPECT_FALSE(std::filesystem::exists(dir / "x"));

  Options table = Options::ParseString("type = \"bert\"\nvocab_size = 4\n", "stage.toml");
  TinyEncoderOptions::FromOptions(table);
  EXPECT_THROW_WITH(table.ThrowIfProblems(), InputError, "type", "corpus", "vocab_size");
}

TEST(TinyModels, TrainedLlmLearnsTheCorpus) {
  TempDir dir;
  TinyEncoderResult made = MakeTinyEncoder(Tiny("llama", dir, "llama"));
  LlmTrainOptions o;
  o.model = made.folder;
  o.corpus = dir / "corpus.txt";
  o.out = dir / "trained";
  o.steps = 120;
  o.lr = 1e-2;
  o.batch_size = 16;
  o.log_every = 40;
  std::ostringstream progress;
  LlmTrainReport report = TrainTinyLlm(o, progress);
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
  EXPECT_DOUBLE_EQ(hf.json()["modelgrow"]["training"]["loss_after"].get<double>(),
                   report.loss_after);
  EXPECT_TRUE(std::filesystem::exists(o.out / "tokenizer.model"));
  LlamaDecoder trained = LoadLlamaDecoder(o.out, true);
  LlamaDecoder untrained = LoadLlamaDecoder(made.folder, true);
  EXPECT_FALSE(torch::equal(trained->embed_tokens->weight, untrained->embed_tokens->weight));

  // Deterministic: the same run gives the same loss, whatever the caller's grad mode (the
  // experiment runner makes encoders lazily, sometimes inside a no-grad scope).
  o.out = dir / "again";
  std::ostringstream quiet;
  torch::NoGradGuard callers_no_grad;
  EXPECT_DOUBLE_EQ(TrainTinyLlm(o, quiet).loss_after, report.loss_after);
}

TEST(TinyModels, StageTablesReadEveryKey) {
  Options t = Options::ParseString(
      "model = \"m\"\ncorpus = \"c\"\nout = \"o\"\nsteps = 5\nlr = 0.01\n"
      "template = \"<{prompt}>\"\nbogus = 1\n",
      "stage.toml");
  LlmTrainOptions o = LlmTrainOptions::FromOptions(t);
  EXPECT_EQ(o.model, "m");
  EXPECT_EQ(o.steps, 5);
  EXPECT_DOUBLE_EQ(o.lr, 0.01);
  EXPECT_EQ(o.text_template, "<{prompt}>");
  t.RejectUnknownKeys();
  EXPECT_THROW_WITH(t.ThrowIfProblems(), InputError, "bogus");

  Options m = Options::ParseString(
      "type = \"qwen2\"\ncorpus = \"c\"\nout = \"o\"\nd_model = 48\nseed = 9\n", "stage.toml");
  TinyEncoderOptions tiny = TinyEncoderOptions::FromOptions(m);
  m.RejectUnknownKeys();
  EXPECT_NO_THROW(m.ThrowIfProblems());
  EXPECT_EQ(tiny.type, "qwen2");
  EXPECT_EQ(tiny.d_model, 48);
  EXPECT_EQ(tiny.seed, 9u);
}

TEST(TinyModels, TrainerProgressUpdatesOneLineOnATerminal) {
  TempDir dir;
  TinyEncoderResult made = MakeTinyEncoder(Tiny("qwen2", dir, "qwen2"));
  LlmTrainOptions o;
  o.model = made.folder;
  o.corpus = dir / "corpus.txt";
  o.out = dir / "trained";
  o.steps = 3;
  std::ostringstream progress;
  TrainTinyLlm(o, progress, /*progress_is_terminal=*/true);
  std::string text = progress.str();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\r'), 3) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
  EXPECT_TRUE(std::filesystem::exists(o.out / "model.safetensors"));
}

TEST(TinyModels, TrainerRejectsBadInput) {
  TempDir dir;
  LlmTrainOptions o;
  o.model = dir / "nope";
  o.corpus = testing::WriteCorpus(dir / "corpus.txt");
  o.out = dir / "out";
  std::ostringstream progress;
  EXPECT_THROW_WITH(TrainTinyLlm(o, progress), InputError, "nope", "does not exist");
  TinyEncoderResult t5 = MakeTinyEncoder(Tiny("t5", dir, "t5"));
  o.model = t5.folder;
  EXPECT_THROW_WITH(TrainTinyLlm(o, progress), InputError, "model_type", "'t5'");
  o.text_template = "no slot";
  EXPECT_THROW_WITH(TrainTinyLlm(o, progress), InputError, "{prompt} exactly once");
}

}  // namespace
}  // namespace modelgrow
