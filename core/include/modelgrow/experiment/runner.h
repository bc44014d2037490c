// Runs an experiment manifest: every run of its sweep, stage by stage, then the report.
//
// Output folder:
//   manifest.toml                 the manifest as given (with --set applied)
//   cache/<stage>-<hash>/         one folder per distinct stage; the hash covers everything that
//                                 determines the stage's result, so runs share common prefixes
//                                 (e.g. one pre-training for every growth variant)
//   cache/text-<id>-<hash>/       tiny text encoders the toolkit made
//   cache/classifier-<hash>/      the evaluation's attribute classifier
//   runs/<run id>/                manifest.resolved.toml (this run alone: its sweep values and
//                                 seed applied, no sweep), provenance.json, stages.json,
//                                 results.json, console.log, tensorboard/
//   report/                       report.md, report.csv, report.html
//
// A run folder is claimed for as long as a process runs it (runs/<run id>/run.lock): a second
// `modelgrow run` of the same run refuses, naming the holder. Stage and cache folders shared by
// several runs are claimed while they are computed (stage.lock), so concurrent tasks of a sweep
// (Slurm array tasks, `--only i`) compute each shared stage once and wait for each other.
//
// With a Communicator of several ranks (torchrun, srun, `modelgrow run --nproc-per-node N`) every
// rank runs the same runs together; rank 0 claims the folders and writes the records.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <c10/core/Device.h>

#include "modelgrow/dist/communicator.h"
#include "modelgrow/experiment/manifest.h"
#include "modelgrow/host/plugin_registry.h"

namespace modelgrow {

struct RunnerOptions {
  std::filesystem::path out;
  bool resume = false;                // continue interrupted training stages from their checkpoints
  std::optional<size_t> only;         // run only this run index (a Slurm array task)
  bool report = true;                 // write the report at the end
  std::optional<c10::Device> device;  // overrides experiment.device
  std::string command_line;           // as typed, for each run's provenance.json
  Communicator* comm = nullptr;       // the ranks running together (nullptr: this process alone)
};

class ExperimentRunner {
 public:
  ExperimentRunner(const PluginRegistry& registry, Manifest manifest, RunnerOptions options);

  // Executes the runs (all, or the selected one) and returns the report folder (empty if no
  // report was written).
  std::filesystem::path Run();

  const std::vector<RunSpec>& runs() const { return runs_; }
  // The folder of a run, from its id.
  std::filesystem::path RunDir(const RunSpec& run) const;

 private:
  void RunOne(const RunSpec& run);

  const PluginRegistry& registry_;
  Manifest manifest_;
  RunnerOptions options_;
  std::vector<RunSpec> runs_;
  c10::Device device_;
  Communicator single_;
  Communicator* comm_;
};

// The device of this worker for experiment.device = "cpu" | "cuda" | "auto": cuda:<local rank> on
// GPUs (one worker per GPU), else the CPU.
c10::Device ResolveDevice(const std::string& name, int local_rank = 0);

// A folder name for a run id ("growth=insert,seed=0" is kept; other characters become '_').
std::string RunFolderName(const std::string& run_id);

}  // namespace modelgrow
