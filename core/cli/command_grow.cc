// modelgrow grow --in CKPT --op NAME [--set key=value]... [--op NAME ...]... --out CKPT
//                [--seed S] [--device D] [--overwrite] [--no-probe] [--probe-bf16] [--json]
#include <iostream>

#include <fmt/format.h>
#include <boost/program_options.hpp>

#include "command_line.h"
#include "commands.h"
#include "modelgrow/growth/grow_checkpoint.h"
#include "modelgrow/host/plugin_registry.h"

namespace po = boost::program_options;

namespace modelgrow::cli {

namespace {

std::string Count(int64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string Number(double value, bool measured) {
  return measured ? fmt::format("{:.2e}", value) : "-";
}

int RunGrow(const std::vector<std::string>& args, const GlobalOptions& global) {
  CommandLine cl(
      args,
      {"grow --in CKPT --op NAME [--set key=value]... [--op NAME ...]... --out CKPT [options]",
       "Grows a checkpoint with one or more growth operators, in order; each --set applies to "
       "the --op before it. Every step's options are checked before any step runs, and all "
       "problems are reported together. Writes the grown checkpoint (with its optimizer state "
       "when the input has optimizer.safetensors, and its text-encoder record) and "
       "growth_report.json into --out in one atomic commit.",
       "modelgrow grow --in base --op stack --set placement=insert --set new_blocks=28 \\\n"
       "    --op text_condition --set caption_channels=4096 --set token_num=300 --out grown"});
  std::string in, out, device = "cpu";
  uint64_t seed = 0;
  cl.Options()("in", po::value<std::string>(&in)->required(), "input checkpoint folder")(
      "out", po::value<std::string>(&out)->required(), "output checkpoint folder")(
      "op", po::value<std::vector<std::string>>()->composing(),
      "growth operator (modelgrow plugins --kind growth lists them); repeatable")(
      "set", po::value<std::vector<std::string>>()->composing(),
      "key=value option of the preceding --op (value parsed as TOML, else a string)")(
      "seed", po::value<uint64_t>(&seed)->default_value(0),
      "seed for the operators' random initialisations")(
      "device", po::value<std::string>(&device)->default_value("cpu"),
      "device to grow on (cpu, cuda, cuda:1)")("overwrite", "replace an existing --out folder")(
      "no-probe", "skip the preservation probe (for models too large to run twice)")(
      "probe-bf16", "also measure preservation with bf16 matrix products")(
      "json", "print growth_report.json instead of the table");
  if (!cl.Parse()) return 0;
  const po::variables_map& vm = cl.vm();
  const po::parsed_options& parsed = cl.parsed();

  GrowCheckpointRequest request;
  request.input = in;
  request.output = out;
  request.seed = seed;
  request.overwrite = vm.count("overwrite") > 0;
  request.probe.enabled = vm.count("no-probe") == 0;
  request.probe.measure_bf16 = vm.count("probe-bf16") > 0;
  try {
    request.device = c10::Device(device);
  } catch (const std::exception&) {
    throw UsageError(fmt::format("--device '{}' is not a device (cpu, cuda, cuda:N)", device));
  }

  // --set belongs to the latest --op, so the order of the options matters.
  std::vector<std::pair<std::string, Options>> ops;
  for (const po::option& option : parsed.options) {
    if (option.string_key == "op") {
      for (const std::string& name : option.value) {
        ops.emplace_back(name,
                         Options::Empty(fmt::format("--op {} (step {})", name, ops.size() + 1)));
      }
    } else if (option.string_key == "set") {
      for (const std::string& assignment : option.value) {
        if (ops.empty())
          throw UsageError(fmt::format("--set {} comes before any --op", assignment));
        size_t eq = assignment.find('=');
        if (eq == std::string::npos || eq == 0) {
          throw UsageError(fmt::format("--set expects key=value, got '{}'", assignment));
        }
        ops.back().second.Set(
            assignment.substr(0, eq), assignment.substr(eq + 1),
            fmt::format("--op {} (step {}) --set '{}'", ops.back().first, ops.size(), assignment));
      }
    }
  }
  if (ops.empty()) throw UsageError("give at least one --op");

  PluginRegistry registry;
  registry.LoadFrom(PluginRegistry::SearchPath(global.plugin_paths));
  // Every step's operator is made before any runs: all problems of all steps are reported at once.
  request.steps = MakeGrowthSteps(registry, ops, request.device);
  GrowCheckpointResult result = GrowCheckpoint(request);

  if (vm.count("json")) {
    std::cout << result.report.dump(2) << "\n";
    return 0;
  }
  // Preservation is grown vs base output on the probe batch (fp32; bf16 with --probe-bf16).
  std::cout << fmt::format("{:<4} {:<15} {:>25} {:>13} {:<5} {:>9} {:>9} {:>9} {:>8}\n", "STEP",
                           "OP", "PARAMS BEFORE -> AFTER", "TRAINABLE", "EXACT", "MAX ABS",
                           "MAX REL", "BF16 ABS", "SECONDS");
  for (size_t i = 0; i < result.reports.size(); ++i) {
    const GrowthReport& r = result.reports[i];
    const PreservationError& e = r.preservation;
    const bool measured = e.probe_samples > 0;
    std::cout << fmt::format("{:<4} {:<15} {:>25} {:>13} {:<5} {:>9} {:>9} {:>9} {:>8.3f}\n", i + 1,
                             r.op, Count(r.params_before) + " -> " + Count(r.params_after),
                             Count(r.trainable_after), r.claims_preserving ? "yes" : "no",
                             Number(e.max_abs, measured), Number(e.max_rel, measured),
                             Number(e.max_abs_bf16, measured && e.max_abs_bf16 >= 0), r.seconds);
  }
  std::cout << fmt::format("wrote {} ({}{})\n", out, kGrowthReportFile,
                           result.wrote_optimizer_state ? ", optimizer.safetensors" : "");
  return 0;
}

}  // namespace

MODELGROW_CLI_COMMAND(kGrowCommand,
                      {"grow", "grow a checkpoint with growth operators (stack, lora, ...)",
                       RunGrow, 40});

}  // namespace modelgrow::cli
