// The `llm` text encoder: a Llama-family decoder (Llama 2/3, Qwen2, Mistral) read as an encoder
// -- a chat template around the prompt, one chosen hidden state, the attention mask.
#include <mutex>

#include <fmt/format.h>

#include "modelgrow/base/options.h"
#include "modelgrow/sdk/plugin.h"
#include "modelgrow/sdk/text_encoder.h"
#include "modelgrow/text/chat_template.h"
#include "modelgrow/text/encoder_options.h"
#include "modelgrow/text/hf_folder.h"
#include "modelgrow/text/llama_decoder.h"
#include "modelgrow/text/prompt_hash.h"
#include "modelgrow/text/tokenizer.h"
#include "modelgrow/text/truncation.h"

namespace modelgrow {
namespace {

class LlmTextEncoder : public TextEncoder {
 public:
  explicit LlmTextEncoder(const PluginContext& context) {
    const Options& o = context.options;
    folder_ = o.RequireString("path");
    max_length_ = o.Int("max_length", 300, {.min = 2, .max = 1000000});
    template_ = o.String("template", std::string(kDefaultLlmTemplate));
    hidden_layer_ = o.Int("hidden_layer", -1);
    dtype_ = DtypeOption(o);
    device_ = DeviceOption(o, context.device);
    add_bos_ = o.Bool("add_bos", true);
    std::string tokenizer = o.String("tokenizer", "");
    try {
      CheckTemplate(template_, o.KeyPath("template"));
    } catch (const InputError&) {
      o.Fail("template", "must contain {prompt} exactly once");
    }
    if (o.HasProblems()) {
      o.RejectUnknownKeys();
      o.ThrowIfProblems();
    }
    if (context.validate_only) return;  // options checked; load nothing
    model_ = LoadLlamaDecoder(folder_, /*with_lm_head=*/false, dtype_, device_);
    hidden_index_ = model_->ResolveHiddenIndex(hidden_layer_);
    tokenizer_ = SentencePieceTokenizer::Load(
        tokenizer.empty() ? FindSentencePieceModel(folder_, {"tokenizer.model", "spiece.model"})
                          : std::filesystem::path(tokenizer));
    CheckTokenizerFits(tokenizer_, model_->config().vocab_size, folder_ / "config.json");
    if (add_bos_ && tokenizer_.bos_id() < 0) {
      throw InputError(fmt::format("tokenizer {} defines no BOS piece; set add_bos = false",
                                   tokenizer_.path().string()));
    }
    pad_id_ = tokenizer_.pad_id() >= 0   ? tokenizer_.pad_id()
              : tokenizer_.eos_id() >= 0 ? tokenizer_.eos_id()
                                         : 0;
    truncation_ = std::make_unique<TruncationReport>(
        fmt::format("text encoder llm ({})", folder_.string()), max_length_);
    key_ = fmt::format(
        "llm-{}", Sha256Hex(fmt::format("{}|{}|{}|{}|{}|{}|{}", FolderFingerprint(folder_),
                                        Sha256Hex(tokenizer_.Serialized()), max_length_, template_,
                                        hidden_index_, add_bos_,
                                        dtype_ == c10::ScalarType::BFloat16 ? "bf16" : "f32"))
                      .substr(0, 16));
  }

  int64_t dim() const override { return model_->config().hidden_size; }
  int64_t max_length() const override { return max_length_; }
  // As for T5: the DiT's own null-caption buffer, so guidance works the same for either encoder.
  NullCaptionPolicy null_policy() const override { return NullCaptionPolicy::kModelBuffer; }

  TextEncoding Encode(const std::vector<std::string>& prompts) override {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> texts;
    texts.reserve(prompts.size());
    for (const std::string& p : prompts) texts.push_back(ApplyTemplate(template_, p));
    PaddingSpec spec;
    spec.max_length = max_length_;
    spec.add_bos = add_bos_;
    spec.add_eos = false;
    spec.pad_id = pad_id_;
    TokenizedBatch tokens = TokenizeBatch(tokenizer_, texts, spec);
    truncation_->Add(tokens.truncated);
    TextEncoding out;
    {
      torch::InferenceMode inference;
      out.embedding =
          model_->HiddenState(tokens.ids.to(device_), tokens.mask.to(device_), hidden_index_).cpu();
    }
    out.embedding = out.embedding.clone();
    out.mask = tokens.mask;
    return out;
  }

  std::string CacheKey() const override { return key_; }

  nlohmann::json Describe() const override {
    const LlamaConfig& c = model_->config();
    return {{"encoder", "llm"},
            {"path", folder_.string()},
            {"model_type", c.model_type},
            {"tokenizer", tokenizer_.path().string()},
            {"hidden_size", c.hidden_size},
            {"layers", c.num_hidden_layers},
            {"heads", c.num_attention_heads},
            {"kv_heads", c.num_key_value_heads},
            {"vocab_size", c.vocab_size},
            {"rope_type", c.rope_scaling.type},
            {"hidden_layer", hidden_layer_},
            {"hidden_state_index", hidden_index_},
            {"template", template_},
            {"add_bos", add_bos_},
            {"max_length", max_length_},
            {"dtype", dtype_ == c10::ScalarType::BFloat16 ? "bfloat16" : "float32"},
            {"device", device_.str()},
            {"null_policy", "model_buffer"},
            {"prompts_truncated", truncation_->count()}};
  }

 private:
  std::filesystem::path folder_;
  int64_t max_length_ = 300;
  std::string template_;
  int64_t hidden_layer_ = -1, hidden_index_ = 0;
  c10::ScalarType dtype_ = c10::ScalarType::Float;
  c10::Device device_ = c10::Device(c10::DeviceType::CPU);
  bool add_bos_ = true;
  int64_t pad_id_ = 0;
  LlamaDecoder model_{nullptr};
  SentencePieceTokenizer tokenizer_;
  std::unique_ptr<TruncationReport> truncation_;
  std::string key_;
  std::mutex mutex_;
};

}  // namespace
}  // namespace modelgrow

MODELGROW_TEXT_ENCODER(modelgrow::LlmTextEncoder, "llm", "1.0.0",
                       "Llama-family decoder (Llama 2/3, Qwen2, Mistral) read as a text encoder");
