// Small pieces several subcommands share.
#pragma once

#include <string>
#include <vector>

#include "modelgrow/sdk/options.h"

namespace modelgrow::cli {

// Applies `key.path=value` assignments (from repeated --set) to `options`; a malformed one is a
// UsageError naming it.
void ApplySets(Options& options, const std::vector<std::string>& assignments);

}  // namespace modelgrow::cli
