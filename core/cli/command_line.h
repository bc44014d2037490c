// One way for every subcommand to declare and parse its arguments, so all help pages look the
// same: a usage line (positional arguments named there, not listed as options), what the command
// does, its options, and an example.
//
//   CommandLine cl(args, {"run MANIFEST [key=value ...] [options]", "run an experiment ...",
//                         "modelgrow run experiments/quickstart.toml --set
//                         stages.pretrain.steps=50"});
//   cl.Options()("out", po::value(&out), "output folder");
//   cl.Positional("manifest", &manifest);
//   if (!cl.Parse()) return 0;   // --help was printed
#pragma once

#include <string>
#include <vector>

#include <boost/program_options.hpp>

namespace modelgrow::cli {

struct CommandHelp {
  std::string usage;    // after "modelgrow ", e.g. "run MANIFEST [key=value ...] [options]"
  std::string summary;  // what the command does, a sentence or two
  std::string example;  // one or more example command lines (newline-separated)
};

class CommandLine {
 public:
  CommandLine(std::vector<std::string> args, CommandHelp help);

  boost::program_options::options_description_easy_init Options();
  // A positional argument: `count` values (-1: all remaining) stored into `target`.
  void Positional(const char* name, std::string* target);
  void Positional(const char* name, std::vector<std::string>* target, int count = -1);

  // Parses. Returns false when --help was given (the help page was printed to stdout).
  bool Parse();
  std::string Help() const;

  const boost::program_options::variables_map& vm() const { return vm_; }
  bool Has(const char* name) const { return vm_.count(name) > 0; }
  // Every option in command-line order (for options whose meaning depends on their neighbours).
  const boost::program_options::parsed_options& parsed() const { return parsed_; }

 private:
  std::vector<std::string> args_;
  CommandHelp help_;
  boost::program_options::options_description visible_{"options"};
  boost::program_options::options_description hidden_;
  boost::program_options::positional_options_description positional_;
  boost::program_options::variables_map vm_;
  boost::program_options::parsed_options parsed_{nullptr};
};

}  // namespace modelgrow::cli
