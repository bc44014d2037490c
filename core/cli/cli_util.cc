#include "cli_util.h"

#include <fmt/format.h>

#include "commands.h"

namespace modelgrow::cli {

void ApplySets(Options& options, const std::vector<std::string>& assignments) {
  for (const std::string& a : assignments) {
    size_t eq = a.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw UsageError(fmt::format("--set expects key.path=value, got '{}'", a));
    }
    options.Set(a.substr(0, eq), a.substr(eq + 1));
  }
  options.ThrowIfProblems();
}

}  // namespace modelgrow::cli
