// modelgrow init --preset NAME [--set field=value]... [--seed S] --out DIR
#include <iostream>

#include <fmt/format.h>
#include <torch/torch.h>
#include <boost/program_options.hpp>

#include "cli_util.h"
#include "command_line.h"
#include "commands.h"
#include "modelgrow/base/provenance.h"
#include "modelgrow/io/checkpoint.h"
#include "modelgrow/model/config.h"

namespace po = boost::program_options;

namespace modelgrow::cli {
namespace {

int RunInit(const std::vector<std::string>& args, const GlobalOptions&) {
  CommandLine cl(args, {"init --preset NAME [--set field=value]... [--seed S] --out DIR",
                        "Writes a freshly initialised STDiT3 checkpoint (Open-Sora's "
                        "initialisation rules), a preset with any config field overridden.",
                        "modelgrow init --preset STDiT3-S/2 --out base\n"
                        "modelgrow init --preset STDiT3-T/2 --set depth=4 --set "
                        "caption_channels=128 --out small"});
  std::string preset, out;
  std::vector<std::string> sets;
  uint64_t seed = 0;
  cl.Options()("preset", po::value<std::string>(&preset)->default_value("STDiT3-S/2"),
               "STDiT3-XL/2, STDiT3-3B/2, STDiT3-T/2, STDiT3-S/2 or STDiT3-M/2")(
      "set", po::value<std::vector<std::string>>(&sets)->composing(),
      "override a config field, e.g. --set depth=4 --set caption_channels=128")(
      "seed", po::value<uint64_t>(&seed)->default_value(0), "initialisation seed")(
      "out", po::value<std::string>(&out), "checkpoint folder to write");
  if (!cl.Parse()) return 0;
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
