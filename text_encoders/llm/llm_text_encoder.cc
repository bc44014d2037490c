// The `llm` text encoder: a Llama-family decoder (Llama 2/3, Qwen2, Mistral) read as an encoder
// -- the prompt rendered by the folder's chat template (or a {prompt} template) and tokenised as
// apply_chat_template(tokenize=True) does, one chosen hidden state, the attention mask; with
// `echo`, the prompt read twice and the states of its second copy. Its Maker
// makes a tiny Llama / Qwen2 folder from captions and, with `train_steps`, teaches it their
// language inside the encoder's own prompt format (`make = {...}`, `modelgrow text make --plugin
// llm`), with `train_rewrite` to rewrite short captions into detailed ones and with `train_repeat`
// to repeat them. Its Tokenizer serves `modelgrow text tokenize`; its Rewriter rewrites prompts
// (`modelgrow rewrite`).
#include <algorithm>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>

#include <fmt/format.h>
#include <torch/torch.h>

#include "common/encoder_options.h"
#include "common/folder_tokenizer.h"
#include "common/llama_decoder.h"
#include "common/llm_prompt.h"
#include "common/llm_rewriter.h"
#include "common/llm_trainer.h"
#include "common/model_tokenizer.h"
#include "common/prompt_template.h"
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

// The prompt format as both the encoder and its Maker read it: the tiny LLM must learn the
// captions inside the very text the encoder will give it. Problems are recorded by the encoder;
// only well-typed values are taken here.
LlmPromptOptions PromptOptionsOf(const Options& o) {
  LlmPromptOptions p;
  auto text = [&](const char* key, std::string& value) {
    if (o.TypeOf(key) == "string") value = o.String(key, value);
  };
  text("template", p.text_template);
  text("chat_template", p.chat_template);
  text("system_prompt", p.system_prompt);
  if (o.TypeOf("add_generation_prompt") == "boolean") {
    p.add_generation_prompt = o.Bool("add_generation_prompt", false);
  }
  if (o.TypeOf("add_bos") == "boolean") p.add_bos = o.Bool("add_bos", true);
  return p;
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

[[example]]
max_length = 48
system_prompt = ""
make = {vocab_size = 96, d_model = 16, layers = 1, heads = 2, train_steps = 2, train_batch_size = 4, train_rewrite = true}

[[example]]
max_length = 40
echo = true
make = {vocab_size = 96, d_model = 16, layers = 1, heads = 2}
)toml";

  // `modelgrow text tokenize`: the folder's tokenizer as Hugging Face loads it.
  using Tokenizer = FolderTokenizer;
  // `modelgrow rewrite`: KV-cached generation with the folder's chat template.
  using Rewriter = LlmRewriter;

  // A tiny Llama / Qwen2 folder (keys: docs/text-encoders.md, common/tiny_model_options.h). With
  // train_steps > 0 the decoder is trained on the captions wrapped in the encoder's `template`,
  // at max(64, the encoder's max_length) tokens per caption, and the trained folder is written.
  class Maker : public TextModelMaker {
   public:
    Maker(const PluginContext& context, const Options& encoder_options)
        : options_(TinyModelOptions::Read(context.options, TinyModelFamily::kDecoder)),
          prompt_(PromptOptionsOf(encoder_options)) {
      // The encoder reports its own option problems; only well-typed values are taken here.
      if (encoder_options.TypeOf("max_length") == "integer") {
        train_max_length_ =
            std::max<int64_t>(train_max_length_, encoder_options.Int("max_length", 0));
      }
    }

    nlohmann::json Make(const TextCorpus& corpus, const std::filesystem::path& folder,
                        std::ostream& log) override {
      const std::vector<std::string>& captions = corpus.captions;
      log << fmt::format(
          "making a tiny {} (d_model {}, {} layers, {} heads, {} kv heads) from {} captions{}{}\n",
          options_.type, options_.d_model, options_.layers, options_.heads,
          options_.ResolvedKvHeads(), captions.size(),
          options_.train_rewrite ? fmt::format(", {} rewriting pairs", corpus.pairs.size()) : "",
          options_.train_repeat ? ", repeating each caption" : "");
      if (options_.train_rewrite && corpus.pairs.empty()) {
        throw InputError(
            "train_rewrite: the corpus has no (short, detailed) caption pairs to learn rewriting "
            "from");
      }
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
      t.prompt = prompt_;
      t.max_length = train_max_length_;
      t.conversation_max_length = std::max<int64_t>(256, train_max_length_);
      t.repeat = options_.train_repeat;
      LlmTrainReport report;
      try {
        report = TrainTinyLlm(
            t, captions, options_.train_rewrite ? corpus.pairs : std::vector<CaptionPair>{}, log);
      } catch (...) {
        std::error_code ec;
        std::filesystem::remove_all(untrained, ec);
        throw;
      }
      std::filesystem::remove_all(untrained);
      facts.update({{"loss_before", report.loss_before},
                    {"loss_after", report.loss_after},
                    {"rewrite_pairs", report.rewrite_pairs},
                    {"rewrite_loss_before", report.rewrite_loss_before},
                    {"rewrite_loss_after", report.rewrite_loss_after},
                    {"repeat_conversations", report.repeat_conversations},
                    {"repeat_loss_before", report.repeat_loss_before},
                    {"repeat_loss_after", report.repeat_loss_after},
                    {"steps", report.steps},
                    {"seconds", report.seconds}});
      return facts;
    }

   private:
    TinyModelOptions options_;
    LlmPromptOptions prompt_;
    int64_t train_max_length_ = 64;
  };

  // Reads and checks every option; loads nothing.
  explicit LlmTextEncoder(const PluginContext& context) {
    const Options& o = context.options;
    folder_ = o.RequireString("path");
    max_length_ = o.Int("max_length", 300, {.min = 2, .max = 1000000});
    prompt_.text_template = o.String("template", "");
    prompt_.chat_template = o.String("chat_template", "");
    prompt_.system_prompt = o.String("system_prompt", std::string(kDefaultSystemPrompt));
    prompt_.add_generation_prompt = o.Bool("add_generation_prompt", false);
    prompt_.add_bos = o.Bool("add_bos", true);
    hidden_layer_ = o.Int("hidden_layer", -1);
    echo_ = o.Bool("echo", false);
    dtype_ = DtypeOption(o);
    device_ = DeviceOption(o, context.device);
    tokenizer_file_ = o.String("tokenizer", "");
    // Options of one kind of format only: set with the other, they would be ignored silently.
    chat_only_ = o.Has("system_prompt") || o.Has("add_generation_prompt");
    prompt_template_only_ = o.Has("add_bos");
    if (!prompt_.text_template.empty()) {
      try {
        CheckTemplate(prompt_.text_template, o.KeyPath("template"));
      } catch (const InputError&) {
        o.Fail("template", "must contain {prompt} exactly once");
      }
      if (!prompt_.chat_template.empty()) {
        o.Fail("chat_template", "give either `template` ({prompt}) or `chat_template` (Jinja)");
      }
      if (chat_only_) {
        o.Fail("template",
               "system_prompt and add_generation_prompt apply to chat templates, not to a "
               "{prompt} template");
      }
    }
    if (echo_ && !prompt_.text_template.empty()) {
      o.Fail("echo",
             "repeats the prompt as the assistant's answer and needs a chat template, not a "
             "{prompt} `template`");
    }
    if (echo_ && o.Has("add_generation_prompt")) {
      o.Fail("add_generation_prompt",
             "does not apply with echo, which writes the assistant's turn");
    }
    if (!prompt_.chat_template.empty() && prompt_template_only_) {
      o.Fail("add_bos", "applies to {prompt} templates; a chat template writes BOS itself");
    }
  }

  void Load() override {
    if (model_) return;  // loaded already
    try {
      LlamaDecoder model = LoadLlamaDecoder(folder_, /*with_lm_head=*/false, dtype_, device_);
      // Out of range is known only now: the layer count is the model's.
      const int64_t hidden_index = model->ResolveHiddenIndex(hidden_layer_);
      auto tokenizer = std::make_shared<const ModelTokenizer>(
          ModelTokenizer::Load(folder_, tokenizer_file_, {"tokenizer.model", "spiece.model"},
                               SentencePieceSpecials{.bos = true}));
      CheckTokenizerFits(*tokenizer, model->config().vocab_size, folder_ / "config.json");
      LlmPromptFormat format = LlmPromptFormat::Load(folder_, tokenizer, prompt_);
      if (format.chat() && prompt_template_only_) {
        throw InputError(fmt::format(
            "add_bos applies to {{prompt}} templates, but {} renders the prompt (a chat "
            "template writes BOS itself)",
            format.source()));
      }
      if (!format.chat() && chat_only_) {
        throw InputError(fmt::format(
            "system_prompt and add_generation_prompt apply to chat templates, but {} has none "
            "(the {} is used)",
            folder_.string(), format.source()));
      }
      if (!format.chat() && echo_) {
        throw InputError(fmt::format(
            "echo repeats the prompt as the assistant's answer and needs a chat template, but {} "
            "has none (give the folder one, or set chat_template)",
            folder_.string()));
      }
      pad_id_ = tokenizer->pad_id() >= 0   ? tokenizer->pad_id()
                : tokenizer->eos_id() >= 0 ? tokenizer->eos_id()
                                           : 0;
      // What the output depends on: the weights, the tokenizer and prompt format, and every
      // option that shapes the tokens or picks the hidden state.
      ContentHash key("text-encoder-llm/2");
      key.Add("folder", FolderFingerprint(folder_))
          .Add("prompt", format.fingerprint())
          .Add("max_length", max_length_)
          .Add("hidden_state", hidden_index)
          .Add("dtype", DtypeName());
      if (echo_) key.Add("echo", "the assistant's copy");  // keys without echo stay as they were
      key_ = "llm-" + key.Short();
      hidden_index_ = hidden_index;
      tokenizer_ = std::move(tokenizer);
      format_ = std::move(format);
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
    if (echo_) return EncodeEcho(prompts);
    std::vector<std::vector<int64_t>> ids;
    ids.reserve(prompts.size());
    int64_t truncated = 0;
    for (const std::string& p : prompts) {
      bool cut = false;
      ids.push_back(format_->PromptIds(p, max_length_, &cut));
      truncated += cut ? 1 : 0;
    }
    TokenizedBatch tokens = PadBatch(ids, max_length_, pad_id_, truncated);
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
    nlohmann::json d = {{"encoder", "llm"},
                        {"path", folder_.string()},
                        {"hidden_layer", hidden_layer_},
                        {"max_length", max_length_},
                        {"echo", echo_},
                        {"dtype", DtypeName()},
                        {"device", device_.str()},
                        {"null_policy", "model_buffer"}};
    if (!model_) return d;
    const LlamaConfig& c = model_->config();
    d.update({{"model_type", c.model_type},
              {"tokenizer", tokenizer_->Describe()},
              {"prompt_format", format_->source()},
              {"chat_template", format_->chat()},
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
  // Each prompt's second copy: the decoder runs over everything up to its end, and the copy's
  // states are moved to the front of the row, so rows read like any other encoding.
  TextEncoding EncodeEcho(const std::vector<std::string>& prompts) {
    std::vector<std::vector<int64_t>> ids;
    std::vector<int64_t> starts;
    int64_t truncated = 0, longest = 1;
    for (const std::string& p : prompts) {
      bool cut = false;
      LlmPromptFormat::Echo echo = format_->EchoIds(p, max_length_, &cut);
      truncated += cut ? 1 : 0;
      longest = std::max<int64_t>(longest, static_cast<int64_t>(echo.ids.size()));
      starts.push_back(echo.start);
      ids.push_back(std::move(echo.ids));
    }
    TokenizedBatch input = PadBatch(ids, longest, pad_id_, truncated);
    truncation_->Add(input.truncated);
    at::Tensor hidden;
    {
      torch::InferenceMode inference;
      hidden =
          model_->HiddenState(input.ids.to(device_), input.mask.to(device_), hidden_index_).cpu();
    }
    hidden = hidden.clone();
    const int64_t batch = static_cast<int64_t>(prompts.size());
    TextEncoding out;
    out.embedding = torch::zeros({batch, max_length_, hidden.size(2)}, hidden.options());
    out.mask = torch::zeros({batch, max_length_}, torch::kBool);
    for (int64_t b = 0; b < batch; ++b) {
      const int64_t n = static_cast<int64_t>(ids[b].size()) - starts[b];
      out.embedding[b].narrow(0, 0, n).copy_(hidden[b].narrow(0, starts[b], n));
      out.mask[b].narrow(0, 0, n).fill_(true);
    }
    return out;
  }

  void RequireLoaded() const {
    if (!model_ || !truncation_) throw RunError("text encoder llm: used before Load()");
  }
  std::string DtypeName() const {
    return dtype_ == c10::ScalarType::BFloat16 ? "bfloat16" : "float32";
  }

  std::filesystem::path folder_;
  std::filesystem::path tokenizer_file_;
  int64_t max_length_ = 300;
  LlmPromptOptions prompt_;
  bool chat_only_ = false, prompt_template_only_ = false;
  int64_t hidden_layer_ = -1, hidden_index_ = 0;
  bool echo_ = false;
  c10::ScalarType dtype_ = c10::ScalarType::Float;
  c10::Device device_ = c10::Device(c10::DeviceType::CPU);
  int64_t pad_id_ = 0;
  LlamaDecoder model_{nullptr};
  std::shared_ptr<const ModelTokenizer> tokenizer_;
  std::optional<LlmPromptFormat> format_;
  std::unique_ptr<TruncationReport> truncation_;
  std::string key_;
  std::mutex mutex_;
};

}  // namespace
}  // namespace modelgrow

MODELGROW_TEXT_ENCODER(modelgrow::LlmTextEncoder, "llm", "2.0.0",
                       "Llama-family decoder (Llama 2/3, Qwen2, Mistral) read as a text encoder");
