#include "common/jinja_template.h"

#include <stdexcept>

#include "common/jinja_interpreter.h"
#include "common/jinja_json.h"
#include "common/jinja_parser.h"

namespace modelgrow::jinja {

namespace {

template <typename Json>
Value ContextValue(const Json& context) {
  if (!context.is_object()) {
    throw std::invalid_argument(std::string("the render context must be a JSON object, got ") +
                                context.type_name());
  }
  return FromJson(context);
}

}  // namespace

JinjaTemplate JinjaTemplate::Parse(std::string_view text, std::string source_name,
                                   const LexerOptions& options) {
  auto name = std::make_shared<const std::string>(std::move(source_name));
  std::vector<Token> tokens = Tokenize(text, *name, options);
  auto body = std::make_shared<const Body>(jinja::Parse(tokens, *name));
  return JinjaTemplate(std::move(name), std::move(body));
}

std::string JinjaTemplate::Render(const nlohmann::ordered_json& context,
                                  const RenderOptions& options) const {
  return RenderValue(ContextValue(context), options).text;
}

std::string JinjaTemplate::Render(const nlohmann::json& context,
                                  const RenderOptions& options) const {
  return RenderValue(ContextValue(context), options).text;
}

RenderResult JinjaTemplate::RenderValue(const Value& context, const RenderOptions& options) const {
  if (!context.is_dict()) {
    throw std::invalid_argument("the render context must be a dict, got " + TypeName(context));
  }
  auto globals = std::make_shared<Scope>(nullptr);
  for (const auto& [key, value] : context.AsDict().entries()) {
    if (!key.is_string()) {
      throw std::invalid_argument("render context keys must be strings, got " + TypeName(key));
    }
    globals->Set(key.AsString(), value);
  }
  Interpreter interpreter(*source_name_, options.clock);
  RenderResult result;
  result.text = interpreter.Render(*body_, std::move(globals));
  result.generation_spans = interpreter.generation_spans();
  return result;
}

}  // namespace modelgrow::jinja
