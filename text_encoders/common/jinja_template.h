// A parsed Jinja template, rendered with the output Python's jinja2 gives for it in the
// environment transformers uses for chat templates:
//   ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
//                                 extensions=[AssistantTracker, jinja2.ext.loopcontrols])
// with transformers' tojson filter and its raise_exception and strftime_now globals.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/jinja_ast.h"
#include "common/jinja_builtins.h"
#include "common/jinja_error.h"
#include "common/jinja_lexer.h"
#include "common/jinja_value.h"

namespace modelgrow::jinja {

struct RenderOptions {
  // The time strftime_now() formats; unset means the local time at the call, as transformers
  // does. Tests pin it.
  Clock clock;
};

struct RenderResult {
  std::string text;
  // [begin, end) UTF-8 byte offsets into `text` of what each {% generation %} block rendered
  // (transformers reports the same spans in Python characters for its assistant token mask).
  // Only blocks whose output goes straight to the template output are recorded, as
  // transformers' tracker only sees those.
  std::vector<std::pair<size_t, size_t>> generation_spans;
};

class JinjaTemplate {
 public:
  // Parses `text`; errors are TemplateErrors naming `source_name` with line and column.
  // `options` defaults to transformers' trim_blocks/lstrip_blocks settings.
  static JinjaTemplate Parse(std::string_view text, std::string source_name,
                             const LexerOptions& options = {});

  // Renders with the members of `context` (a JSON object) as template variables. Use
  // nlohmann::ordered_json to keep key order as Python keeps it (tojson and dict iteration
  // show it); nlohmann::json sorts keys. A context that is not an object is an
  // std::invalid_argument; template errors are TemplateErrors.
  std::string Render(const nlohmann::ordered_json& context,
                     const RenderOptions& options = {}) const;
  std::string Render(const nlohmann::json& context, const RenderOptions& options = {}) const;
  // The same, with template variables given as values (a dict Value) and generation spans.
  RenderResult RenderValue(const Value& context, const RenderOptions& options = {}) const;

  const std::string& source_name() const { return *source_name_; }

 private:
  JinjaTemplate(std::shared_ptr<const std::string> source_name, std::shared_ptr<const Body> body)
      : source_name_(std::move(source_name)), body_(std::move(body)) {}

  // Shared so that copies of a template are cheap and share the tree.
  std::shared_ptr<const std::string> source_name_;
  std::shared_ptr<const Body> body_;
};

}  // namespace modelgrow::jinja
