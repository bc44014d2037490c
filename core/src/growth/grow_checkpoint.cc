#include "modelgrow/growth/grow_checkpoint.h"

#include <fmt/format.h>

#include "modelgrow/base/errors.h"
#include "modelgrow/base/provenance.h"
#include "modelgrow/growth/optimizer_file.h"
#include "modelgrow/io/checkpoint.h"

namespace modelgrow {

namespace fs = std::filesystem;
using json = nlohmann::json;

GrowCheckpointResult GrowCheckpoint(const PluginRegistry& registry,
                                    const GrowCheckpointRequest& request) {
  if (request.steps.empty()) throw InputError("no growth operator given");
  std::error_code ec;
  if (fs::exists(request.output, ec) && !request.overwrite) {
    throw InputError(fmt::format("{}: already exists (choose another output or allow overwriting)",
                                 request.output.string()));
  }
  LoadedModel loaded = LoadModel(request.input, request.device);
  OptimizerState state;
  const fs::path state_file = request.input / kOptimizerStateFile;
  const bool has_state = fs::exists(state_file, ec);
  if (has_state) state = ReadOptimizerState(state_file);

  GrowCheckpointResult result;
  result.reports = GrowModel(registry, *loaded.model, request.steps, has_state ? &state : nullptr,
                             request.seed, request.probe);

  CheckpointMeta meta = DescribeModel(*loaded.model);
  meta.provenance = BuildProvenance();
  json ops = json::array();
  for (const GrowthReport& r : result.reports)
    ops.push_back({{"op", r.op}, {"options", r.options}});
  meta.provenance["grown_from"] = {{"checkpoint", fs::absolute(request.input).string()},
                                   {"provenance", loaded.meta.provenance},
                                   {"steps", ops},
                                   {"seed", request.seed},
                                   {"at", UtcTimestamp()}};

  result.report = GrowthReportsToJson(result.reports);
  result.report["input"] = fs::absolute(request.input).string();
  result.report["output"] = fs::absolute(request.output).string();
  result.report["seed"] = request.seed;
  result.report["optimizer_state"] =
      has_state ? nlohmann::json(kOptimizerStateFile) : nlohmann::json(nullptr);
  result.report["provenance"] = meta.provenance;

  CheckpointWriter writer(request.output);
  writer.AddModel(*loaded.model, meta);
  if (has_state) {
    std::map<std::string, std::string> metadata;
    NamedTensors tensors = OptimizerStateTensors(state, &metadata);
    writer.AddTensors(kOptimizerStateFile, tensors, metadata);
    result.wrote_optimizer_state = true;
  }
  writer.AddJson(kGrowthReportFile, result.report);
  writer.Commit();
  return result;
}

}  // namespace modelgrow
