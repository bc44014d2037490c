#include "rewriter_choice.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "commands.h"

namespace modelgrow::cli {

std::shared_ptr<PromptRewriter> MakeRewriter(const PluginRegistry& registry,
                                             const std::filesystem::path& folder,
                                             const std::string& plugin,
                                             const std::vector<std::string>& sets,
                                             c10::Device device) {
  std::string name = plugin;
  if (name.empty()) {
    std::vector<std::string> offering;
    for (const PluginInfo& info : registry.List(PluginKind::kText)) {
      if (info.rewrites_prompts) offering.push_back(info.name);
    }
    if (offering.size() != 1) {
      throw UsageError(fmt::format(
          "{} text plugins rewrite prompts ({}); name one with --rewrite-plugin", offering.size(),
          offering.empty() ? "none on the plugin search path"
                           : fmt::format("{}", fmt::join(offering, ", "))));
    }
    name = offering.front();
  }
  Options options = Options::Empty("--set");
  ApplySets(options, sets);
  options.Set("path", nlohmann::json(folder.string()).dump());
  PluginContext context;
  context.options = options;
  context.device = device;
  std::shared_ptr<PromptRewriter> rewriter = registry.MakePromptRewriter(name, context);
  rewriter->Load();
  return rewriter;
}

}  // namespace modelgrow::cli
