// A model's chat template applied as transformers' tokenizer.apply_chat_template(...,
// tokenize=False) applies it: the Jinja `chat_template` of tokenizer_config.json rendered with
// the conversation, the tokenizer's special tokens and the caller's extra variables.
#pragma once

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "common/jinja_template.h"

namespace modelgrow::jinja {

struct ChatOptions {
  // Append the header that starts an assistant turn (the template reads add_generation_prompt).
  bool add_generation_prompt = false;
  // Leave the final message open so a model continues it, as transformers does: the text after
  // the final message's content is cut off. Incompatible with add_generation_prompt.
  bool continue_final_message = false;
  // Tool JSON schemas (an array), or null for none; templates see None then.
  nlohmann::ordered_json tools = nullptr;
  // Documents for retrieval-augmented templates (an array of objects), or null for none.
  nlohmann::ordered_json documents = nullptr;
  // Further template variables (enable_thinking, date_string, builtin_tools, ...). They take
  // precedence over the special tokens, as keyword arguments do in transformers.
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();
  // Picks one of several named templates (tokenizer_config.json may hold a list of
  // {name, template}); empty means transformers' choice: "tool_use" when tools are given and
  // it exists, else "default".
  std::string template_name;
  // The time strftime_now() sees; unset means now, in local time.
  Clock clock;
};

class ChatTemplate {
 public:
  // From the parsed content of a tokenizer_config.json: its chat_template (a string, or a list
  // of {"name", "template"}) and its special tokens (bos_token, eos_token, unk_token, sep_token,
  // pad_token, cls_token, mask_token as strings or {"content": ...} objects, and
  // additional_special_tokens). Throws std::invalid_argument naming `source_name` when there is
  // no usable chat_template, and TemplateError when a template does not parse.
  static ChatTemplate FromTokenizerConfig(const nlohmann::ordered_json& config,
                                          const std::string& source_name);
  // Reads `path` (a tokenizer_config.json) and, when the config has no chat_template, a
  // chat_template.jinja beside it (newer Hugging Face folders keep the template there).
  static ChatTemplate FromTokenizerConfigFile(const std::string& path);

  // One template text with explicit special tokens (a JSON object of template variables such
  // as {"bos_token": "<s>"}).
  ChatTemplate(std::string_view template_text, const std::string& source_name,
               nlohmann::ordered_json special_tokens = nlohmann::ordered_json::object());

  // Renders `messages` (an array of {"role", "content", ...} objects; content may be a string
  // or a list of parts such as {"type": "text", "text": ...}). Errors: std::invalid_argument
  // for bad arguments (with transformers' messages for continue_final_message), TemplateError
  // for template errors, including kRaised for the template's raise_exception().
  std::string Apply(const nlohmann::ordered_json& messages, const ChatOptions& options = {}) const;
  // The same, with the byte spans {% generation %} blocks produced (transformers'
  // return_assistant_tokens_mask), clamped to the text when continue_final_message cuts it.
  RenderResult ApplyWithGenerationSpans(const nlohmann::ordered_json& messages,
                                        const ChatOptions& options = {}) const;

  // The template variables taken from the tokenizer config.
  const nlohmann::ordered_json& special_tokens() const { return special_tokens_; }

 private:
  ChatTemplate(std::map<std::string, JinjaTemplate> templates,
               std::map<std::string, std::string> texts, nlohmann::ordered_json special_tokens,
               std::string source_name);

  const JinjaTemplate& Select(const ChatOptions& options, const std::string** text) const;

  std::map<std::string, JinjaTemplate> templates_;  // "" holds a single unnamed template
  std::map<std::string, std::string> texts_;
  nlohmann::ordered_json special_tokens_;
  std::string source_name_;
};

// The special-token variables transformers passes to chat templates (its special_tokens_map:
// only tokens that are set and non-empty), read from a tokenizer_config.json object.
nlohmann::ordered_json SpecialTokensFromConfig(const nlohmann::ordered_json& config);

}  // namespace modelgrow::jinja
