#include "modelgrow/growth/grow_checkpoint.h"

#include <fmt/format.h>

#include "modelgrow/base/provenance.h"
#include "modelgrow/io/checkpoint.h"
#include "modelgrow/io/optimizer_file.h"
#include "modelgrow/sdk/errors.h"

namespace modelgrow {

namespace fs = std::filesystem;
using json = nlohmann::json;

GrowCheckpointResult GrowCheckpoint(const GrowCheckpointRequest& request) {
  std::error_code ec;
  if (fs::exists(request.output, ec) && !request.overwrite) {
    throw InputError(
        fmt::format("{}: already exists (choose another output, or --overwrite to replace it)",
                    request.output.string()));
  }
  LoadedModel loaded = LoadModel(request.input, request.device);
  OptimizerState state;
  const fs::path state_file = request.input / kOptimizerStateFile;
  const bool has_state = fs::exists(state_file, ec);
  if (has_state) state = ReadOptimizerState(state_file);

  GrowCheckpointResult result;
  const int64_t conditions_before = loaded.model->config().num_conditions();
  result.reports = GrowModel(*loaded.model, request.steps, has_state ? &state : nullptr,
                             request.seed, request.probe);
  json added = request.finish ? request.finish(*loaded.model, conditions_before) : json::object();

  CheckpointMeta meta = DescribeModel(*loaded.model);
  meta.provenance = BuildProvenance();
  const json& before = loaded.meta.provenance;
  if (before.is_object() && before.contains("text_encoders")) {
    meta.provenance["text_encoders"] = before["text_encoders"];
  }
  json ops = json::array();
  for (const GrowthReport& r : result.reports)
    ops.push_back({{"op", r.op}, {"options", r.options}});
  meta.provenance["grown_from"] = {{"checkpoint", fs::absolute(request.input).string()},
                                   {"provenance", before},
                                   {"steps", ops},
                                   {"seed", request.seed},
                                   {"at", UtcTimestamp()}};
  for (const auto& [key, value] : added.items()) meta.provenance[key] = value;

  result.report = GrowthReportsToJson(result.reports);
  result.report["input"] = fs::absolute(request.input).string();
  result.report["output"] = fs::absolute(request.output).string();
  result.report["seed"] = request.seed;
  result.report["optimizer_state"] = has_state ? json(kOptimizerStateFile) : json(nullptr);
  result.report["provenance"] = meta.provenance;

  CheckpointWriter writer(request.output);
  writer.AddModel(*loaded.model, meta);
  if (has_state) {
    WriteOptimizerStateTo(writer, state);
    result.wrote_optimizer_state = true;
  }
  writer.AddJson(kGrowthReportFile, result.report);
  writer.Commit();
  result.params = loaded.model->NumParameters();
  result.trainable = loaded.model->NumTrainableParameters();
  return result;
}

}  // namespace modelgrow
