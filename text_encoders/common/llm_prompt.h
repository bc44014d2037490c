// How the llm plugin turns text into a decoder's input ids. With a chat template -- the folder's
// own (tokenizer_config.json `chat_template`, or chat_template.jinja beside it) or one given in
// the manifest -- a conversation is rendered as transformers' apply_chat_template renders it and
// tokenised as apply_chat_template(tokenize=True) does: without adding special tokens (the
// template writes them). Without one, the `{prompt}` template wraps the prompt and BOS is
// prepended.
//
// Which one applies, first match wins: the manifest's `chat_template`, the manifest's `template`,
// the folder's chat template, the default `{prompt}` template (prompt_template.h).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/model_tokenizer.h"

namespace modelgrow {

namespace jinja {
class ChatTemplate;
}

// The system message of the paper's LLaVA / Llama-3 style prompt.
inline constexpr std::string_view kDefaultSystemPrompt =
    "You are a helpful language and vision assistant.";

// The system message of prompt rewriting: the tiny LLM is trained with it and the rewriter sends
// it by default.
inline constexpr std::string_view kRewriteSystemPrompt =
    "Rewrite the short description of a video as a detailed description of everything it shows.";

// The system message of the repeating conversations a tiny LLM can also be trained on.
inline constexpr std::string_view kRepeatSystemPrompt =
    "Repeat the description of a video word for word.";

struct LlmPromptOptions {
  std::string chat_template;  // non-empty: a Jinja chat template that replaces the folder's
  std::string text_template;  // non-empty: a {prompt} template that replaces any chat template
  std::string system_prompt = std::string(kDefaultSystemPrompt);  // "": no system message
  bool add_generation_prompt = false;
  bool add_bos = true;  // {prompt} templates only: the tokenizer's BOS first
};

class LlmPromptFormat {
 public:
  // InputError for a template that does not parse, a {prompt} template without exactly one
  // {prompt}, or add_bos with a tokenizer that has no BOS.
  static LlmPromptFormat Load(const std::filesystem::path& folder,
                              std::shared_ptr<const ModelTokenizer> tokenizer,
                              const LlmPromptOptions& options);

  const ModelTokenizer& tokenizer() const { return *tokenizer_; }

  // True when a chat template renders the text.
  bool chat() const { return chat_ != nullptr; }
  // Where the format comes from: "manifest chat_template", "manifest template",
  // "tokenizer_config.json chat_template", "chat_template.jinja" (the folder's), or "default
  // template".
  const std::string& source() const { return source_; }
  // Identifies everything that decides the ids (for cache keys).
  const std::string& fingerprint() const { return fingerprint_; }

  // The text the decoder reads for `prompt`: [system, user] rendered by the chat template, or
  // the {prompt} template applied.
  std::string PromptText(const std::string& prompt) const;
  // Its ids, cut at the end to max_length (< 0: not cut); `truncated` says whether they were.
  std::vector<int64_t> PromptIds(const std::string& prompt, int64_t max_length = -1,
                                 bool* truncated = nullptr) const;

  // The prompt read twice ("echo"): [system, user: prompt, assistant: prompt] rendered by the chat
  // template, and where the assistant's copy lies among its ids. A decoder's token sees only what
  // precedes it, so only in the second copy has every token of the prompt seen all of it.
  struct Echo {
    std::vector<int64_t> ids;  // up to the end of the copy: later tokens cannot change it
    int64_t start = 0;         // the copy is ids[start, ids.size())
  };
  // The copy is cut at the end to max_length ids (< 0: not cut). InputError without a chat
  // template, or when the template does not write the prompt as given (so its copy cannot be
  // found).
  Echo EchoIds(const std::string& prompt, int64_t max_length = -1, bool* truncated = nullptr) const;

  // A whole conversation (an array of {"role", "content"}), chat templates only (InputError
  // otherwise).
  std::string Render(const nlohmann::ordered_json& messages, bool add_generation_prompt) const;
  std::vector<int64_t> ConversationIds(const nlohmann::ordered_json& messages,
                                       bool add_generation_prompt) const;

 private:
  std::shared_ptr<const ModelTokenizer> tokenizer_;
  std::shared_ptr<const jinja::ChatTemplate> chat_;
  LlmPromptOptions options_;
  std::string source_, fingerprint_;
};

// The folder's own chat template, or nullptr when it has none. InputError when it does not parse.
std::shared_ptr<const jinja::ChatTemplate> FolderChatTemplate(const std::filesystem::path& folder,
                                                              const ModelTokenizer& tokenizer,
                                                              std::string* source = nullptr);

}  // namespace modelgrow
