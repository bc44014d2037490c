#include "common/prompt_template.h"

#include <fmt/format.h>

#include "modelgrow/sdk/errors.h"

namespace modelgrow {

namespace {
constexpr std::string_view kSlot = "{prompt}";
}

std::vector<std::string> LlmTemplateMarkers() {
  return {"<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"};
}

void CheckTemplate(std::string_view text_template, std::string_view where) {
  size_t first = text_template.find(kSlot);
  if (first == std::string_view::npos ||
      text_template.find(kSlot, first + kSlot.size()) != std::string_view::npos) {
    throw InputError(fmt::format(
        "{}: the template must contain {{prompt}} exactly once, got \"{}\"", where, text_template));
  }
}

std::string ApplyTemplate(std::string_view text_template, std::string_view prompt) {
  CheckTemplate(text_template, "template");
  size_t at = text_template.find(kSlot);
  std::string out(text_template.substr(0, at));
  out += prompt;
  out += text_template.substr(at + kSlot.size());
  return out;
}

}  // namespace modelgrow
