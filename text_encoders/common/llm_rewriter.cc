#include "common/llm_rewriter.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "common/encoder_options.h"
#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/sdk/content_hash.h"
#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/options.h"

namespace modelgrow {

namespace fs = std::filesystem;

std::vector<int64_t> DefaultStopIds(const fs::path& folder, const ModelTokenizer& tokenizer) {
  std::vector<int64_t> ids;
  auto add = [&](int64_t id) {
    if (id >= 0 && std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  };
  add(tokenizer.eos_id());
  for (const char* name : {"config.json", "generation_config.json"}) {
    const fs::path file = folder / name;
    if (!fs::is_regular_file(file)) continue;
    nlohmann::json j = nlohmann::json::parse(ReadFile(file), nullptr, false);
    if (!j.is_object() || !j.contains("eos_token_id")) continue;
    const nlohmann::json& eos = j["eos_token_id"];
    if (eos.is_number_integer()) add(eos.get<int64_t>());
    if (eos.is_array()) {
      for (const auto& e : eos) {
        if (e.is_number_integer()) add(e.get<int64_t>());
      }
    }
  }
  return ids;
}

LlmRewriter::LlmRewriter(const PluginContext& context) {
  const Options& o = context.options;
  folder_ = o.RequireString("path");
  generation_.max_new_tokens = o.Int("max_new_tokens", 128, {.min = 1, .max = 100000});
  generation_.temperature = o.Double("temperature", 0.0, {.min = 0});
  generation_.top_p = o.Double("top_p", 1.0, {.min = 0, .max = 1, .min_exclusive = true});
  generation_.seed = static_cast<uint64_t>(o.Int("seed", 0, {.min = 0}));
  stop_tokens_ = o.StringList("stop_tokens", {});
  system_prompt_ = o.String("system_prompt", std::string(kRewriteSystemPrompt));
  chat_template_ = o.String("chat_template", "");
  dtype_ = DtypeOption(o);
  device_ = DeviceOption(o, context.device);
}

void LlmRewriter::Load() {
  if (model_) return;
  try {
    LlamaDecoder model = LoadLlamaDecoder(folder_, /*with_lm_head=*/true, dtype_, device_);
    auto tokenizer = std::make_shared<const ModelTokenizer>(ModelTokenizer::Load(
        folder_, {}, {"tokenizer.model", "spiece.model"}, SentencePieceSpecials{.bos = true}));
    CheckTokenizerFits(*tokenizer, model->config().vocab_size, folder_ / "config.json");
    LlmPromptOptions prompt;
    prompt.chat_template = chat_template_;
    prompt.system_prompt = system_prompt_;
    prompt.add_generation_prompt = true;
    LlmPromptFormat format = LlmPromptFormat::Load(folder_, tokenizer, prompt);
    if (!format.chat()) {
      throw InputError(fmt::format(
          "{} has no chat template (tokenizer_config.json chat_template or chat_template.jinja): "
          "rewriting needs an instruction-tuned model's template, or set chat_template",
          folder_.string()));
    }
    std::vector<int64_t> stops = DefaultStopIds(folder_, *tokenizer);
    for (const std::string& token : stop_tokens_) {
      std::optional<int64_t> id = tokenizer->TokenToId(token);
      if (!id) {
        throw InputError(fmt::format("stop token '{}' is not one token of {}'s vocabulary", token,
                                     folder_.string()));
      }
      if (std::find(stops.begin(), stops.end(), *id) == stops.end()) stops.push_back(*id);
    }
    if (stops.empty()) {
      throw InputError(fmt::format(
          "{}: no stop token (the tokenizer has no EOS and config.json no eos_token_id); name one "
          "with stop_tokens",
          folder_.string()));
    }
    generation_.stop_ids = stops;
    ContentHash key("prompt-rewriter-llm/1");
    key.Add("folder", FolderFingerprint(folder_))
        .Add("prompt", format.fingerprint())
        .Add("max_new_tokens", generation_.max_new_tokens)
        .Add("temperature", fmt::format("{}", generation_.temperature))
        .Add("top_p", fmt::format("{}", generation_.top_p))
        .Add("seed", static_cast<int64_t>(generation_.seed))
        .Add("stop", fmt::format("{}", fmt::join(stops, ",")))
        .Add("dtype", dtype_ == c10::ScalarType::BFloat16 ? "bfloat16" : "float32");
    key_ = "rewrite-llm-" + key.Short();
    tokenizer_ = std::move(tokenizer);
    format_ = std::move(format);
    model_ = std::move(model);
  } catch (const InputError& e) {
    throw InputError(fmt::format("prompt rewriter llm: {}", e.what()));
  }
}

RewriteResult LlmRewriter::Rewrite(const std::string& prompt) {
  std::lock_guard<std::mutex> lock(mutex_);
  Load();
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  if (!system_prompt_.empty()) {
    messages.push_back({{"role", "system"}, {"content", system_prompt_}});
  }
  messages.push_back({{"role", "user"}, {"content", prompt}});
  std::vector<int64_t> ids = format_->ConversationIds(messages, true);
  RewriteResult out;
  out.prompt_tokens = static_cast<int64_t>(ids.size());
  GenerationResult g = Generate(*model_, ids, generation_);
  out.new_tokens = static_cast<int64_t>(g.ids.size());
  out.stopped = g.stopped;
  out.seconds = g.seconds;
  std::vector<int64_t> text_ids = g.ids;
  if (g.stopped) text_ids.pop_back();
  std::string text = tokenizer_->Decode(text_ids, /*skip_special_tokens=*/true);
  const size_t first = text.find_first_not_of(" \t\n\r");
  const size_t last = text.find_last_not_of(" \t\n\r");
  out.text = first == std::string::npos ? "" : text.substr(first, last - first + 1);
  return out;
}

std::string LlmRewriter::CacheKey() const {
  if (!model_) throw RunError("prompt rewriter llm: used before Load()");
  return key_;
}

nlohmann::json LlmRewriter::Describe() const {
  nlohmann::json d = {{"rewriter", "llm"},
                      {"path", folder_.string()},
                      {"max_new_tokens", generation_.max_new_tokens},
                      {"temperature", generation_.temperature},
                      {"top_p", generation_.top_p},
                      {"seed", generation_.seed},
                      {"system_prompt", system_prompt_}};
  if (model_) {
    d["stop_ids"] = generation_.stop_ids;
    d["chat_template"] = format_->source();
    d["tokenizer"] = tokenizer_->Describe();
  }
  return d;
}

}  // namespace modelgrow
