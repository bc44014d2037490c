// `modelgrow sweep --emit slurm`: a job-array script that runs every run of a manifest on a
// cluster, one array task per run, and the report when they have finished.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "modelgrow/experiment/manifest.h"

namespace modelgrow {

// The Slurm job-array script for a manifest: one array task per run, each running
// `modelgrow run MANIFEST --out OUT --only $SLURM_ARRAY_TASK_ID`, then a dependent report job.
// `global_args` go before the command (e.g. --plugin-path DIR, so the tasks find the plugins the
// manifest was validated with). Every argument is shell-quoted.
std::string SlurmScript(const Manifest& manifest, const std::filesystem::path& manifest_path,
                        const std::filesystem::path& out, const std::vector<std::string>& sets,
                        const std::string& modelgrow_binary,
                        const std::vector<std::string>& global_args = {});

}  // namespace modelgrow
