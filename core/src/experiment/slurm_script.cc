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
      "# Slurm job array for ModelGrow experiment '{}': {} run(s), one per array task.\n"
      "# Submit: sbatch {{this file}}   (the report job runs when every task has finished)\n"
      "#SBATCH --job-name=modelgrow-{}\n"
      "#SBATCH --array=0-{}\n"
      "#SBATCH --output={}/slurm-%A_%a.log\n"
      "# Adjust to your cluster: #SBATCH --gres=gpu:1 --cpus-per-task=8 --time=24:00:00\n"
      "set -euo pipefail\n",
      manifest.experiment().name, runs.size(), manifest.experiment().name, runs.size() - 1,
      out.string());
  script += "# Array task i runs:\n";
  for (size_t i = 0; i < runs.size(); ++i) script += fmt::format("#   {}: {}\n", i, runs[i].id);
  script += fmt::format(
      "if [[ -z \"${{MODELGROW_REPORT_ONLY:-}}\" ]]; then\n"
      "  {} run {} --out {}{} --only \"$SLURM_ARRAY_TASK_ID\" --no-report\n"
      "  if [[ \"$SLURM_ARRAY_TASK_ID\" == 0 ]]; then\n"
      "    MODELGROW_REPORT_ONLY=1 sbatch --dependency=afterok:\"$SLURM_ARRAY_JOB_ID\" --array=0 "
      "\\\n"
      "      --job-name=modelgrow-report \"$0\"\n"
      "  fi\n"
      "else\n"
      "  {} report {}\n"
      "fi\n",
      binary, ShellQuote(manifest_path.string()), ShellQuote(out.string()), set_args, binary,
      ShellQuote(out.string()));
  return script;
}

}  // namespace modelgrow
