// The shared library's way from text to ids and back, and generation: the tiny models' tokenizer
// conversion (tokenizer.json gives the SentencePiece model's ids), ModelTokenizer's choice of
// file, special tokens and truncation, the llm prompt formats (chat template as
// apply_chat_template renders and tokenises it, {prompt} templates), the SentencePiece model
// reader, and KV-cached generation against full forward passes.
#include <algorithm>
#include <sstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/hf_tokenizer.h"
#include "common/llama_decoder.h"
#include "common/llm_generation.h"
#include "common/llm_prompt.h"
#include "common/model_tokenizer.h"
#include "common/prompt_template.h"
#include "common/sentencepiece_conversion.h"
#include "common/sentencepiece_model.h"
#include "common/sentencepiece_training.h"
#include "common/tiny_models.h"
#include "common/tokenizer.h"
#include "modelgrow/sdk/atomic_file.h"
#include "test_util.h"
#include "text/caption_corpus.h"

namespace modelgrow {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

TinyModelOptions Tiny(const std::string& type, const std::string& tokenizer_type = "bpe") {
  TinyModelOptions o;
  o.type = type;
  o.vocab_size = 160;
  o.tokenizer_type = tokenizer_type;
  o.d_model = 32;
  o.heads = 4;
  return o;
}

// Texts that stress the conversion: the corpus, unknown characters, odd spacing, markers.
std::vector<std::string> HardTexts() {
  std::vector<std::string> texts = testing::CaptionCorpus(120);
  for (const char* t : {"", " ", "a  red   cube", " leading space", "trailing space ",
                        "UPPER case Words", "a red cube, 3 times: 12345", "émoji 🎥 and ß",
                        "tabs\tand\nnewlines", "a <|eot_id|> marker inside", "unknown qqq zzz"}) {
    texts.push_back(t);
  }
  return texts;
}

// A made folder's tokenizer.json gives exactly the SentencePiece model's ids (what the tiny
// models were made with before they had a tokenizer.json), for both piece conventions and both
// algorithms, on the captions and on harder text.
TEST(SentencePieceConversion, TokenizerJsonGivesTheSentencePieceIds) {
  TempDir dir;
  for (const auto& [type, algorithm] : std::vector<std::pair<std::string, std::string>>{
           {"t5", "bpe"}, {"t5", "unigram"}, {"llama", "bpe"}, {"llama", "unigram"}}) {
    const fs::path folder = dir / (type + "-" + algorithm);
    MakeTinyModel(Tiny(type, algorithm), testing::CaptionCorpus(), folder);
    const std::string spm_file = type == "t5" ? "spiece.model" : "tokenizer.model";
    SentencePieceTokenizer spm = SentencePieceTokenizer::Load(folder / spm_file);
    hf::HfTokenizer json = hf::HfTokenizer::Load(folder);
    int64_t checked = 0;
    for (const std::string& text : HardTexts()) {
      std::vector<int64_t> expected = spm.Encode(text);
      std::vector<int32_t> got = json.Encode(text, /*add_special_tokens=*/false);
      if (text.find("<|eot_id|>") != std::string::npos && type != "t5") {
        // Where fast and slow tokenizers differ (as they do in transformers): Hugging Face cuts
        // user-defined tokens out before normalizing, and the converted normalizer strips the
        // text before one on the right, so the "▁" SentencePiece keeps before the marker is gone.
        const int64_t space = spm.PieceToId("\xe2\x96\x81");
        const int64_t marker = spm.PieceToId("<|eot_id|>");
        auto at = std::find(expected.begin(), expected.end(), marker);
        ASSERT_NE(at, expected.begin());
        ASSERT_EQ(*(at - 1), space);
        expected.erase(at - 1);
      }
      EXPECT_EQ(std::vector<int64_t>(got.begin(), got.end()), expected)
          << type << "/" << algorithm << ": \"" << text << "\"";
      ++checked;
    }
    EXPECT_GT(checked, 120);
    // The special tokens are the tokenizer classes': T5 appends EOS, Llama prepends BOS.
    std::vector<int32_t> with = json.Encode("a red cube", true);
    std::vector<int32_t> without = json.Encode("a red cube", false);
    if (type == "t5") {
      EXPECT_EQ(with.back(), spm.eos_id());
      EXPECT_EQ(std::vector<int32_t>(with.begin(), with.end() - 1), without);
    } else {
      EXPECT_EQ(with.front(), spm.bos_id());
      EXPECT_EQ(std::vector<int32_t>(with.begin() + 1, with.end()), without);
    }
    EXPECT_EQ(json.Decode(without, true), "a red cube");
  }
}

TEST(SentencePieceConversion, ReadsTheModelProto) {
  SentencePieceTrainOptions o;
  o.vocab_size = 96;
  o.model_type = "bpe";
  o.convention = PieceConvention::kLlama;
  o.user_defined_symbols = {"<|eot_id|>"};
  std::string bytes = TrainSentencePiece(testing::CaptionCorpus(), o);
  SentencePieceModel m = SentencePieceModel::Parse(bytes, "trained");
  SentencePieceTokenizer spm = SentencePieceTokenizer::FromSerialized(bytes, "trained");
  ASSERT_EQ(static_cast<int64_t>(m.pieces.size()), spm.vocab_size());
  for (size_t i = 0; i < m.pieces.size(); ++i) EXPECT_EQ(m.pieces[i].piece, spm.IdToPiece(i));
  EXPECT_EQ(m.model_type, 2);
  EXPECT_EQ(m.unk_id, 0);
  EXPECT_EQ(m.pieces[0].type, SentencePieceModel::PieceType::kUnknown);
  EXPECT_EQ(m.pieces[1].type, SentencePieceModel::PieceType::kControl);
  EXPECT_EQ(m.pieces[3].piece, "<|eot_id|>");
  EXPECT_EQ(m.pieces[3].type, SentencePieceModel::PieceType::kUserDefined);
  EXPECT_FALSE(m.precompiled_charsmap.empty());  // nmt_nfkc
  EXPECT_TRUE(m.add_dummy_prefix);
  // Merges: highest-scoring merged piece first, every merge's halves in the vocabulary.
  auto merges = SentencePieceMerges(m);
  ASSERT_FALSE(merges.empty());
  for (const auto& [l, r] : merges) {
    EXPECT_GE(spm.PieceToId(l + r), 0);
  }
  // Damage is an error that names the source.
  EXPECT_THROW_WITH(SentencePieceModel::Parse(bytes.substr(0, bytes.size() / 2), "half.model"),
                    InputError, "half.model", "not a SentencePiece model");
  EXPECT_THROW_WITH(SentencePieceModel::Parse("", "empty.model"), InputError, "no pieces");
}

TEST(ModelTokenizer, PrefersTokenizerJsonAndFallsBackToSentencePiece) {
  TempDir dir;
  MakeTinyModel(Tiny("llama"), testing::CaptionCorpus(), dir / "both");
  ModelTokenizer json = ModelTokenizer::Load(dir / "both", {}, {"tokenizer.model"},
                                             SentencePieceSpecials{.bos = true});
  EXPECT_EQ(json.kind(), ModelTokenizer::Kind::kTokenizerJson);
  EXPECT_EQ(json.path(), dir / "both" / "tokenizer.json");
  // Without tokenizer.json: the SentencePiece model, with the specials tokenizer_config.json
  // names (LlamaTokenizerFast: BOS).
  fs::copy(dir / "both", dir / "spm");
  fs::remove(dir / "spm" / "tokenizer.json");
  ModelTokenizer spm = ModelTokenizer::Load(dir / "spm", {}, {"tokenizer.model"}, std::nullopt);
  EXPECT_EQ(spm.kind(), ModelTokenizer::Kind::kSentencePiece);
  for (const std::string& text : testing::CaptionCorpus(50)) {
    EXPECT_EQ(json.Encode(text, true), spm.Encode(text, true)) << text;
  }
  EXPECT_NE(json.fingerprint(), spm.fingerprint());
  EXPECT_EQ(json.bos_id(), 1);
  EXPECT_EQ(json.eos_id(), 2);
  EXPECT_EQ(json.TokenToId("<|eot_id|>"), spm.TokenToId("<|eot_id|>"));
  EXPECT_FALSE(json.TokenToId("no-such-token").has_value());
  EXPECT_FALSE(spm.TokenToId("no-such-token").has_value());

  // Truncation keeps the special tokens and cuts the text's end, as truncation=True does.
  const std::string text = testing::CaptionCorpus(1)[0];
  for (const ModelTokenizer* t : {&json, &spm}) {
    std::vector<int64_t> full = t->Encode(text, true);
    bool truncated = false;
    std::vector<int64_t> cut = t->Encode(text, true, 4, &truncated);
    EXPECT_TRUE(truncated);
    EXPECT_EQ(cut, std::vector<int64_t>(full.begin(), full.begin() + 4));
    t->Encode(text, true, 100, &truncated);
    EXPECT_FALSE(truncated);
  }

  // A SentencePiece folder that does not say which special tokens it adds needs a default.
  WriteFileAtomic(dir / "spm" / "tokenizer_config.json", "{}");
  EXPECT_THROW_WITH(ModelTokenizer::Load(dir / "spm", {}, {"tokenizer.model"}, std::nullopt),
                    InputError, "does not say which special tokens");
  EXPECT_EQ(
      ModelTokenizer::Load(dir / "spm", {}, {"tokenizer.model"}, SentencePieceSpecials{.eos = true})
          .Encode("a", true)
          .back(),
      2);
  // A broken tokenizer.json names itself and the JSON path.
  WriteFileAtomic(dir / "both" / "tokenizer.json", "{\"model\": {\"type\": \"Nope\"}}");
  EXPECT_THROW_WITH(ModelTokenizer::Load(dir / "both", {}, {"tokenizer.model"}, std::nullopt),
                    InputError, "tokenizer.json", "model.type");
  // Neither file: no tokenizer.
  EXPECT_THROW_WITH(ModelTokenizer::Load(dir.path(), {}, {"tokenizer.model"}, std::nullopt),
                    InputError, "no tokenizer");
}

class PromptFormat : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    MakeTinyModel(Tiny("llama"), testing::CaptionCorpus(), *dir_ / "llama");
    tokenizer_ = new std::shared_ptr<const ModelTokenizer>(
        std::make_shared<const ModelTokenizer>(ModelTokenizer::Load(
            *dir_ / "llama", {}, {"tokenizer.model"}, SentencePieceSpecials{.bos = true})));
  }
  static void TearDownTestSuite() {
    delete tokenizer_;
    delete dir_;
  }
  static fs::path folder() { return *dir_ / "llama"; }
  static TempDir* dir_;
  static std::shared_ptr<const ModelTokenizer>* tokenizer_;
};
TempDir* PromptFormat::dir_ = nullptr;
std::shared_ptr<const ModelTokenizer>* PromptFormat::tokenizer_ = nullptr;

// The folder's chat template renders [system, user] as Llama 3's template does, and the ids are
// those of tokenizing that text without adding special tokens (apply_chat_template(tokenize=True)).
TEST_F(PromptFormat, ChatTemplateAsApplyChatTemplate) {
  LlmPromptFormat f = LlmPromptFormat::Load(folder(), *tokenizer_, {});
  ASSERT_TRUE(f.chat());
  EXPECT_EQ(f.source(), "tokenizer_config.json chat_template");
  const std::string expected =
      "<s><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful language and vision "
      "assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\na red cube<|eot_id|>";
  EXPECT_EQ(f.PromptText("  a red cube "), expected);  // the template trims the content
  hf::HfTokenizer json = hf::HfTokenizer::Load(folder());
  std::vector<int32_t> ids = json.Encode(expected, false);
  EXPECT_EQ(f.PromptIds("a red cube"), std::vector<int64_t>(ids.begin(), ids.end()));
  EXPECT_EQ(f.PromptIds("a red cube").front(), 1);  // <s>, written by the template
  // The markers are one token each.
  const int64_t eot = *(*tokenizer_)->TokenToId("<|eot_id|>");
  EXPECT_EQ(f.PromptIds("a red cube").back(), eot);
  // Truncation cuts the end.
  bool truncated = false;
  EXPECT_EQ(f.PromptIds("a red cube", 5, &truncated).size(), 5u);
  EXPECT_TRUE(truncated);

  // No system message, and the assistant header for generation.
  LlmPromptOptions o;
  o.system_prompt = "";
  o.add_generation_prompt = true;
  LlmPromptFormat g = LlmPromptFormat::Load(folder(), *tokenizer_, o);
  EXPECT_EQ(g.PromptText("x"),
            "<s><|start_header_id|>user<|end_header_id|>\n\nx<|eot_id|><|start_header_id|>"
            "assistant<|end_header_id|>\n\n");
  EXPECT_NE(g.fingerprint(), f.fingerprint());
}

// echo: [system, user, assistant] with the prompt in both turns; the copy is the assistant's, even
// where the template writes the prompt's text again after it.
TEST_F(PromptFormat, EchoFindsTheAssistantsCopy) {
  LlmPromptFormat f = LlmPromptFormat::Load(folder(), *tokenizer_, {});
  const std::string head =
      "<s><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful language and vision "
      "assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\na red cube<|eot_id|>"
      "<|start_header_id|>assistant<|end_header_id|>\n\n";
  LlmPromptFormat::Echo e = f.EchoIds("  a red cube ");  // the template trims the content
  EXPECT_EQ(e.ids, (*tokenizer_)->Encode(head + "a red cube", false));
  EXPECT_EQ(e.start, static_cast<int64_t>((*tokenizer_)->Encode(head, false).size()));
  EXPECT_EQ((*tokenizer_)->Decode({e.ids.begin() + e.start, e.ids.end()}, false), "a red cube");
  bool truncated = false;
  LlmPromptFormat::Echo cut = f.EchoIds("a red cube", 2, &truncated);
  EXPECT_TRUE(truncated);
  EXPECT_EQ(cut.start, e.start);
  EXPECT_EQ(cut.ids, std::vector<int64_t>(e.ids.begin(), e.ids.begin() + e.start + 2));

  LlmPromptOptions o;
  o.system_prompt = "";
  o.chat_template = "{% for m in messages %}{{ m['content'] }}\n{% endfor %}cube\n";
  LlmPromptFormat after = LlmPromptFormat::Load(folder(), *tokenizer_, o);
  LlmPromptFormat::Echo c = after.EchoIds("cube");
  EXPECT_EQ(c.ids, (*tokenizer_)->Encode("cube\ncube", false));
  EXPECT_EQ(c.start, static_cast<int64_t>((*tokenizer_)->Encode("cube\n", false).size()));

  o.chat_template = "{{ messages[0]['content'] }}";
  EXPECT_THROW_WITH(LlmPromptFormat::Load(folder(), *tokenizer_, o).EchoIds("cube"), InputError,
                    "does not write the assistant's message");
  LlmPromptOptions plain;
  plain.text_template = "{prompt}";
  EXPECT_THROW_WITH(LlmPromptFormat::Load(folder(), *tokenizer_, plain).EchoIds("cube"), InputError,
                    "needs a chat template");
}

TEST_F(PromptFormat, ManifestTemplatesAndTheDefault) {
  LlmPromptOptions o;
  o.text_template = "Describe: {prompt}";
  LlmPromptFormat t = LlmPromptFormat::Load(folder(), *tokenizer_, o);
  EXPECT_FALSE(t.chat());
  EXPECT_EQ(t.source(), "manifest template");
  std::vector<int64_t> expected = {1};
  for (int64_t id : (*tokenizer_)->Encode("Describe: a red cube", false)) expected.push_back(id);
  EXPECT_EQ(t.PromptIds("a red cube"), expected);
  EXPECT_THROW_WITH(t.Render(nlohmann::ordered_json::array(), false), InputError,
                    "not a chat template");
  o.add_bos = false;
  EXPECT_EQ(LlmPromptFormat::Load(folder(), *tokenizer_, o).PromptIds("a red cube"),
            std::vector<int64_t>(expected.begin() + 1, expected.end()));

  LlmPromptOptions chat;
  chat.chat_template = "{{ bos_token }}[{{ messages[-1]['content'] }}]";
  LlmPromptFormat c = LlmPromptFormat::Load(folder(), *tokenizer_, chat);
  EXPECT_EQ(c.source(), "manifest chat_template");
  EXPECT_EQ(c.PromptText("hi"), "<s>[hi]");
  chat.chat_template = "{% if %}";
  EXPECT_THROW_WITH(LlmPromptFormat::Load(folder(), *tokenizer_, chat), InputError, "chat_template",
                    "1:");

  // A folder without a chat template falls back to the default {prompt} template.
  TempDir plain;
  fs::copy(folder(), plain / "llama");
  nlohmann::json config =
      nlohmann::json::parse(ReadFile(plain / "llama" / "tokenizer_config.json"));
  config.erase("chat_template");
  WriteFileAtomic(plain / "llama" / "tokenizer_config.json", config.dump());
  auto tokenizer = std::make_shared<const ModelTokenizer>(ModelTokenizer::Load(
      plain / "llama", {}, {"tokenizer.model"}, SentencePieceSpecials{.bos = true}));
  LlmPromptFormat d = LlmPromptFormat::Load(plain / "llama", tokenizer, {});
  EXPECT_EQ(d.source(), "default template");
  EXPECT_EQ(d.PromptText("x"), ApplyTemplate(kDefaultLlmTemplate, "x"));
  // chat_template.jinja beside the config is the folder's template too.
  WriteFileAtomic(plain / "llama" / "chat_template.jinja", "{{ messages[-1]['content'] }}!");
  LlmPromptFormat j = LlmPromptFormat::Load(plain / "llama", tokenizer, {});
  EXPECT_EQ(j.source(), "chat_template.jinja");
  EXPECT_EQ(j.PromptText("x"), "x!");
}

// Generation with the KV cache chooses the tokens a full forward pass over the growing sequence
// chooses, and its logits match; sampling is seeded.
TEST(Generation, KvCacheMatchesFullForwardPasses) {
  LlamaConfig c;
  c.vocab_size = 50;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.sliding_window = 3;  // windowed layers too
  c.sliding_layers = {false, true};
  torch::manual_seed(0);
  LlamaDecoder model(c, /*with_lm_head=*/true);
  model->eval();
  const std::vector<int64_t> prompt = {3, 7, 11, 2, 9};
  LlamaKvCache cache;
  torch::NoGradGuard no_grad;
  at::Tensor cached = model->LogitsCached(torch::tensor(prompt).unsqueeze(0), cache);
  at::Tensor full =
      model->Logits(torch::tensor(prompt).unsqueeze(0), torch::ones({1, 5}, torch::kBool));
  EXPECT_LT(testing::MaxAbsError(cached, full), 1e-5);
  EXPECT_EQ(cache.length, 5);
  std::vector<int64_t> sequence = prompt;
  for (int step = 0; step < 6; ++step) {
    const int64_t next = cached.select(1, -1).argmax(-1).item<int64_t>();
    sequence.push_back(next);
    cached = model->LogitsCached(torch::tensor({next}).unsqueeze(0), cache);
    const int64_t n = static_cast<int64_t>(sequence.size());
    full = model->Logits(torch::tensor(sequence).unsqueeze(0), torch::ones({1, n}, torch::kBool));
    EXPECT_LT(testing::MaxAbsError(cached.select(1, -1), full.select(1, -1)), 1e-5) << step;
  }

  GenerationOptions greedy;
  greedy.max_new_tokens = 6;
  GenerationResult g = Generate(*model, prompt, greedy);
  EXPECT_EQ(g.ids, std::vector<int64_t>(sequence.begin() + 5, sequence.end()));
  EXPECT_FALSE(g.stopped);
  // A stop token ends generation and is kept: the last token that is new to the sequence.
  size_t stop_at = 5;
  for (size_t j = 6; j < sequence.size(); ++j) {
    if (std::find(sequence.begin() + 5, sequence.begin() + j, sequence[j]) ==
        sequence.begin() + j) {
      stop_at = j;
    }
  }
  greedy.stop_ids = {sequence[stop_at]};
  g = Generate(*model, prompt, greedy);
  EXPECT_TRUE(g.stopped);
  EXPECT_EQ(g.ids, std::vector<int64_t>(sequence.begin() + 5, sequence.begin() + stop_at + 1));
  GenerationOptions sampled;
  sampled.max_new_tokens = 20;
  sampled.temperature = 1.5;
  sampled.seed = 4;
  std::vector<int64_t> a = Generate(*model, prompt, sampled).ids;
  EXPECT_EQ(Generate(*model, prompt, sampled).ids, a);
  sampled.seed = 5;
  EXPECT_NE(Generate(*model, prompt, sampled).ids, a);
  // top_p so small that only the most likely token survives: sampling becomes greedy.
  sampled.top_p = 1e-6;
  greedy.stop_ids.clear();
  greedy.max_new_tokens = 20;
  EXPECT_EQ(Generate(*model, prompt, sampled).ids, Generate(*model, prompt, greedy).ids);

  sampled.top_p = 0;
  EXPECT_THROW_WITH(Generate(*model, prompt, sampled), InputError, "top_p");
  EXPECT_THROW_WITH(Generate(*model, {}, greedy), InputError, "prompt");
}

}  // namespace
}  // namespace modelgrow
