// Runs the `modelgrow` binary of this build, for tests of the CLI's behaviour and exit codes.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

#include "test_paths.h"

namespace modelgrow::testing {

struct CliResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// `args` is appended to the binary's path verbatim (quote as in a shell).
inline CliResult RunCli(const std::string& args, const std::string& env = "") {
  std::string command =
      env + " " + std::string(MODELGROW_BUILD_DIR) + "/bin/modelgrow " + args + " 2>&1";
  CliResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
    result.output.append(buffer.data(), n);
  int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace modelgrow::testing
