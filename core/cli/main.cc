// modelgrow: the command-line host. Global options, then a subcommand and its own options.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <tuple>

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <torch/cuda.h>
#include <torch/version.h>
#include <boost/program_options.hpp>

#include "commands.h"
#include "modelgrow/base/interruption.h"
#include "modelgrow/base/threads.h"
#include "modelgrow/base/version.h"
#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/plugin.h"

namespace po = boost::program_options;

namespace modelgrow::cli {

namespace {
std::vector<Command>& Registered() {
  static std::vector<Command> commands;
  return commands;
}
}  // namespace

RegisterCommand::RegisterCommand(Command command) { Registered().push_back(command); }

std::vector<Command> Commands() {
  std::vector<Command> sorted = Registered();
  std::sort(sorted.begin(), sorted.end(), [](const Command& a, const Command& b) {
    return std::make_tuple(a.order, std::string_view(a.name)) <
           std::make_tuple(b.order, std::string_view(b.name));
  });
  return sorted;
}

namespace {

std::string VersionText() {
  return fmt::format("modelgrow {}\nplugin SDK API version {}\nLibTorch {}\nCUDA available: {}\n",
                     MODELGROW_VERSION, kSdkApiVersion, TORCH_VERSION,
                     torch::cuda::is_available() ? "yes" : "no");
}

std::string UsageText(const po::options_description& global) {
  std::string text = "usage: modelgrow [global options] <command> [command options]\n\ncommands:\n";
  for (const Command& c : Commands()) text += fmt::format("  {:<16} {}\n", c.name, c.summary);
  std::ostringstream options;
  options << global;
  text += "\n" + options.str();
  text += "\n'modelgrow help <command>' (or 'modelgrow <command> --help') describes a command.\n";
  return text;
}

int Main(int argc, char** argv) {
  po::options_description global("global options");
  std::vector<std::string> plugin_paths;
  GlobalOptions options;
  global.add_options()("help,h", "show this help")("version", "print versions and exit")(
      "plugin-path", po::value<std::vector<std::string>>(&plugin_paths)->composing(),
      "a folder (or file) of plugins, searched before MODELGROW_PLUGIN_PATH and the install's; "
      "repeatable")("threads", po::value<int>(&options.threads)->default_value(0),
                    "CPU threads for LibTorch (0: all cores)");
  po::options_description hidden;
  hidden.add_options()("command", po::value<std::string>(), "")(
      "args", po::value<std::vector<std::string>>(), "");
  po::options_description all;
  all.add(global).add(hidden);
  po::positional_options_description positional;
  positional.add("command", 1).add("args", -1);

  po::variables_map vm;
  // No abbreviated option names: a command's own option (`dataset export --plugin`) must not be
  // taken for a global one it abbreviates (`--plugin-path`).
  po::parsed_options parsed =
      po::command_line_parser(argc, argv)
          .options(all)
          .positional(positional)
          .style(po::command_line_style::unix_style & ~po::command_line_style::allow_guessing)
          .allow_unregistered()
          .run();
  po::store(parsed, vm);
  po::notify(vm);
  if (vm.count("version")) {
    std::cout << VersionText();
    return 0;
  }
  if (!vm.count("command")) {
    std::cout << UsageText(global);
    return vm.count("help") ? 0 : 2;
  }
  for (const auto& p : plugin_paths) options.plugin_paths.emplace_back(p);
  ConfigureThreads(options.threads);

  std::string name = vm["command"].as<std::string>();
  // Everything after the command belongs to it, including options the global parser skipped.
  std::vector<std::string> args = po::collect_unrecognized(parsed.options, po::include_positional);
  args.erase(args.begin());  // the command itself
  if (vm.count("help")) args.push_back("--help");
  if (name == "help") {
    // `modelgrow help run` is `modelgrow run --help`.
    if (args.empty()) {
      std::cout << UsageText(global);
      return 0;
    }
    name = args[0];
    args = {"--help"};
  }
  for (const Command& c : Commands()) {
    if (name == c.name) return c.run(args, options);
  }
  throw UsageError(fmt::format("unknown command '{}'; 'modelgrow --help' lists them", name));
}

}  // namespace
}  // namespace modelgrow::cli

namespace {

// The command line as typed (each argument shell-quoted when it needs it), with --resume added:
// what continues an interrupted run.
std::string ContinueCommand(int argc, char** argv) {
  std::string line;
  bool has_resume = false;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    has_resume = has_resume || a == "--resume";
    bool plain = !a.empty() && a.find_first_of(" '\"\\$`!*?[]{}()<>|&;#~\t") == std::string::npos;
    std::string quoted = "'";
    for (char c : a) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    line += (i ? " " : "") + (plain ? a : quoted + "'");
  }
  return has_resume ? line : line + " --resume";
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return modelgrow::cli::Main(argc, argv);
  } catch (const modelgrow::Interrupted& e) {
    std::cerr << "modelgrow: " << e.what() << "; continue with `" << ContinueCommand(argc, argv)
              << "`\n";
    return e.ExitCode();
  } catch (const modelgrow::cli::UsageError& e) {
    std::cerr << "modelgrow: " << e.what() << "\n";
    return 2;
  } catch (const boost::program_options::error& e) {
    std::cerr << "modelgrow: " << e.what() << "\n";
    return 2;
  } catch (const modelgrow::InputError& e) {
    std::cerr << "modelgrow: error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "modelgrow: failed: " << e.what() << "\n";
    return 1;
  }
}
