// modelgrow validate MANIFEST [--set key.path=value]...
#include <iostream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <boost/program_options.hpp>

#include "command_line.h"
#include "commands.h"
#include "modelgrow/experiment/manifest.h"
#include "modelgrow/host/plugin_registry.h"

namespace po = boost::program_options;

namespace modelgrow::cli {
namespace {

int RunValidate(const std::vector<std::string>& args, const GlobalOptions& global) {
  CommandLine cl(args, {"validate MANIFEST [key.path=value ...] [--set key.path=value]...",
                        "Checks a manifest and every run of its sweep without running anything: "
                        "every key, every plugin's options (plugins are constructed, nothing is "
                        "loaded), and every growth operator's check on the model it would grow "
                        "(built without weights). All problems are listed at once, with "
                        "file:line:column (or the --set / sweep value they came from) and key "
                        "path.",
                        "modelgrow validate experiments/quickstart.toml\n"
                        "modelgrow validate experiments/quickstart.toml stages.pretrain.steps=50"});
  std::string manifest_path;
  std::vector<std::string> sets, overrides;
  cl.Positional("manifest", &manifest_path);
  cl.Positional("overrides", &overrides);
  cl.Options()("set", po::value<std::vector<std::string>>(&sets)->composing(),
               "override a manifest key: --set stages.pretrain.steps=50 (repeatable)");
  if (!cl.Parse()) return 0;
  if (manifest_path.empty()) throw UsageError("validate needs a manifest file");
  for (const std::string& o : overrides) {
    if (o.find('=') == std::string::npos) {
      throw UsageError(fmt::format("unexpected argument '{}' (only key.path=value overrides)", o));
    }
    sets.push_back(o);
  }

  PluginRegistry registry;
  registry.LoadFrom(PluginRegistry::SearchPath(global.plugin_paths));
  Manifest manifest = Manifest::Load(manifest_path, sets, &registry);
  std::vector<RunSpec> runs = ExpandRuns(manifest);
  for (const RunSpec& run : runs) Manifest::FromOptions(run.doc, &registry);

  std::cout << fmt::format("{}: valid. Experiment '{}': {} run(s), stages {}\n", manifest_path,
                           manifest.experiment().name, runs.size(),
                           fmt::join(manifest.stage_order(), " -> "));
  for (const RunSpec& run : runs) std::cout << "  run " << run.id << "\n";
  for (const std::string& note : manifest.notes()) std::cout << "note: " << note << "\n";
  return 0;
}

}  // namespace

MODELGROW_CLI_COMMAND(kValidateCommand,
                      {"validate", "check a manifest (every problem at once, with positions)",
                       RunValidate, 30});

}  // namespace modelgrow::cli
