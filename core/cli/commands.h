// The `modelgrow` subcommands. Each parses its own arguments (Boost.Program_options) and returns
// the process exit code: 0 success, 2 bad usage or invalid input, 1 failure while running.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace modelgrow::cli {

struct GlobalOptions {
  std::vector<std::filesystem::path> plugin_paths;  // --plugin-path, before the search path
  int threads = 0;                                  // 0: all cores
};

struct Command {
  const char* name;
  const char* summary;
  int (*run)(const std::vector<std::string>& args, const GlobalOptions& global);
};

// Every subcommand, in the order `modelgrow --help` lists them.
const std::vector<Command>& Commands();

int RunPlugins(const std::vector<std::string>& args, const GlobalOptions& global);

// Thrown for bad command-line usage (exit code 2).
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace modelgrow::cli
