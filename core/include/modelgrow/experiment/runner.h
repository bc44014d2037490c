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
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <c10/core/Device.h>

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
};

// A folder name for a run id ("growth=insert,seed=0" is kept; other characters become '_').
std::string RunFolderName(const std::string& run_id);

}  // namespace modelgrow
