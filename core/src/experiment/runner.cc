#include "modelgrow/experiment/runner.h"

#include <unistd.h>

#include <chrono>
#include <iostream>
#include <optional>

#include <fmt/format.h>
#include <torch/cuda.h>
#include <nlohmann/json.hpp>

#include "modelgrow/base/console_log.h"
#include "modelgrow/base/provenance.h"
#include "modelgrow/base/threads.h"
#include "modelgrow/experiment/folder_lock.h"
#include "modelgrow/experiment/report.h"
#include "modelgrow/sdk/atomic_file.h"
#include "run_context.h"

namespace modelgrow {

namespace fs = std::filesystem;
using json = nlohmann::json;

c10::Device ResolveDevice(const std::string& name, int local_rank) {
  if (name == "cuda" || (name == "auto" && torch::cuda::is_available())) {
    if (!torch::cuda::is_available()) {
      throw InputError("experiment.device = \"cuda\" but this LibTorch sees no CUDA device");
    }
    int64_t devices = static_cast<int64_t>(torch::cuda::device_count());
    if (local_rank >= devices) {
      throw InputError(fmt::format(
          "worker with local rank {} needs cuda:{}, but this machine shows {} GPU(s): start at "
          "most one worker per GPU (--nproc-per-node {})",
          local_rank, local_rank, devices, devices));
    }
    return c10::Device(c10::DeviceType::CUDA, static_cast<c10::DeviceIndex>(local_rank));
  }
  return c10::Device(c10::DeviceType::CPU);
}

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
      device_(c10::DeviceType::CPU),
      comm_(options_.comm != nullptr ? options_.comm : &single_) {
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
  // Every training stage splits its global batch into equal parts, one per rank: checked for
  // every run now, not after hours of an earlier stage.
  for (const RunSpec& run : runs_) {
    Manifest m = Manifest::FromOptions(run.doc, nullptr);
    for (const auto& [name, stage] : m.stages()) {
      bool trains = stage.kind == StageKind::kPretrain || stage.kind == StageKind::kContinue;
      if (trains && stage.train.batch_size % comm_->size() != 0) {
        throw InputError(fmt::format(
            "{}: stages.{}.batch_size = {} does not divide evenly among {} ranks{}: the global "
            "batch is split into equal parts, so choose a multiple of the world size",
            m.doc().Table("stages").Table(name).Position("batch_size").ToString(), name,
            stage.train.batch_size, comm_->size(),
            runs_.size() > 1 ? fmt::format(" (in sweep run {})", run.id) : ""));
      }
    }
  }
  device_ = options_.device
                ? *options_.device
                : ResolveDevice(manifest_.experiment().device, comm_->world().local_rank);
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
  // Rank 0 claims the run folder for the whole run and writes its records; a refusal reaches
  // every rank. The other ranks' output reaches the console through their launcher.
  std::optional<FolderLock> claim;
  std::unique_ptr<ConsoleLog> console;
  std::unique_ptr<TensorBoardWriter> tensorboard;
  comm_->OnRoot(fmt::format("run/{}/claimed", run.id), [&] {
    fs::create_directories(dir);
    claim.emplace(FolderLock::AcquireOrRefuse(dir / "run.lock", fmt::format("run '{}'", run.id)));
    console = std::make_unique<ConsoleLog>(dir / "console.log");
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
    provenance["world_size"] = comm_->size();
    if (comm_->distributed()) provenance["backend"] = comm_->backend();
    provenance["started"] = previous.is_object() && previous.contains("started")
                                ? previous["started"]
                                : json(UtcTimestamp());
    provenance["updated"] = UtcTimestamp();
    WriteFileAtomic(dir / "provenance.json", provenance.dump(2) + "\n");
    // The run's TensorBoard file is written anew from its stages' records on every invocation
    // (reused stages included), so the folder never holds two copies of one curve.
    if (TensorBoardWriter::Available()) {
      std::error_code ec;
      fs::remove_all(dir / "tensorboard", ec);
      tensorboard = std::make_unique<TensorBoardWriter>(dir / "tensorboard");
    }
    return std::string();
  });
  RunContext context(registry_, m, run, options_.out, dir, device_, options_.resume, *comm_,
                     tensorboard.get());
  context.Execute();
}

fs::path ExperimentRunner::Run() {
  const bool root = comm_->is_root();
  if (manifest_.experiment().threads > 0) ConfigureThreads(manifest_.experiment().threads);
  // A whole experiment claims its output folder before writing anything there, so a second
  // `modelgrow run` of it refuses, naming the first, and leaves its manifest.toml alone. Array
  // tasks (--only) of one sweep share the folder by design: they claim their run and stages.
  std::optional<FolderLock> claim;
  comm_->OnRoot("manifest written", [&] {
    fs::create_directories(options_.out);
    if (!options_.only) {
      claim.emplace(FolderLock::AcquireOrRefuse(
          options_.out / "experiment.lock",
          fmt::format("experiment '{}' in {}", manifest_.experiment().name,
                      options_.out.string())));
    }
    WriteFileAtomic(options_.out / "manifest.toml", manifest_.doc().ToToml() + "\n");
    return std::string();
  });
  if (root && comm_->distributed()) {
    std::cerr << fmt::format("== {} ranks ({}, {} backend), {} on rank 0\n", comm_->size(),
                             comm_->world().source, comm_->backend(), device_.str());
  } else if (comm_->distributed()) {
    // One line per worker, so a log shows every rank joined and where it computes.
    std::cerr << fmt::format("== rank {} of {} joined, on {} (pid {})\n", comm_->rank(),
                             comm_->size(), device_.str(), ::getpid());
  }
  auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < runs_.size(); ++i) {
    if (options_.only && *options_.only != i) continue;
    if (root) std::cerr << fmt::format("== run {}/{}: {}\n", i + 1, runs_.size(), runs_[i].id);
    RunOne(runs_[i]);
  }
  if (!root) return {};
  std::cerr << fmt::format(
      "== {} run(s) finished in {:.1f} min\n", options_.only ? 1 : runs_.size(),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / 60);
  if (!options_.report) return {};
  return WriteReport(options_.out);
}

}  // namespace modelgrow
