#include "common/chat_template.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "common/jinja_json.h"
#include "common/jinja_strings.h"

namespace modelgrow::jinja {

namespace {

// transformers appends this to the final message and cuts the rendered text where it lands.
constexpr std::string_view kContinueTag = "CONTINUE_FINAL_MESSAGE_TAG ";

std::string Trimmed(std::string_view text) {
  return pystr::Strip(text, std::nullopt, pystr::StripSide::kBoth);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument(path + ": cannot be opened");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// A token in tokenizer_config.json is a string or an AddedToken object {"content": ...}.
std::optional<std::string> TokenText(const nlohmann::ordered_json& token) {
  if (token.is_string()) return token.get<std::string>();
  if (token.is_object() && token.contains("content") && token["content"].is_string()) {
    return token["content"].get<std::string>();
  }
  return std::nullopt;
}

}  // namespace

nlohmann::ordered_json SpecialTokensFromConfig(const nlohmann::ordered_json& config) {
  nlohmann::ordered_json tokens = nlohmann::ordered_json::object();
  for (const char* key : {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token",
                          "cls_token", "mask_token"}) {
    if (!config.contains(key)) continue;
    std::optional<std::string> text = TokenText(config[key]);
    if (text && !text->empty()) tokens[key] = *text;
  }
  if (config.contains("additional_special_tokens") &&
      config["additional_special_tokens"].is_array()) {
    nlohmann::ordered_json extra = nlohmann::ordered_json::array();
    for (const auto& token : config["additional_special_tokens"]) {
      if (std::optional<std::string> text = TokenText(token)) extra.push_back(*text);
    }
    if (!extra.empty()) tokens["additional_special_tokens"] = extra;
  }
  return tokens;
}

ChatTemplate::ChatTemplate(std::map<std::string, JinjaTemplate> templates,
                           std::map<std::string, std::string> texts,
                           nlohmann::ordered_json special_tokens, std::string source_name)
    : templates_(std::move(templates)),
      texts_(std::move(texts)),
      special_tokens_(std::move(special_tokens)),
      source_name_(std::move(source_name)) {}

ChatTemplate::ChatTemplate(std::string_view template_text, const std::string& source_name,
                           nlohmann::ordered_json special_tokens)
    : special_tokens_(std::move(special_tokens)), source_name_(source_name) {
  if (!special_tokens_.is_object()) {
    throw std::invalid_argument(source_name + ": special tokens must be a JSON object");
  }
  templates_.emplace("", JinjaTemplate::Parse(template_text, source_name));
  texts_.emplace("", std::string(template_text));
}

ChatTemplate ChatTemplate::FromTokenizerConfig(const nlohmann::ordered_json& config,
                                               const std::string& source_name) {
  if (!config.is_object()) {
    throw std::invalid_argument(source_name + ": a tokenizer config must be a JSON object");
  }
  if (!config.contains("chat_template") || config["chat_template"].is_null()) {
    throw std::invalid_argument(source_name + ": has no chat_template");
  }
  const auto& value = config["chat_template"];
  std::map<std::string, JinjaTemplate> templates;
  std::map<std::string, std::string> texts;
  if (value.is_string()) {
    std::string text = value.get<std::string>();
    templates.emplace("", JinjaTemplate::Parse(text, source_name));
    texts.emplace("", std::move(text));
  } else if (value.is_array()) {
    for (size_t i = 0; i < value.size(); ++i) {
      const auto& entry = value[i];
      if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string() ||
          !entry.contains("template") || !entry["template"].is_string()) {
        throw std::invalid_argument(source_name + ": chat_template[" + std::to_string(i) +
                                    "] must be an object with string \"name\" and \"template\"");
      }
      std::string name = entry["name"].get<std::string>();
      std::string text = entry["template"].get<std::string>();
      templates.emplace(name, JinjaTemplate::Parse(text, source_name + " (" + name + ")"));
      texts.emplace(name, std::move(text));
    }
  } else {
    throw std::invalid_argument(source_name +
                                ": chat_template must be a string or a list of {name, template}, "
                                "got " +
                                std::string(value.type_name()));
  }
  return ChatTemplate(std::move(templates), std::move(texts), SpecialTokensFromConfig(config),
                      source_name);
}

ChatTemplate ChatTemplate::FromTokenizerConfigFile(const std::string& path) {
  nlohmann::ordered_json config;
  try {
    config = nlohmann::ordered_json::parse(ReadFile(path));
    // Not only parse_error: a number too large for a double ("1e999") is an out_of_range.
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument(path + ": not valid JSON: " + e.what());
  }
  if (config.is_object() &&
      (!config.contains("chat_template") || config["chat_template"].is_null())) {
    size_t slash = path.find_last_of('/');
    std::string folder = slash == std::string::npos ? "." : path.substr(0, slash);
    std::string jinja_path = folder + "/chat_template.jinja";
    std::ifstream probe(jinja_path);
    if (probe) {
      std::string text = ReadFile(jinja_path);
      return ChatTemplate(text, jinja_path, SpecialTokensFromConfig(config));
    }
  }
  return FromTokenizerConfig(config, path);
}

const JinjaTemplate& ChatTemplate::Select(const ChatOptions& options,
                                          const std::string** text) const {
  auto pick = [&](const std::string& name) -> const JinjaTemplate& {
    *text = &texts_.at(name);
    return templates_.at(name);
  };
  if (templates_.count("")) return pick("");
  if (!options.template_name.empty()) {
    if (!templates_.count(options.template_name)) {
      throw std::invalid_argument(source_name_ + ": has no chat template named \"" +
                                  options.template_name + "\"");
    }
    return pick(options.template_name);
  }
  if (!options.tools.is_null() && templates_.count("tool_use")) return pick("tool_use");
  if (templates_.count("default")) return pick("default");
  std::string names;
  for (const auto& [name, unused] : templates_) names += (names.empty() ? "" : ", ") + name;
  throw std::invalid_argument(source_name_ +
                              ": has several chat templates and none named \"default\"; pick one "
                              "with ChatOptions::template_name (available: " +
                              names + ")");
}

std::string ChatTemplate::Apply(const nlohmann::ordered_json& messages,
                                const ChatOptions& options) const {
  return ApplyWithGenerationSpans(messages, options).text;
}

RenderResult ChatTemplate::ApplyWithGenerationSpans(const nlohmann::ordered_json& messages,
                                                    const ChatOptions& options) const {
  if (!messages.is_array()) {
    throw std::invalid_argument("messages must be a JSON array of message objects, got " +
                                std::string(messages.type_name()));
  }
  for (size_t i = 0; i < messages.size(); ++i) {
    if (!messages[i].is_object()) {
      throw std::invalid_argument("messages[" + std::to_string(i) + "] must be an object, got " +
                                  std::string(messages[i].type_name()));
    }
  }
  if (!options.extra.is_object())
    throw std::invalid_argument("ChatOptions::extra must be a JSON object");
  for (const char* reserved : {"messages", "tools", "documents", "add_generation_prompt"}) {
    if (options.extra.contains(reserved)) {
      throw std::invalid_argument(std::string("ChatOptions::extra must not set \"") + reserved +
                                  "\"; it has its own option");
    }
  }
  if (options.continue_final_message && options.add_generation_prompt) {
    throw std::invalid_argument(
        "continue_final_message and add_generation_prompt are not compatible. Use "
        "continue_final_message when you want the model to continue the final message, and "
        "add_generation_prompt when you want to add a header that will prompt it to start a new "
        "assistant message instead.");
  }
  const std::string* text = nullptr;
  const JinjaTemplate& chat_template = Select(options, &text);

  nlohmann::ordered_json chat = messages;
  std::string final_message;
  if (options.continue_final_message) {
    if (chat.empty() || !chat.back().contains("content") || chat.back()["content"].is_null()) {
      throw std::invalid_argument(
          "continue_final_message is set but the final message has no \"content\" to continue!");
    }
    if (text->find("content") == std::string::npos) {
      throw std::invalid_argument(
          "continue_final_message is set to \"content\" but this is not an accepted field in the "
          "chat_template");
    }
    auto& content = chat.back()["content"];
    if (content.is_array()) {
      bool found = false;
      for (auto it = content.rbegin(); it != content.rend(); ++it) {
        if (it->is_object() && it->contains("text") && (*it)["text"].is_string()) {
          final_message = (*it)["text"].get<std::string>();
          (*it)["text"] = final_message + std::string(kContinueTag);
          found = true;
          break;
        }
      }
      if (!found) {
        throw std::invalid_argument(
            "continue_final_message is set but we could not find any text to continue in the "
            "final message!");
      }
    } else if (content.is_string()) {
      final_message = content.get<std::string>();
      content = final_message + std::string(kContinueTag);
    } else {
      throw std::invalid_argument(
          "continue_final_message needs the final message's content to be a string or a list of "
          "text parts");
    }
  }

  nlohmann::ordered_json context = special_tokens_;
  for (auto it = options.extra.begin(); it != options.extra.end(); ++it)
    context[it.key()] = it.value();
  context["messages"] = chat;
  context["tools"] = options.tools;
  context["documents"] = options.documents;
  context["add_generation_prompt"] = options.add_generation_prompt;

  RenderOptions render_options;
  render_options.clock = options.clock;
  RenderResult result = chat_template.RenderValue(FromJson(context), render_options);

  if (options.continue_final_message) {
    std::string& rendered = result.text;
    std::string tag = Trimmed(kContinueTag);
    std::string final_trimmed = Trimmed(final_message);
    if (rendered.find(final_trimmed) == std::string::npos ||
        rendered.find(tag) == std::string::npos) {
      throw std::invalid_argument(
          "continue_final_message is set but the final message does not appear in the chat after "
          "applying the chat template! This can happen if the chat template deletes portions of "
          "the final message. Please verify the chat template and final message in your chat to "
          "ensure they are compatible.Final message to continue: " +
          final_trimmed + "\nRendered chat:\n" + rendered);
    }
    size_t tag_at = rendered.rfind(tag);
    if (rendered.compare(tag_at, kContinueTag.size(), kContinueTag) == 0) {
      rendered.resize(tag_at);
    } else {
      rendered = pystr::Strip(std::string_view(rendered).substr(0, tag_at), std::nullopt,
                              pystr::StripSide::kRight);
    }
    for (auto& [begin, end] : result.generation_spans) {
      begin = std::min(begin, rendered.size());
      end = std::min(end, rendered.size());
    }
  }
  return result;
}

}  // namespace modelgrow::jinja
