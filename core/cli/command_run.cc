// modelgrow run MANIFEST [key=value ...] [--out DIR] [--set key=value]... [--resume] [--only N]
//               [--nproc-per-node N [--master-port P]] [--backend B] [--join-timeout S]
// modelgrow sweep MANIFEST --emit slurm [--out DIR] [--set ...]
// modelgrow report DIR [--prune] [--quote-into DOC.md]
#include <algorithm>
#include <iostream>
#include <thread>

#include <fmt/format.h>
#include <boost/program_options.hpp>

#include "command_line.h"
#include "commands.h"
#include "launcher.h"
#include "modelgrow/base/interruption.h"
#include "modelgrow/dist/communicator.h"
#include "modelgrow/dist/world.h"
#include "modelgrow/experiment/manifest.h"
#include "modelgrow/experiment/report.h"
#include "modelgrow/experiment/report_quote.h"
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
  std::vector<std::string> overrides;  // positional key=value after the manifest (Hydra style)

  // Every override in order: the --set ones, then the positional ones.
  std::vector<std::string> AllSets() const {
    std::vector<std::string> all = sets;
    for (const std::string& o : overrides) {
      if (o.find('=') == std::string::npos) {
        throw UsageError(fmt::format(
            "unexpected argument '{}' (after the manifest, only key.path=value overrides)", o));
      }
      all.push_back(o);
    }
    return all;
  }
};

void AddManifestArgs(CommandLine& cl, ManifestArgs& a) {
  cl.Positional("manifest", &a.manifest);
  cl.Positional("overrides", &a.overrides);
  cl.Options()("out", po::value<std::string>(&a.out),
               "output folder (default: experiment.out, else runs/<experiment name>)")(
      "set", po::value<std::vector<std::string>>(&a.sets)->composing(),
      "override a manifest key before validation (repeatable; `key.path=value` after the "
      "manifest does the same); missing tables on the path are created");
}

// `args` without the launcher's own options (both "--name value" and "--name=value").
std::vector<std::string> WithoutOptions(const std::vector<std::string>& args,
                                        const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (size_t i = 0; i < args.size(); ++i) {
    bool skip = false;
    for (const std::string& name : names) {
      if (args[i] == name) {
        skip = true;
        ++i;  // and its value
      } else if (args[i].rfind(name + "=", 0) == 0) {
        skip = true;
      }
    }
    if (!skip) out.push_back(args[i]);
  }
  return out;
}

std::string CommandLineText(const std::vector<std::string>& args, const char* command) {
  std::string text = std::string("modelgrow ") + command;
  for (const std::string& a : args) text += " " + a;
  return text;
}

int RunRun(const std::vector<std::string>& args, const GlobalOptions& global) {
  CommandLine cl(
      args,
      {"run MANIFEST [key.path=value ...] [options]",
       "Runs an experiment: every run of its sweep, stage by stage (stages shared by several runs "
       "once; finished ones reused), then writes its report. Ctrl-C or SIGTERM stops training "
       "after the current step with a checkpoint; --resume continues from there. A stage left "
       "part-trained is never restarted silently: the run stops and says so. Started by torchrun "
       "or srun (RANK, WORLD_SIZE, ... or SLURM_PROCID, ... in the environment), or with "
       "--nproc-per-node, it trains on several processes (docs/distributed.md).",
       "modelgrow run experiments/quickstart.toml\n"
       "modelgrow run experiments/quickstart.toml stages.pretrain.steps=50 --out runs/short\n"
       "modelgrow run experiments/quickstart.toml --nproc-per-node 2\n"
       "modelgrow run experiments/paper/expansion.toml --only 3 --no-report --resume"});
  ManifestArgs a;
  int64_t only = -1;
  int nproc = 0;
  int master_port = 0;
  std::string backend = "auto";
  int join_timeout = 300;
  AddManifestArgs(cl, a);
  cl.Options()("resume", "continue interrupted training stages from their last checkpoint")(
      "only", po::value<int64_t>(&only),
      "run only the run with this index (0-based; a Slurm array task)")(
      "no-report", "do not write the report at the end")(
      "nproc-per-node", po::value<int>(&nproc),
      "start this many worker processes on this machine (as torchrun --standalone)")(
      "master-port", po::value<int>(&master_port),
      "with --nproc-per-node: the rendezvous port (default: a free one)")(
      "backend", po::value<std::string>(&backend)->default_value("auto"),
      "collectives: auto (NCCL on GPUs when built with it, else Gloo), gloo or nccl")(
      "join-timeout", po::value<int>(&join_timeout)->default_value(300),
      "seconds every worker waits for all the others to join");
  if (!cl.Parse()) return 0;
  if (a.manifest.empty()) throw UsageError("run needs a manifest file (modelgrow help run)");
  if (join_timeout < 1) throw UsageError("--join-timeout must be at least 1 second");
  if (cl.Has("master-port") && (master_port < 1 || master_port > 65535)) {
    throw UsageError(fmt::format("--master-port {}: expected a port in 1..65535", master_port));
  }
  WorldInfo world = ReadWorld(ProcessEnvironment());
  PluginRegistry registry;
  registry.LoadFrom(PluginRegistry::SearchPath(global.plugin_paths));
  Manifest manifest = Manifest::Load(a.manifest, a.AllSets(), &registry);

  if (cl.Has("nproc-per-node")) {
    if (nproc < 1 || nproc > 1024) {
      throw UsageError(fmt::format("--nproc-per-node {}: expected 1..1024 workers", nproc));
    }
    if (world.source != "single process") {
      throw UsageError(fmt::format(
          "--nproc-per-node starts workers itself, but this process already is rank {} of {} "
          "({}); start it without --nproc-per-node",
          world.rank, world.size, world.source));
    }
    for (const std::string& note : manifest.notes()) std::cerr << "note: " << note << "\n";
    LaunchSpec spec;
    spec.nproc = nproc;
    spec.master_port = master_port;
    spec.argv.push_back((ExecutableDir() / "modelgrow").string());
    for (const auto& p : global.plugin_paths) {
      spec.argv.push_back("--plugin-path");
      spec.argv.push_back(std::filesystem::absolute(p).string());
    }
    if (global.threads > 0) {
      spec.argv.push_back(fmt::format("--threads={}", global.threads));
    } else if (std::getenv("OMP_NUM_THREADS") == nullptr) {
      // As torchrun does: the cores are shared out, not each claimed by every worker.
      int cores = static_cast<int>(std::thread::hardware_concurrency());
      spec.environment["OMP_NUM_THREADS"] = std::to_string(std::max(1, cores / nproc));
    }
    spec.argv.push_back("run");
    for (std::string& arg : WithoutOptions(args, {"--nproc-per-node", "--master-port"})) {
      spec.argv.push_back(arg);
    }
    return LaunchLocalWorkers(spec);
  }
  if (cl.Has("master-port")) throw UsageError("--master-port goes with --nproc-per-node");
  if (world.rank == 0) {
    for (const std::string& note : manifest.notes()) std::cerr << "note: " << note << "\n";
  }

  RunnerOptions options;
  options.out = a.out;
  options.resume = cl.Has("resume");
  options.report = !cl.Has("no-report");
  options.command_line = CommandLineText(args, "run");
  if (only >= 0) options.only = static_cast<size_t>(only);
  JoinOptions join;
  join.backend = backend;
  join.device = ResolveDevice(manifest.experiment().device, world.local_rank);
  join.join_timeout = std::chrono::seconds(join_timeout);
  // Handlers first: a Ctrl-C while waiting for the other workers still stops this one cleanly.
  InstallInterruptionHandlers();
  std::unique_ptr<Communicator> comm = Communicator::Join(world, join);
  options.comm = comm.get();
  ExperimentRunner runner(registry, std::move(manifest), options);
  runner.Run();
  return 0;
}

int RunSweep(const std::vector<std::string>& args, const GlobalOptions& global) {
  CommandLine cl(args, {"sweep MANIFEST [key.path=value ...] --emit slurm [options]",
                        "Writes a Slurm job-array script with one array task per run of the "
                        "manifest (the same binary, the same output layout as `run`) and a "
                        "report job after them, to stdout.",
                        "modelgrow sweep experiments/paper/expansion.toml --emit slurm > job.sh\n"
                        "sbatch job.sh"});
  ManifestArgs a;
  std::string emit;
  AddManifestArgs(cl, a);
  cl.Options()("emit", po::value<std::string>(&emit), "what to write: slurm");
  if (!cl.Parse()) return 0;
  if (a.manifest.empty()) throw UsageError("sweep needs a manifest file (modelgrow help sweep)");
  if (emit != "slurm") throw UsageError("sweep needs --emit slurm");
  PluginRegistry registry;
  registry.LoadFrom(PluginRegistry::SearchPath(global.plugin_paths));
  std::vector<std::string> sets = a.AllSets();
  Manifest manifest = Manifest::Load(a.manifest, sets, &registry);
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
  // Slurm opens each task's log before the task runs, and does not create its folder.
  std::filesystem::create_directories(std::filesystem::absolute(out) / "slurm");
  std::cout << SlurmScript(manifest, std::filesystem::absolute(a.manifest),
                           std::filesystem::absolute(out), sets,
                           (ExecutableDir() / "modelgrow").string(), global_args);
  return 0;
}

int RunReport(const std::vector<std::string>& args, const GlobalOptions&) {
  CommandLine cl(args,
                 {"report DIR [--prune] [--quote-into DOC.md]",
                  "(Re)writes the Markdown, CSV and HTML report of an experiment folder from "
                  "the runs of its manifest.toml. Run folders another manifest left there are "
                  "listed with a warning and left out; --prune removes them. --quote-into "
                  "replaces the lines between `<!-- modelgrow report: NAME -->` and `<!-- end "
                  "modelgrow report: NAME -->` of a Markdown document with report.md, so that "
                  "documentation quotes the report instead of copying its numbers.",
                  "modelgrow report runs/quickstart\n"
                  "modelgrow report runs/quickstart --prune\n"
                  "modelgrow report runs/expansion --quote-into docs/reproducing.md"});
  std::string dir, document;
  cl.Positional("dir", &dir);
  cl.Options()("prune", "remove run folders that are not runs of the folder's manifest")(
      "quote-into", po::value<std::string>(&document),
      "a Markdown file whose marked block becomes this report (see above)");
  if (!cl.Parse()) return 0;
  if (dir.empty()) throw UsageError("report needs an experiment folder (modelgrow help report)");
  WriteReport(dir, cl.Has("prune"));
  if (!document.empty()) {
    QuoteReport(dir, document);
    std::cerr << fmt::format("report: quoted into {}\n", document);
  }
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
