// The `modelgrow` subcommands. Each parses its own arguments (Boost.Program_options) and returns
// the process exit code: 0 success, 2 bad usage or invalid input, 1 failure while running.
#pragma once

#include <filesystem>
#include <stdexcept>
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
  int order = 100;  // position in `modelgrow --help`
};

// Every subcommand, sorted by `order` then name. Each command's file registers itself:
//   MODELGROW_CLI_COMMAND(kPlugins, {"plugins", "list plugins", RunPlugins, 10});
std::vector<Command> Commands();

struct RegisterCommand {
  explicit RegisterCommand(Command command);
};
#define MODELGROW_CLI_COMMAND(variable, ...) \
  static const ::modelgrow::cli::RegisterCommand variable(::modelgrow::cli::Command __VA_ARGS__)

// Thrown for bad command-line usage (exit code 2).
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace modelgrow::cli
