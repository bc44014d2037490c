// The `llm` text encoder: a Llama-family decoder (Llama 2/3, Qwen2, Mistral) read as an encoder
// -- a chat template around the prompt, one chosen hidden state, the attention mask. Its Maker
// makes a tiny Llama / Qwen2 folder from captions and, with `train_steps`, teaches it their
// language inside the encoder's own template (`make = {...}`, `modelgrow text make --plugin llm`).
#include <algorithm>
#include <memory>
#include <mutex>
#include <ostream>

#include <fmt/format.h>
#include <torch/torch.h>

#include "common/encoder_options.h"
#include "common/llama_decoder.h"
#include "common/llm_trainer.h"
#include "common/prompt_template.h"
#include "common/tiny_model_options.h"
#include "common/tiny_models.h"
#include "common/tokenizer.h"
#include "common/truncation.h"
#include "modelgrow/sdk/content_hash.h"
#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/options.h"
#include "modelgrow/sdk/plugin.h"
#include "modelgrow/sdk/text_encoder.h"

namespace modelgrow {
namespace {

// The encoder's `template` as both the encoder and its Maker read it: the tiny LLM must learn
// the captions inside the very text the encoder will wrap them in.
std::string TemplateOf(const Options& encoder_options) {
  if (encoder_options.TypeOf("template") != "string") return std::string(kDefaultLlmTemplate);
  return encoder_options.String("template", std::string(kDefaultLlmTemplate));
}

class LlmTextEncoder : public TextEncoder {
 public:
  // Conformance examples: tiny decoders the suite makes with the Maker from `make`.
  static constexpr const char* kExamples = R"toml(
[[example]]
max_length = 64
make = {vocab_size = 96, d_model = 16, layers = 1, heads = 2}

[[example]]
max_length = 32
hidden_layer = 1
add_bos = false
template = "<|start_header_id|>user<|end_header_id|>\n\n{prompt}<|eot_id|>"
make = {type = "qwen2", vocab_size = 96, d_model = 16, layers = 2, heads = 2, kv_heads = 1, train_steps = 2, train_batch_size = 4}
)toml";

  // A tiny Llama / Qwen2 folder (keys: docs/text-encoders.md, common/tiny_model_options.h). With
  // train_steps > 0 the decoder is trained on the captions wrapped in the encoder's `template`,
  // at max(64, the encoder's max_length) tokens per caption, and the trained folder is written.
  class Maker : public TextModelMaker {
   public:
    Maker(const PluginContext& context, const Options& encoder_options)
        : options_(TinyModelOptions::Read(context.options, TinyModelFamily::kDecoder)),
          template_(TemplateOf(encoder_options)) {
      // The encoder reports its own option problems; only well-typed values are taken here.
      if (encoder_options.TypeOf("max_length") == "integer") {
        train_max_length_ =
            std::max<int64_t>(train_max_length_, encoder_options.Int("max_length", 0));
      }
    }

    nlohmann::json Make(const std::vector<std::string>& captions,
                        const std::filesystem::path& folder, std::ostream& log) override {
      log << fmt::format(
          "making a tiny {} (d_model {}, {} layers, {} heads, {} kv heads) from {} captions\n",
          options_.type, options_.d_model, options_.layers, options_.heads,
          options_.ResolvedKvHeads(), captions.size());
      if (options_.train_steps == 0) {
        nlohmann::json facts = MakeTinyModel(options_, captions, folder).ToJson();
        facts["type"] = options_.type;
        return facts;
      }
      // Made, written and read back as a separate folder before training, exactly as a made
      // model is trained from disk: the trained weights do not depend on which path made them.
      std::filesystem::path untrained = folder;
      untrained += ".untrained";
      nlohmann::json facts = MakeTinyModel(options_, captions, untrained).ToJson();
      facts["type"] = options_.type;
      LlmTrainOptions t;
      t.model = untrained;
      t.out = folder;
      t.steps = options_.train_steps;
      t.lr = options_.train_lr;
      t.batch_size = options_.train_batch_size;
      t.seed = options_.seed;
      t.text_template = template_;
      t.max_length = train_max_length_;
      LlmTrainReport report;
      try {
        report = TrainTinyLlm(t, captions, log);
      } catch (...) {
        std::error_code ec;
        std::filesystem::remove_all(untrained, ec);
        throw;
      }
      std::filesystem::remove_all(untrained);
      facts.update({{"loss_before", report.loss_before},
                    {"loss_after", report.loss_after},
                    {"steps", report.steps},
                    {"seconds", report.seconds}});
      return facts;
    }

   private:
    TinyModelOptions options_;
    std::string template_;
    int64_t train_max_length_ = 64;
  };

  // Reads and checks every option; loads nothing.
  explicit LlmTextEncoder(const PluginContext& context) {
    const Options& o = context.options;
    folder_ = o.RequireString("path");
    max_length_ = o.Int("max_length", 300, {.min = 2, .max = 1000000});
    template_ = o.String("template", std::string(kDefaultLlmTemplate));
    hidden_layer_ = o.Int("hidden_layer", -1);
    dtype_ = DtypeOption(o);
    device_ = DeviceOption(o, context.device);
    add_bos_ = o.Bool("add_bos", true);
    tokenizer_file_ = o.String("tokenizer", "");
    try {
      CheckTemplate(template_, o.KeyPath("template"));
    } catch (const InputError&) {
      o.Fail("template", "must contain {prompt} exactly once");
    }
  }

  void Load() override {
    if (model_) return;  // loaded already
    try {
      LlamaDecoder model = LoadLlamaDecoder(folder_, /*with_lm_head=*/false, dtype_, device_);
      // Out of range is known only now: the layer count is the model's.
      const int64_t hidden_index = model->ResolveHiddenIndex(hidden_layer_);
      SentencePieceTokenizer tokenizer = SentencePieceTokenizer::Load(
          tokenizer_file_.empty()
              ? FindSentencePieceModel(folder_, {"tokenizer.model", "spiece.model"})
              : tokenizer_file_);
      CheckTokenizerFits(tokenizer, model->config().vocab_size, folder_ / "config.json");
      if (add_bos_ && tokenizer.bos_id() < 0) {
        throw InputError(fmt::format("tokenizer {} defines no BOS piece; set add_bos = false",
                                     tokenizer.path().string()));
      }
      pad_id_ = tokenizer.pad_id() >= 0   ? tokenizer.pad_id()
                : tokenizer.eos_id() >= 0 ? tokenizer.eos_id()
                                          : 0;
      // What the output depends on: the weights, the tokenizer, and every option that shapes
      // the tokens or picks the hidden state.
      key_ = "llm-" + ContentHash("text-encoder-llm")
                          .Add("folder", FolderFingerprint(folder_))
                          .Add("tokenizer", Sha256Hex(tokenizer.Serialized()))
                          .Add("max_length", max_length_)
                          .Add("template", template_)
                          .Add("hidden_state", hidden_index)
                          .Add("add_bos", add_bos_ ? "true" : "false")
                          .Add("dtype", DtypeName())
                          .Short();
      hidden_index_ = hidden_index;
      tokenizer_ = std::move(tokenizer);
      model_ = std::move(model);
    } catch (const InputError& e) {
      throw InputError(fmt::format("text encoder llm: {}", e.what()));
    }
    truncation_ = std::make_unique<TruncationReport>(
        fmt::format("text encoder llm ({})", folder_.string()), max_length_);
  }

  int64_t dim() const override {
    RequireLoaded();
    return model_->config().hidden_size;
  }
  int64_t max_length() const override { return max_length_; }
  // As for T5: the DiT's own null-caption buffer, so guidance works the same for either encoder.
  NullCaptionPolicy null_policy() const override { return NullCaptionPolicy::kModelBuffer; }

  TextEncoding Encode(const std::vector<std::string>& prompts) override {
    std::lock_guard<std::mutex> lock(mutex_);
    RequireLoaded();
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

  std::string CacheKey() const override {
    RequireLoaded();
    return key_;
  }

  // The options before Load(); the model's facts after.
  nlohmann::json Describe() const override {
    nlohmann::json d = {
        {"encoder", "llm"},      {"path", folder_.string()}, {"hidden_layer", hidden_layer_},
        {"template", template_}, {"add_bos", add_bos_},      {"max_length", max_length_},
        {"dtype", DtypeName()},  {"device", device_.str()},  {"null_policy", "model_buffer"}};
    if (!model_) return d;
    const LlamaConfig& c = model_->config();
    d.update({{"model_type", c.model_type},
              {"tokenizer", tokenizer_.path().string()},
              {"hidden_size", c.hidden_size},
              {"layers", c.num_hidden_layers},
              {"heads", c.num_attention_heads},
              {"kv_heads", c.num_key_value_heads},
              {"vocab_size", c.vocab_size},
              {"rope_type", c.rope_scaling.type},
              {"hidden_state_index", hidden_index_},
              {"prompts_truncated", truncation_->count()}});
    return d;
  }

 private:
  void RequireLoaded() const {
    if (!model_ || !truncation_) throw RunError("text encoder llm: used before Load()");
  }
  std::string DtypeName() const {
    return dtype_ == c10::ScalarType::BFloat16 ? "bfloat16" : "float32";
  }

  std::filesystem::path folder_;
  std::filesystem::path tokenizer_file_;
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

MODELGROW_TEXT_ENCODER(modelgrow::LlmTextEncoder, "llm", "1.1.0",
                       "Llama-family decoder (Llama 2/3, Qwen2, Mistral) read as a text encoder");
