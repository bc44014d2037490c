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
  std::string script = fmt::format(
      "#!/bin/bash\n"
      "# Slurm job array for ModelGrow experiment '{0}': {1} run(s), one per array task.\n"
      "# Submit: sbatch {{this file}}. Array task 0 also submits the report job, which runs once\n"
      "# every task has ended, whatever its status, with the rows there are.\n"
      "#SBATCH --job-name=modelgrow-{0}\n"
      "#SBATCH --array=0-{2}\n"
      "#SBATCH --output={3}/slurm/%A_%a.log\n"
      "# Preempted or at the time limit, a task gets SIGTERM 2 minutes ahead: it checkpoints and\n"
      "# stops, and is requeued; the rerun continues from the checkpoint (--resume).\n"
      "#SBATCH --requeue\n"
      "#SBATCH --signal=B:TERM@120\n"
      "# Adjust to your cluster: #SBATCH --gres=gpu:1 --cpus-per-task=8 --time=24:00:00\n"
      "set -euo pipefail\n",
      manifest.experiment().name, runs.size(), runs.size() - 1, out.string());
  script += "# Array task i runs:\n";
  for (size_t i = 0; i < runs.size(); ++i) script += fmt::format("#   {}: {}\n", i, runs[i].id);
  script += fmt::format(
      "if [[ -z \"${{MODELGROW_REPORT_ONLY:-}}\" ]]; then\n"
      "  if [[ \"$SLURM_ARRAY_TASK_ID\" == 0 && \"${{SLURM_RESTART_COUNT:-0}}\" == 0 ]]; then\n"
      "    MODELGROW_REPORT_ONLY=1 sbatch --dependency=afterany:\"$SLURM_ARRAY_JOB_ID\" "
      "--array=0 --no-requeue \\\n"
      "      --job-name=modelgrow-report \"$0\"\n"
      "  fi\n"
      "  # exec: the task IS modelgrow, so Slurm's SIGTERM reaches it.\n"
      "  exec {0} run {1} --out {2}{3} --only \"$SLURM_ARRAY_TASK_ID\" --no-report --resume\n"
      "else\n"
      "  exec {0} report {2}\n"
      "fi\n",
      binary, ShellQuote(manifest_path.string()), ShellQuote(out.string()), set_args);
  return script;
}

}  // namespace modelgrow
