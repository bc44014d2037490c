#include "modelgrow/sdk/name_pattern.h"

#include <fmt/format.h>

#include "modelgrow/sdk/errors.h"

namespace modelgrow {

std::regex DottedNamePattern(const std::string& pattern, NameScope scope) {
  const char* below = scope == NameScope::kModuleAndBelow ? "(?:\\..*)?" : "";
  try {
    return std::regex(fmt::format("(?:.*\\.)?(?:{}){}", pattern, below), std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    throw InputError(fmt::format("'{}' is not a valid regular expression ({})", pattern, e.what()));
  }
}

}  // namespace modelgrow
