// modelgrow init --preset NAME [--set field=value]... [--seed S] --out DIR
#include <iostream>

#include <fmt/format.h>
#include <torch/torch.h>
#include <boost/program_options.hpp>

#include "cli_util.h"
#include "commands.h"
#include "modelgrow/base/provenance.h"
#include "modelgrow/io/checkpoint.h"
#include "modelgrow/model/config.h"

namespace po = boost::program_options;

namespace modelgrow::cli {
namespace {

int RunInit(const std::vector<std::string>& args, const GlobalOptions&) {
  po::options_description desc(
      "modelgrow init: write a freshly initialised STDiT3 checkpoint (Open-Sora's init rules)");
  std::string preset, out;
  std::vector<std::string> sets;
  uint64_t seed = 0;
  desc.add_options()("help,h", "show this help")(
      "preset", po::value<std::string>(&preset)->default_value("STDiT3-S/2"),
      "STDiT3-XL/2, STDiT3-3B/2, STDiT3-T/2, STDiT3-S/2 or STDiT3-M/2")(
      "set", po::value<std::vector<std::string>>(&sets)->composing(),
      "override a config field, e.g. --set depth=4 --set caption_channels=128")(
      "seed", po::value<uint64_t>(&seed)->default_value(0), "initialisation seed")(
      "out", po::value<std::string>(&out), "checkpoint folder to write");
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(desc).run(), vm);
  po::notify(vm);
  if (vm.count("help")) {
    std::cout << desc;
    return 0;
  }
  if (out.empty()) throw UsageError("init needs --out DIR");
  Options table = Options::ParseString(fmt::format("preset = \"{}\"\n", preset), "--preset/--set");
  ApplySets(table, sets);
  STDiT3Config config = ConfigFromOptions(table);
  table.RejectUnknownKeys();
  table.ThrowIfProblems();
  torch::manual_seed(seed);
  STDiT3 model(config);
  CheckpointMeta meta = DescribeModel(*model);
  meta.provenance = BuildProvenance();
  meta.provenance["seed"] = seed;
  meta.provenance["created"] = UtcTimestamp();
  SaveModel(out, *model, meta);
  std::cout << fmt::format("{}: {} with {} parameters (hidden {}, depth {}, heads {})\n", out,
                           preset, model->NumParameters(), config.hidden_size, config.depth,
                           config.num_heads);
  return 0;
}

}  // namespace

MODELGROW_CLI_COMMAND(kInitCommand,
                      {"init", "write a freshly initialised model checkpoint", RunInit, 20});

}  // namespace modelgrow::cli
