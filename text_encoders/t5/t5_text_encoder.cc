// The `t5` text encoder: a T5 v1.1 encoder from a Hugging Face folder, as Open-Sora conditions on
// it (the folder's tokenizer.json, or its SentencePiece model, with EOS, padded and truncated to
// max_length, the attention mask kept). Its Maker makes a tiny T5 folder from captions
// (`make = {...}`, `modelgrow text make --plugin t5`); its Tokenizer serves `modelgrow text
// tokenize`.
#include <memory>
#include <mutex>
#include <ostream>

#include <fmt/format.h>
#include <torch/torch.h>

#include "common/encoder_options.h"
#include "common/folder_tokenizer.h"
#include "common/model_tokenizer.h"
#include "common/t5_encoder.h"
#include "common/tiny_model_options.h"
#include "common/tiny_models.h"
#include "common/truncation.h"
#include "modelgrow/sdk/content_hash.h"
#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/options.h"
#include "modelgrow/sdk/plugin.h"
#include "modelgrow/sdk/text_encoder.h"

namespace modelgrow {
namespace {

class T5TextEncoder : public TextEncoder {
 public:
  // Conformance examples: a tiny T5 the suite makes with the Maker from `make`.
  static constexpr const char* kExamples = R"toml(
[[example]]
max_length = 16
make = {vocab_size = 64, d_model = 16, layers = 1, heads = 2}

[[example]]
max_length = 24
dtype = "bfloat16"
make = {vocab_size = 96, d_model = 32, layers = 2, heads = 4, d_ff = 48, seed = 5}
)toml";

  // `modelgrow text tokenize`: the folder's tokenizer as Hugging Face loads it.
  using Tokenizer = FolderTokenizer;

  // A tiny T5 folder: a SentencePiece model trained on the captions and Hugging Face's
  // initialisation from the seed (keys: docs/text-encoders.md, common/tiny_model_options.h).
  class Maker : public TextModelMaker {
   public:
    Maker(const PluginContext& context, const Options& /*encoder_options*/)
        : options_(TinyModelOptions::Read(context.options, TinyModelFamily::kT5)) {}

    nlohmann::json Make(const TextCorpus& corpus, const std::filesystem::path& folder,
                        std::ostream& log) override {
      log << fmt::format("making a tiny T5 (d_model {}, {} layers, {} heads) from {} captions\n",
                         options_.d_model, options_.layers, options_.heads, corpus.captions.size());
      nlohmann::json facts = MakeTinyModel(options_, corpus.captions, folder).ToJson();
      facts["type"] = "t5";
      return facts;
    }

   private:
    TinyModelOptions options_;
  };

  // Reads and checks every option; loads nothing.
  explicit T5TextEncoder(const PluginContext& context) {
    const Options& o = context.options;
    folder_ = o.RequireString("path");
    max_length_ = o.Int("max_length", 300, {.min = 2, .max = 100000});
    dtype_ = DtypeOption(o);
    device_ = DeviceOption(o, context.device);
    tokenizer_file_ = o.String("tokenizer", "");
  }

  void Load() override {
    if (model_) return;  // loaded already
    try {
      T5Encoder model = LoadT5Encoder(folder_, dtype_, device_);
      // T5's tokenizers append EOS (T5Tokenizer for a folder with only spiece.model).
      auto tokenizer = std::make_shared<const ModelTokenizer>(
          ModelTokenizer::Load(folder_, tokenizer_file_, {"spiece.model", "tokenizer.model"},
                               SentencePieceSpecials{.eos = true}));
      CheckTokenizerFits(*tokenizer, model->config().vocab_size, folder_ / "config.json");
      // What the output depends on: the weights, the tokenizer, the length and the dtype.
      key_ = "t5-" + ContentHash("text-encoder-t5/2")
                         .Add("folder", FolderFingerprint(folder_))
                         .Add("tokenizer", tokenizer->fingerprint())
                         .Add("max_length", max_length_)
                         .Add("dtype", DtypeName())
                         .Short();
      tokenizer_ = std::move(tokenizer);
      model_ = std::move(model);
    } catch (const InputError& e) {
      throw InputError(fmt::format("text encoder t5: {}", e.what()));
    }
    truncation_ = std::make_unique<TruncationReport>(
        fmt::format("text encoder t5 ({})", folder_.string()), max_length_);
  }

  int64_t dim() const override {
    RequireLoaded();
    return model_->config().d_model;
  }
  int64_t max_length() const override { return max_length_; }
  // Open-Sora's null caption is the DiT's learned y_embedding, not T5's encoding of "".
  NullCaptionPolicy null_policy() const override { return NullCaptionPolicy::kModelBuffer; }

  TextEncoding Encode(const std::vector<std::string>& prompts) override {
    std::lock_guard<std::mutex> lock(mutex_);
    RequireLoaded();
    std::vector<std::vector<int64_t>> ids;
    ids.reserve(prompts.size());
    int64_t truncated = 0;
    for (const std::string& p : prompts) {
      bool cut = false;
      ids.push_back(tokenizer_->Encode(p, /*add_special_tokens=*/true, max_length_, &cut));
      truncated += cut ? 1 : 0;
    }
    TokenizedBatch tokens =
        PadBatch(ids, max_length_, tokenizer_->pad_id() >= 0 ? tokenizer_->pad_id() : 0, truncated);
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

  std::string CacheKey() const override {
    RequireLoaded();
    return key_;
  }

  // The options before Load(); the model's facts after.
  nlohmann::json Describe() const override {
    nlohmann::json d = {{"encoder", "t5"},           {"path", folder_.string()},
                        {"max_length", max_length_}, {"dtype", DtypeName()},
                        {"device", device_.str()},   {"null_policy", "model_buffer"}};
    if (!model_) return d;
    const T5Config& c = model_->config();
    d.update({{"tokenizer", tokenizer_->Describe()},
              {"d_model", c.d_model},
              {"layers", c.num_layers},
              {"heads", c.num_heads},
              {"vocab_size", c.vocab_size},
              {"feed_forward_proj", c.feed_forward_proj},
              {"prompts_truncated", truncation_->count()}});
    return d;
  }

 private:
  void RequireLoaded() const {
    if (!model_ || !truncation_) throw RunError("text encoder t5: used before Load()");
  }
  std::string DtypeName() const {
    return dtype_ == c10::ScalarType::BFloat16 ? "bfloat16" : "float32";
  }

  std::filesystem::path folder_;
  std::filesystem::path tokenizer_file_;
  int64_t max_length_ = 300;
  c10::ScalarType dtype_ = c10::ScalarType::Float;
  c10::Device device_ = c10::Device(c10::DeviceType::CPU);
  T5Encoder model_{nullptr};
  std::shared_ptr<const ModelTokenizer> tokenizer_;
  std::unique_ptr<TruncationReport> truncation_;
  std::string key_;
  std::mutex mutex_;
};

}  // namespace
}  // namespace modelgrow

MODELGROW_TEXT_ENCODER(modelgrow::T5TextEncoder, "t5", "2.0.0",
                       "T5 v1.1 encoder from a Hugging Face folder (Open-Sora's text condition)");
