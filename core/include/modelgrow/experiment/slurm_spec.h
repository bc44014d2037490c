// `[experiment.slurm]`: what `modelgrow sweep --emit slurm` asks the cluster for, per array task
// (one task = one run of the sweep, trained on nodes x gpus_per_node processes).
//
//   [experiment.slurm]
//   nodes = 2              # nodes per run
//   gpus_per_node = 8      # one worker process per GPU (0: one CPU worker per node)
//   time = "24:00:00"      # --time
//   partition = "gpu"      # --partition
//   account = "proj123"    # --account
//   extra = ["--mem=0", "--exclusive"]   # more #SBATCH options, verbatim
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "modelgrow/sdk/options.h"

namespace modelgrow {

struct SlurmSpec {
  int64_t nodes = 1;
  int64_t gpus_per_node = 0;
  std::string time;
  std::string partition;
  std::string account;
  std::vector<std::string> extra;

  // Worker processes per node: one per GPU, or one when there are none.
  int64_t tasks_per_node() const { return gpus_per_node > 0 ? gpus_per_node : 1; }

  static SlurmSpec FromOptions(const Options& table);
};

}  // namespace modelgrow
