// modelgrow run MANIFEST [--out DIR] [--set key=value]... [--resume] [--only N] [--no-report]
// modelgrow sweep MANIFEST --emit slurm [--out DIR] [--set ...]
// modelgrow report DIR
#include <iostream>

#include <fmt/format.h>
#include <boost/program_options.hpp>

#include "commands.h"
#include "modelgrow/experiment/manifest.h"
#include "modelgrow/experiment/report.h"
#include "modelgrow/experiment/runner.h"
#include "modelgrow/experiment/slurm_script.h"
#include "modelgrow/host/plugin_registry.h"

namespace po = boost::program_options;

namespace modelgrow::cli {
namespace {

struct ManifestArgs {
  std::string manifest;
  std::string out;
  std::vector<std::string> sets;
};

void AddManifestOptions(po::options_description& desc, ManifestArgs& a) {
  desc.add_options()("manifest", po::value<std::string>(&a.manifest),
                     "the experiment manifest (TOML)")(
      "out", po::value<std::string>(&a.out),
      "output folder (default: experiment.out, else runs/<experiment name>)")(
      "set", po::value<std::vector<std::string>>(&a.sets)->composing(),
      "override a manifest key before validation, e.g. --set stages.pretrain.steps=50");
}

int RunRun(const std::vector<std::string>& args, const GlobalOptions& global) {
  po::options_description desc(
      "modelgrow run MANIFEST: run an experiment (every run of its sweep, stage by stage, shared "
      "stages once), then write its report");
  ManifestArgs a;
  int64_t only = -1;
  desc.add_options()("help,h", "show this help")(
      "resume", "continue interrupted training stages from their last checkpoint")(
      "only", po::value<int64_t>(&only),
      "run only the run with this index (0-based; Slurm array task)")(
      "no-report", "do not write the report at the end");
  AddManifestOptions(desc, a);
  po::positional_options_description positional;
  positional.add("manifest", 1);
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(desc).positional(positional).run(), vm);
  po::notify(vm);
  if (vm.count("help")) {
    std::cout << desc;
    return 0;
  }
  if (a.manifest.empty()) throw UsageError("run needs a manifest file");
  PluginRegistry registry;
  registry.LoadFrom(PluginRegistry::SearchPath(global.plugin_paths));
  Manifest manifest = Manifest::Load(a.manifest, a.sets, &registry);
  RunnerOptions options;
  options.out = a.out;
  options.resume = vm.count("resume") > 0;
  options.report = vm.count("no-report") == 0;
  if (only >= 0) options.only = static_cast<size_t>(only);
  ExperimentRunner runner(registry, std::move(manifest), options);
  runner.Run();
  return 0;
}

int RunSweep(const std::vector<std::string>& args, const GlobalOptions& global) {
  po::options_description desc(
      "modelgrow sweep MANIFEST --emit slurm: write a Slurm job-array script with one task per run "
      "(same binary, same output layout as `run`) and a report job after them");
  ManifestArgs a;
  std::string emit;
  desc.add_options()("help,h", "show this help")("emit", po::value<std::string>(&emit),
                                                 "what to write: slurm");
  AddManifestOptions(desc, a);
  po::positional_options_description positional;
  positional.add("manifest", 1);
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(desc).positional(positional).run(), vm);
  po::notify(vm);
  if (vm.count("help")) {
    std::cout << desc;
    return 0;
  }
  if (a.manifest.empty()) throw UsageError("sweep needs a manifest file");
  if (emit != "slurm") throw UsageError("sweep needs --emit slurm");
  PluginRegistry registry;
  registry.LoadFrom(PluginRegistry::SearchPath(global.plugin_paths));
  Manifest manifest = Manifest::Load(a.manifest, a.sets, &registry);
  for (const RunSpec& run : ExpandRuns(manifest)) Manifest::FromOptions(run.doc, &registry);
  std::filesystem::path out = !a.out.empty() ? std::filesystem::path(a.out)
                              : !manifest.experiment().out.empty()
                                  ? std::filesystem::path(manifest.experiment().out)
                                  : std::filesystem::path("runs") / manifest.experiment().name;
  // The array tasks load the plugins this command validated the manifest with.
  std::vector<std::string> global_args;
  for (const auto& p : global.plugin_paths) {
    global_args.push_back("--plugin-path");
    global_args.push_back(std::filesystem::absolute(p).string());
  }
  if (global.threads > 0) global_args.push_back(fmt::format("--threads={}", global.threads));
  std::cout << SlurmScript(manifest, std::filesystem::absolute(a.manifest),
                           std::filesystem::absolute(out), a.sets,
                           (ExecutableDir() / "modelgrow").string(), global_args);
  return 0;
}

int RunReport(const std::vector<std::string>& args, const GlobalOptions&) {
  po::options_description desc(
      "modelgrow report DIR: (re)write the Markdown, CSV and HTML report of an experiment folder");
  std::string dir;
  desc.add_options()("help,h", "show this help")("dir", po::value<std::string>(&dir),
                                                 "experiment output folder");
  po::positional_options_description positional;
  positional.add("dir", 1);
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(desc).positional(positional).run(), vm);
  po::notify(vm);
  if (vm.count("help")) {
    std::cout << desc;
    return 0;
  }
  if (dir.empty()) throw UsageError("report needs an experiment folder");
  WriteReport(dir);
  return 0;
}

}  // namespace

MODELGROW_CLI_COMMAND(kRunCommand,
                      {"run", "run an experiment manifest: its stages, sweep and report", RunRun,
                       40});
MODELGROW_CLI_COMMAND(kSweepCommand,
                      {"sweep", "write a Slurm job array for a manifest's runs", RunSweep, 41});
MODELGROW_CLI_COMMAND(kReportCommand,
                      {"report", "write the tables and HTML report of an experiment", RunReport,
                       42});

}  // namespace modelgrow::cli
