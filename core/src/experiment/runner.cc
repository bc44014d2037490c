#include "modelgrow/experiment/runner.h"

#include <chrono>
#include <iostream>

#include <fmt/format.h>
#include <torch/cuda.h>
#include <nlohmann/json.hpp>

#include "modelgrow/base/console_log.h"
#include "modelgrow/base/provenance.h"
#include "modelgrow/base/threads.h"
#include "modelgrow/experiment/report.h"
#include "modelgrow/sdk/atomic_file.h"
#include "run_context.h"

namespace modelgrow {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

c10::Device ResolveDevice(const std::string& name) {
  if (name == "cuda" || (name == "auto" && torch::cuda::is_available())) {
    if (!torch::cuda::is_available()) {
      throw InputError("experiment.device = \"cuda\" but this LibTorch sees no CUDA device");
    }
    return c10::Device(c10::DeviceType::CUDA, 0);
  }
  return c10::Device(c10::DeviceType::CPU);
}

}  // namespace

std::string RunFolderName(const std::string& run_id) {
  std::string name;
  for (char c : run_id) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '=' || c == ',' || c == '.' ||
              c == '-' || c == '_';
    name += ok ? c : '_';
  }
  return name.empty() ? "run" : name;
}

ExperimentRunner::ExperimentRunner(const PluginRegistry& registry, Manifest manifest,
                                   RunnerOptions options)
    : registry_(registry),
      manifest_(std::move(manifest)),
      options_(std::move(options)),
      device_(c10::DeviceType::CPU) {
  runs_ = ExpandRuns(manifest_);
  // Every run's manifest is checked before any work starts. A problem only a sweep value causes
  // sits at the key it sets, so the message names the run that set it.
  for (const RunSpec& run : runs_) {
    try {
      Manifest::FromOptions(run.doc, &registry_);
    } catch (const ValidationError& e) {
      std::vector<Problem> problems = e.problems();
      for (Problem& p : problems) p.message += fmt::format(" (in sweep run {})", run.id);
      throw ValidationError(std::move(problems));
    }
  }
  if (options_.only && *options_.only >= runs_.size()) {
    throw InputError(fmt::format("--only {}: the manifest has {} run(s) (0..{})", *options_.only,
                                 runs_.size(), runs_.size() - 1));
  }
  device_ = options_.device ? *options_.device : ResolveDevice(manifest_.experiment().device);
  if (options_.out.empty()) {
    options_.out = manifest_.experiment().out.empty()
                       ? fs::path("runs") / manifest_.experiment().name
                       : fs::path(manifest_.experiment().out);
  }
}

fs::path ExperimentRunner::RunDir(const RunSpec& run) const {
  return options_.out / "runs" / RunFolderName(run.id);
}

void ExperimentRunner::RunOne(const RunSpec& run) {
  Manifest m = Manifest::FromOptions(run.doc, &registry_);
  fs::path dir = RunDir(run);
  fs::create_directories(dir);
  ConsoleLog console(dir / "console.log");
  // The run as a manifest of its own: `modelgrow run` on it repeats exactly this run.
  Options resolved = run.doc.Clone();
  resolved.Erase("sweep");
  resolved.Set("experiment.seeds", fmt::format("[{}]", run.seed), "the run's seed");
  WriteFileAtomic(dir / "manifest.resolved.toml", resolved.ToToml());
  // A rerun keeps when the run first started; `updated` and `command` say what touched it last.
  json previous = ReadJsonIfExists(dir / "provenance.json");
  json provenance = BuildProvenance();
  provenance["seed"] = run.seed;
  provenance["device"] = device_.str();
  provenance["run"] = run.id;
  provenance["command"] = options_.command_line;
  provenance["started"] = previous.is_object() && previous.contains("started")
                              ? previous["started"]
                              : json(UtcTimestamp());
  provenance["updated"] = UtcTimestamp();
  WriteFileAtomic(dir / "provenance.json", provenance.dump(2) + "\n");
  // The run's TensorBoard file is written anew from its stages' records on every invocation
  // (reused stages included), so the folder never holds two copies of one curve.
  std::unique_ptr<TensorBoardWriter> tensorboard;
  if (TensorBoardWriter::Available()) {
    std::error_code ec;
    fs::remove_all(dir / "tensorboard", ec);
    tensorboard = std::make_unique<TensorBoardWriter>(dir / "tensorboard");
  }
  RunContext context(registry_, m, run, options_.out, dir, device_, options_.resume,
                     tensorboard.get());
  context.Execute();
}

fs::path ExperimentRunner::Run() {
  fs::create_directories(options_.out);
  if (manifest_.experiment().threads > 0) ConfigureThreads(manifest_.experiment().threads);
  WriteFileAtomic(options_.out / "manifest.toml", manifest_.doc().ToToml() + "\n");
  auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < runs_.size(); ++i) {
    if (options_.only && *options_.only != i) continue;
    std::cerr << fmt::format("== run {}/{}: {}\n", i + 1, runs_.size(), runs_[i].id);
    RunOne(runs_[i]);
  }
  std::cerr << fmt::format(
      "== {} run(s) finished in {:.1f} min\n", options_.only ? 1 : runs_.size(),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / 60);
  if (!options_.report) return {};
  return WriteReport(options_.out);
}

}  // namespace modelgrow
