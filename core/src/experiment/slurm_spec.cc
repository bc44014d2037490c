#include "modelgrow/experiment/slurm_spec.h"

#include <regex>

#include <fmt/format.h>

namespace modelgrow {

namespace {

// A value sbatch reads from one line: no spaces (it would split), no newline (a new directive).
bool OneWord(const std::string& s) {
  return !s.empty() && s.find_first_of(" \t\r\n'\"") == std::string::npos;
}

}  // namespace

SlurmSpec SlurmSpec::FromOptions(const Options& t) {
  SlurmSpec s;
  s.nodes = t.Int("nodes", s.nodes, {.min = 1, .max = 100000});
  s.gpus_per_node = t.Int("gpus_per_node", s.gpus_per_node, {.min = 0, .max = 1024});
  s.time = t.String("time", "");
  // sbatch's forms: minutes, minutes:seconds, hours:minutes:seconds, days-hours,
  // days-hours:minutes, days-hours:minutes:seconds.
  static const std::regex kTime(R"(^(\d+-\d+(:\d+){0,2}|\d+(:\d+){0,2})$)");
  if (t.Has("time") && !std::regex_match(s.time, kTime)) {
    t.Fail("time", fmt::format("'{}' is not a Slurm time limit: expected e.g. \"90\" (minutes), "
                               "\"24:00:00\" or \"2-00:00:00\"",
                               s.time));
  }
  s.partition = t.String("partition", "");
  if (t.Has("partition") && !OneWord(s.partition)) {
    t.Fail("partition", "expected a partition name (no spaces or quotes)");
  }
  s.account = t.String("account", "");
  if (t.Has("account") && !OneWord(s.account)) {
    t.Fail("account", "expected an account name (no spaces or quotes)");
  }
  s.extra = t.StringList("extra", {});
  for (const std::string& line : s.extra) {
    if (line.empty() || line[0] != '-' || line.find_first_of("\r\n") != std::string::npos) {
      t.Fail("extra",
             fmt::format("'{}': each entry is one sbatch option such as \"--mem=64G\"", line));
    }
  }
  t.RejectUnknownKeys();
  return s;
}

}  // namespace modelgrow
