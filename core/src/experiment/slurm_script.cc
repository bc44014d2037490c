#include "modelgrow/experiment/slurm_script.h"

#include <fmt/format.h>

namespace modelgrow {

namespace fs = std::filesystem;

namespace {

// `text` as one word for bash: in single quotes, each single quote written as '\''.
std::string ShellQuote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

}  // namespace

std::string SlurmScript(const Manifest& manifest, const fs::path& manifest_path,
                        const fs::path& out, const std::vector<std::string>& sets,
                        const std::string& modelgrow_binary,
                        const std::vector<std::string>& global_args) {
  std::vector<RunSpec> runs = ExpandRuns(manifest);
  std::string set_args;
  for (const std::string& s : sets) set_args += " --set " + ShellQuote(s);
  // The binary and the options it needs before any command.
  std::string binary = ShellQuote(modelgrow_binary);
  for (const std::string& a : global_args) binary += " " + ShellQuote(a);
  const SlurmSpec& slurm = manifest.experiment().slurm;
  std::string script = fmt::format(
      "#!/bin/bash\n"
      "# Slurm job array for ModelGrow experiment '{0}': {1} run(s), one per array task.\n"
      "# Submit: sbatch {{this file}}. Array task 0 also submits the report job, which runs once\n"
      "# every task has ended, whatever its status, with the rows there are.\n"
      "# Each task trains its run on {4} node(s) x {5} worker(s) (srun starts one modelgrow per\n"
      "# task; they find each other through SLURM_PROCID, SLURM_NTASKS and SLURM_JOB_NODELIST).\n"
      "# Resources come from the manifest's [experiment.slurm] table.\n"
      "#SBATCH --job-name=modelgrow-{0}\n"
      "#SBATCH --array=0-{2}\n"
      "#SBATCH --output={3}/slurm/%A_%a.log\n"
      "#SBATCH --nodes={4}\n"
      "#SBATCH --ntasks-per-node={5}\n"
      "# Preempted or at the time limit, a task gets SIGTERM 2 minutes ahead: it checkpoints and\n"
      "# stops, and is requeued; the rerun continues from the checkpoint (--resume).\n"
      "#SBATCH --requeue\n"
      "#SBATCH --signal=B:TERM@120\n",
      manifest.experiment().name, runs.size(), runs.size() - 1, out.string(), slurm.nodes,
      slurm.tasks_per_node());
  if (slurm.gpus_per_node > 0) {
    script += fmt::format("#SBATCH --gpus-per-node={}\n", slurm.gpus_per_node);
  }
  if (!slurm.time.empty()) script += fmt::format("#SBATCH --time={}\n", slurm.time);
  if (!slurm.partition.empty()) script += fmt::format("#SBATCH --partition={}\n", slurm.partition);
  if (!slurm.account.empty()) script += fmt::format("#SBATCH --account={}\n", slurm.account);
  for (const std::string& line : slurm.extra) script += fmt::format("#SBATCH {}\n", line);
  script += "set -euo pipefail\n";
  script += "# Array task i runs:\n";
  for (size_t i = 0; i < runs.size(); ++i) script += fmt::format("#   {}: {}\n", i, runs[i].id);
  script += fmt::format(
      "if [[ -z \"${{MODELGROW_REPORT_ONLY:-}}\" ]]; then\n"
      "  if [[ \"$SLURM_ARRAY_TASK_ID\" == 0 && \"${{SLURM_RESTART_COUNT:-0}}\" == 0 ]]; then\n"
      "    MODELGROW_REPORT_ONLY=1 sbatch --dependency=afterany:\"$SLURM_ARRAY_JOB_ID\" "
      "--array=0 --no-requeue \\\n"
      "      --nodes=1 --ntasks-per-node=1 --job-name=modelgrow-report \"$0\"\n"
      "  fi\n"
      "  # exec: Slurm's SIGTERM reaches srun, which passes it to every worker;\n"
      "  # --kill-on-bad-exit: when one worker dies the step ends instead of the others waiting.\n"
      "  exec srun --kill-on-bad-exit=1 {0} run {1} --out {2}{3} --only \"$SLURM_ARRAY_TASK_ID\" "
      "--no-report --resume\n"
      "else\n"
      "  exec {0} report {2}\n"
      "fi\n",
      binary, ShellQuote(manifest_path.string()), ShellQuote(out.string()), set_args);
  return script;
}

}  // namespace modelgrow
