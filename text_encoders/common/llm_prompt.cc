#include "common/llm_prompt.h"

#include <algorithm>
#include <ctime>
#include <string_view>

#include <fmt/format.h>

#include "common/chat_template.h"
#include "common/prompt_template.h"
#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/sdk/content_hash.h"
#include "modelgrow/sdk/errors.h"

namespace modelgrow {

namespace fs = std::filesystem;

namespace {

// strftime_now() in a template sees this fixed time, not the current one, so an embedding never
// depends on the day it was computed (transformers would use the current time).
std::tm FixedNow() {
  std::tm t{};
  t.tm_year = 2024 - 1900;
  t.tm_mon = 6;
  t.tm_mday = 26;
  t.tm_hour = 12;
  t.tm_wday = 5;
  t.tm_yday = 207;
  return t;
}

// The template variables transformers passes for the tokenizer's special tokens: the
// configuration's, or for a folder without one the tokenizer's own BOS and EOS.
nlohmann::ordered_json SpecialTokens(const ModelTokenizer& tokenizer) {
  nlohmann::ordered_json tokens = jinja::SpecialTokensFromConfig(tokenizer.config());
  if (!tokens.contains("bos_token") && tokenizer.bos_token()) {
    tokens["bos_token"] = *tokenizer.bos_token();
  }
  if (!tokens.contains("eos_token") && tokenizer.eos_token()) {
    tokens["eos_token"] = *tokenizer.eos_token();
  }
  return tokens;
}

template <typename F>
auto Guard(const std::string& where, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const jinja::TemplateError& e) {
    throw InputError(fmt::format("{}: {}", where, e.what()));
  } catch (const std::invalid_argument& e) {
    throw InputError(fmt::format("{}: {}", where, e.what()));
  }
}

}  // namespace

std::shared_ptr<const jinja::ChatTemplate> FolderChatTemplate(const fs::path& folder,
                                                              const ModelTokenizer& tokenizer,
                                                              std::string* source) {
  const nlohmann::ordered_json& config = tokenizer.config();
  const fs::path config_file = folder / "tokenizer_config.json";
  if (config.contains("chat_template") && !config["chat_template"].is_null()) {
    if (source) *source = "tokenizer_config.json chat_template";
    return Guard(config_file.string(), [&] {
      return std::make_shared<const jinja::ChatTemplate>(
          jinja::ChatTemplate::FromTokenizerConfig(config, config_file.string()));
    });
  }
  const fs::path jinja_file = folder / "chat_template.jinja";
  if (fs::is_regular_file(jinja_file)) {
    if (source) *source = "chat_template.jinja";
    return Guard(jinja_file.string(), [&] {
      return std::make_shared<const jinja::ChatTemplate>(ReadFile(jinja_file), jinja_file.string(),
                                                         SpecialTokens(tokenizer));
    });
  }
  return nullptr;
}

LlmPromptFormat LlmPromptFormat::Load(const fs::path& folder,
                                      std::shared_ptr<const ModelTokenizer> shared,
                                      const LlmPromptOptions& options) {
  LlmPromptFormat f;
  f.tokenizer_ = std::move(shared);
  const ModelTokenizer& tokenizer = *f.tokenizer_;
  f.options_ = options;
  ContentHash hash("llm-prompt/1");
  if (!options.chat_template.empty()) {
    f.source_ = "manifest chat_template";
    f.chat_ = Guard("chat_template", [&] {
      return std::make_shared<const jinja::ChatTemplate>(options.chat_template, "chat_template",
                                                         SpecialTokens(tokenizer));
    });
    hash.Add("chat_template", options.chat_template);
  } else if (!options.text_template.empty()) {
    f.source_ = "manifest template";
    CheckTemplate(options.text_template, "template");
    hash.Add("template", options.text_template);
  } else {
    std::string where;
    f.chat_ = FolderChatTemplate(folder, tokenizer, &where);
    if (f.chat_) {
      f.source_ = where;
      // The template's text is part of the tokenizer configuration, which the tokenizer's
      // fingerprint covers; chat_template.jinja is covered here.
      if (where == "chat_template.jinja") {
        hash.Add("chat_template", ReadFile(folder / "chat_template.jinja"));
      }
    } else {
      f.source_ = "default template";
      f.options_.text_template = std::string(kDefaultLlmTemplate);
      hash.Add("template", f.options_.text_template);
    }
  }
  if (f.chat_) {
    hash.Add("special_tokens", f.chat_->special_tokens().dump())
        .Add("system_prompt", options.system_prompt)
        .Add("add_generation_prompt", options.add_generation_prompt ? "1" : "0");
  } else {
    hash.Add("add_bos", options.add_bos ? "1" : "0");
    if (options.add_bos && tokenizer.bos_id() < 0) {
      throw InputError(fmt::format("tokenizer {} defines no BOS token; set add_bos = false",
                                   tokenizer.path().string()));
    }
  }
  hash.Add("tokenizer", tokenizer.fingerprint());
  f.fingerprint_ = hash.Hex();
  return f;
}

std::string LlmPromptFormat::Render(const nlohmann::ordered_json& messages,
                                    bool add_generation_prompt) const {
  if (!chat_) {
    throw InputError(fmt::format(
        "the llm prompt comes from a {{prompt}} template ({}), not a chat template: a "
        "conversation cannot be rendered (give the folder a chat_template, or set chat_template)",
        source_));
  }
  jinja::ChatOptions chat_options;
  chat_options.add_generation_prompt = add_generation_prompt;
  chat_options.clock = FixedNow;
  return Guard(source_, [&] { return chat_->Apply(messages, chat_options); });
}

std::string LlmPromptFormat::PromptText(const std::string& prompt) const {
  if (!chat_) return ApplyTemplate(options_.text_template, prompt);
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  if (!options_.system_prompt.empty()) {
    messages.push_back({{"role", "system"}, {"content", options_.system_prompt}});
  }
  messages.push_back({{"role", "user"}, {"content", prompt}});
  return Render(messages, options_.add_generation_prompt);
}

std::vector<int64_t> LlmPromptFormat::PromptIds(const std::string& prompt, int64_t max_length,
                                                bool* truncated) const {
  if (chat_) return tokenizer_->Encode(PromptText(prompt), false, max_length, truncated);
  std::vector<int64_t> ids;
  if (options_.add_bos) ids.push_back(tokenizer_->bos_id());
  std::vector<int64_t> text = tokenizer_->Encode(PromptText(prompt), false);
  ids.insert(ids.end(), text.begin(), text.end());
  if (truncated) *truncated = false;
  if (max_length >= 0 && static_cast<int64_t>(ids.size()) > max_length) {
    ids.resize(max_length);
    if (truncated) *truncated = true;
  }
  return ids;
}

LlmPromptFormat::Echo LlmPromptFormat::EchoIds(const std::string& prompt, int64_t max_length,
                                               bool* truncated) const {
  if (!chat_) {
    throw InputError(fmt::format(
        "echo repeats the prompt as the assistant's answer and needs a chat template, but the "
        "prompt comes from a {{prompt}} template ({})",
        source_));
  }
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  if (!options_.system_prompt.empty()) {
    messages.push_back({{"role", "system"}, {"content", options_.system_prompt}});
  }
  messages.push_back({{"role", "user"}, {"content", prompt}});
  // Where the assistant's copy begins: found by rendering once with a marker in its place, since
  // the prompt's own text may also occur in what the template writes after it ("e" in
  // "<|im_end|>"). Letters only: `trim`, as Python's strip, would eat control characters.
  constexpr std::string_view kMarker = "MODELGROWECHOMARKER";
  messages.push_back({{"role", "assistant"}, {"content", kMarker}});
  const std::string marked = Render(messages, false);
  const size_t at = marked.find(kMarker);
  messages.back()["content"] = prompt;
  const std::string text = Render(messages, false);
  // Templates commonly trim a message: the copy is the prompt as given, or trimmed.
  std::string_view copy = prompt;
  if (at != std::string::npos && text.compare(at, copy.size(), copy) != 0) {
    const size_t first = copy.find_first_not_of(" \t\n\r");
    copy = first == std::string_view::npos
               ? std::string_view()
               : copy.substr(first, copy.find_last_not_of(" \t\n\r") - first + 1);
  }
  if (at == std::string::npos || marked.compare(0, at, text, 0, at) != 0 ||
      text.compare(at, copy.size(), copy) != 0) {
    throw InputError(fmt::format(
        "echo: {} does not write the assistant's message as given, so the prompt's second copy "
        "cannot be found",
        source_));
  }
  // The copy's tokens: those the text before it does not share with the whole, up to the first
  // the text through it does not share. A token the copy shares with its neighbours (a merge
  // across the boundary) belongs to the copy.
  auto common = [](const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
    return static_cast<int64_t>(std::mismatch(a.begin(), a.end(), b.begin(), b.end()).first -
                                a.begin());
  };
  Echo echo;
  std::vector<int64_t> all = tokenizer_->Encode(text, false);
  std::vector<int64_t> through = tokenizer_->Encode(text.substr(0, at + copy.size()), false);
  const int64_t n = static_cast<int64_t>(all.size());
  int64_t end = common(through, all);
  if (end < static_cast<int64_t>(through.size())) end = std::min(end + 1, n);
  echo.start = std::min(common(tokenizer_->Encode(text.substr(0, at), false), all), end);
  // An empty prompt has no tokens of its own: it is read as the token before its place.
  if (echo.start == end) echo.start = std::max<int64_t>(0, end - 1);
  if (truncated) *truncated = false;
  if (max_length >= 0 && end - echo.start > max_length) {
    end = echo.start + max_length;
    if (truncated) *truncated = true;
  }
  echo.ids.assign(all.begin(), all.begin() + end);
  return echo;
}

std::vector<int64_t> LlmPromptFormat::ConversationIds(const nlohmann::ordered_json& messages,
                                                      bool add_generation_prompt) const {
  return tokenizer_->Encode(Render(messages, add_generation_prompt), false);
}

}  // namespace modelgrow
