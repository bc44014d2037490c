#include "command_line.h"

#include <iostream>
#include <sstream>

#include <fmt/format.h>

namespace po = boost::program_options;

namespace modelgrow::cli {

CommandLine::CommandLine(std::vector<std::string> args, CommandHelp help)
    : args_(std::move(args)), help_(std::move(help)) {
  visible_.add_options()("help,h", "show this help");
}

po::options_description_easy_init CommandLine::Options() { return visible_.add_options(); }

void CommandLine::Positional(const char* name, std::string* target) {
  hidden_.add_options()(name, po::value<std::string>(target), "");
  positional_.add(name, 1);
}

void CommandLine::Positional(const char* name, std::vector<std::string>* target, int count) {
  hidden_.add_options()(name, po::value<std::vector<std::string>>(target)->composing(), "");
  positional_.add(name, count);
}

bool CommandLine::Parse() {
  po::options_description all;
  all.add(visible_).add(hidden_);
  parsed_ = po::command_line_parser(args_).options(all).positional(positional_).run();
  po::store(parsed_, vm_);
  if (vm_.count("help")) {
    std::cout << Help();
    return false;
  }
  po::notify(vm_);
  return true;
}

std::string CommandLine::Help() const {
  std::ostringstream options;
  options << visible_;
  std::string examples;
  std::istringstream lines(help_.example);
  for (std::string line; std::getline(lines, line);) examples += "  " + line + "\n";
  return fmt::format("usage: modelgrow {}\n\n{}\n\n{}\nexample:\n{}", help_.usage, help_.summary,
                     options.str(), examples);
}

}  // namespace modelgrow::cli
