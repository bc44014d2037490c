// Picks the text plugin that rewrites prompts for `modelgrow rewrite` and `modelgrow sample
// --rewrite-with`: the one named, or the only plugin on the search path that offers a Rewriter.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <c10/core/Device.h>

#include "modelgrow/host/plugin_registry.h"
#include "modelgrow/sdk/prompt_rewriter.h"

namespace modelgrow::cli {

// The rewriter of `plugin` (empty: the only text plugin with a Rewriter) for the model folder,
// with `sets` (key=value) as its options, loaded. UsageError when no plugin or several qualify.
std::shared_ptr<PromptRewriter> MakeRewriter(const PluginRegistry& registry,
                                             const std::filesystem::path& folder,
                                             const std::string& plugin,
                                             const std::vector<std::string>& sets,
                                             c10::Device device);

}  // namespace modelgrow::cli
