// modelgrow validate MANIFEST [--set key.path=value]...
#include <iostream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <boost/program_options.hpp>

#include "commands.h"
#include "modelgrow/experiment/manifest.h"
#include "modelgrow/host/plugin_registry.h"

namespace po = boost::program_options;

namespace modelgrow::cli {
namespace {

int RunValidate(const std::vector<std::string>& args, const GlobalOptions& global) {
  po::options_description desc(
      "modelgrow validate MANIFEST: check a manifest and every run of its sweep without running "
      "anything; all problems are listed with file:line:column and key path");
  std::string manifest_path;
  std::vector<std::string> sets;
  desc.add_options()("help,h", "show this help")("manifest", po::value<std::string>(&manifest_path),
                                                 "the manifest (TOML)")(
      "set", po::value<std::vector<std::string>>(&sets)->composing(),
      "override a manifest key: --set stages.pretrain.steps=50");
  po::positional_options_description positional;
  positional.add("manifest", 1);
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(desc).positional(positional).run(), vm);
  po::notify(vm);
  if (vm.count("help")) {
    std::cout << desc;
    return 0;
  }
  if (manifest_path.empty()) throw UsageError("validate needs a manifest file");

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
