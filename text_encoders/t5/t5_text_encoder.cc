// The `t5` text encoder: a T5 v1.1 encoder from a Hugging Face folder, as Open-Sora conditions on
// it (SentencePiece with EOS, padded and truncated to max_length, the attention mask kept).
#include <mutex>

#include <fmt/format.h>

#include "modelgrow/base/options.h"
#include "modelgrow/base/provenance.h"
#include "modelgrow/sdk/plugin.h"
#include "modelgrow/sdk/text_encoder.h"
#include "modelgrow/text/encoder_options.h"
#include "modelgrow/text/hf_folder.h"
#include "modelgrow/text/prompt_hash.h"
#include "modelgrow/text/t5_encoder.h"
#include "modelgrow/text/tokenizer.h"
#include "modelgrow/text/truncation.h"

namespace modelgrow {
namespace {

class T5TextEncoder : public TextEncoder {
 public:
  explicit T5TextEncoder(const PluginContext& context) {
    const Options& o = context.options;
    folder_ = o.RequireString("path");
    max_length_ = o.Int("max_length", 300, {.min = 2, .max = 100000});
    dtype_ = DtypeOption(o);
    device_ = DeviceOption(o, context.device);
    std::string tokenizer = o.String("tokenizer", "");
    if (o.HasProblems()) {
      o.RejectUnknownKeys();
      o.ThrowIfProblems();
    }
    if (context.validate_only) return;  // options checked; load nothing
    model_ = LoadT5Encoder(folder_, dtype_, device_);
    tokenizer_ = SentencePieceTokenizer::Load(
        tokenizer.empty() ? FindSentencePieceModel(folder_, {"spiece.model", "tokenizer.model"})
                          : std::filesystem::path(tokenizer));
    CheckTokenizerFits(tokenizer_, model_->config().vocab_size, folder_ / "config.json");
    if (tokenizer_.eos_id() < 0) {
      throw InputError(fmt::format("tokenizer {} defines no EOS piece; T5 appends one",
                                   tokenizer_.path().string()));
    }
    truncation_ = std::make_unique<TruncationReport>(
        fmt::format("text encoder t5 ({})", folder_.string()), max_length_);
    key_ = fmt::format("t5-{}", HashText(Identity()));
  }

  int64_t dim() const override { return model_->config().d_model; }
  int64_t max_length() const override { return max_length_; }
  // Open-Sora's null caption is the DiT's learned y_embedding, not T5's encoding of "".
  NullCaptionPolicy null_policy() const override { return NullCaptionPolicy::kModelBuffer; }

  TextEncoding Encode(const std::vector<std::string>& prompts) override {
    std::lock_guard<std::mutex> lock(mutex_);
    PaddingSpec spec;
    spec.max_length = max_length_;
    spec.add_eos = true;
    spec.pad_id = tokenizer_.pad_id() >= 0 ? tokenizer_.pad_id() : 0;
    TokenizedBatch tokens = TokenizeBatch(tokenizer_, prompts, spec);
    truncation_->Add(tokens.truncated);
    TextEncoding out;
    {
      torch::InferenceMode inference;
      out.embedding = model_->forward(tokens.ids.to(device_), tokens.mask.to(device_)).cpu();
    }
    out.embedding = out.embedding.clone();  // a normal tensor, usable with autograd downstream
    out.mask = tokens.mask;
    return out;
  }

  std::string CacheKey() const override { return key_; }

  nlohmann::json Describe() const override {
    const T5Config& c = model_->config();
    return {{"encoder", "t5"},
            {"path", folder_.string()},
            {"tokenizer", tokenizer_.path().string()},
            {"d_model", c.d_model},
            {"layers", c.num_layers},
            {"heads", c.num_heads},
            {"vocab_size", c.vocab_size},
            {"feed_forward_proj", c.feed_forward_proj},
            {"max_length", max_length_},
            {"dtype", dtype_ == c10::ScalarType::BFloat16 ? "bfloat16" : "float32"},
            {"device", device_.str()},
            {"null_policy", "model_buffer"},
            {"prompts_truncated", truncation_->count()}};
  }

 private:
  // What the output depends on: the weights, the tokenizer, the length and the dtype.
  std::string Identity() const {
    return fmt::format("{}|{}|{}|{}", FolderFingerprint(folder_),
                       Sha256Hex(tokenizer_.Serialized()), max_length_,
                       dtype_ == c10::ScalarType::BFloat16 ? "bf16" : "f32");
  }

  std::filesystem::path folder_;
  int64_t max_length_ = 300;
  c10::ScalarType dtype_ = c10::ScalarType::Float;
  c10::Device device_ = c10::Device(c10::DeviceType::CPU);
  T5Encoder model_{nullptr};
  SentencePieceTokenizer tokenizer_;
  std::unique_ptr<TruncationReport> truncation_;
  std::string key_;
  std::mutex mutex_;
};

}  // namespace
}  // namespace modelgrow

MODELGROW_TEXT_ENCODER(modelgrow::T5TextEncoder, "t5", "1.0.0",
                       "T5 v1.1 encoder from a Hugging Face folder (Open-Sora's text condition)");
