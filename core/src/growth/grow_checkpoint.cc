#include "modelgrow/growth/grow_checkpoint.h"

#include <fmt/format.h>

#include "modelgrow/base/provenance.h"
#include "modelgrow/io/checkpoint.h"
#include "modelgrow/io/optimizer_file.h"
#include "modelgrow/sdk/errors.h"
#include "modelgrow/train/training_hook_record.h"

namespace modelgrow {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// Encoder folders are recorded relative to the checkpoint (so an experiment folder can move as a
// whole); the grown checkpoint lives elsewhere, so each path is re-expressed from there.
json RebaseTextEncoders(json encoders, const fs::path& from, const fs::path& to) {
  if (!encoders.is_object()) return encoders;
  for (auto& [name, record] : encoders.items()) {
    if (!record.is_object() || !record.contains("path_relative_to_checkpoint")) continue;
    const fs::path folder =
        (fs::absolute(from) / record["path_relative_to_checkpoint"].get<std::string>())
            .lexically_normal();
    const fs::path relative = folder.lexically_relative(fs::absolute(to).lexically_normal());
    record["path_relative_to_checkpoint"] = relative.string();
  }
  return encoders;
}

}  // namespace

GrowCheckpointResult GrowCheckpoint(const GrowCheckpointRequest& request) {
  std::error_code ec;
  if (fs::exists(request.output, ec) && !request.overwrite) {
    throw InputError(
        fmt::format("{}: already exists (choose another output, or --overwrite to replace it)",
                    request.output.string()));
  }
  if (fs::exists(request.input / kTrainingHookFile, ec) && !request.steps.empty()) {
    throw InputError(fmt::format(
        "{}: this checkpoint is part-way through a training hook ({}: e.g. new units still fading "
        "in); train until it finishes before growing it again",
        request.input.string(), kTrainingHookFile));
  }
  LoadedModel loaded = LoadModel(request.input, request.device);
  OptimizerState state;
  const fs::path state_file = request.input / kOptimizerStateFile;
  const bool has_state = fs::exists(state_file, ec);
  if (has_state) state = ReadOptimizerState(state_file);

  GrowCheckpointResult result;
  const int64_t conditions_before = loaded.model->config().num_conditions();
  result.reports = GrowModel(*loaded.model, request.steps, has_state ? &state : nullptr,
                             request.seed, request.probe, request.data);
  json added = request.finish ? request.finish(*loaded.model, conditions_before) : json::object();

  CheckpointMeta meta = DescribeModel(*loaded.model);
  meta.provenance = BuildProvenance();
  const json& before = loaded.meta.provenance;
  // What sampling and encoding the grown model need is what the input's needed.
  for (const char* record : {"text_encoders", "sampling"}) {
    if (before.is_object() && before.contains(record)) meta.provenance[record] = before[record];
  }
  if (meta.provenance.contains("text_encoders")) {
    meta.provenance["text_encoders"] =
        RebaseTextEncoders(meta.provenance["text_encoders"], request.input, request.output);
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

  // The hook one step asked the training after growth to run (sdk/training_hook.h), with what
  // the training stage needs to build the same operator again.
  json hook;
  for (size_t i = 0; i < result.reports.size(); ++i) {
    const GrowthReport& r = result.reports[i];
    if (r.training_hook.is_null()) continue;
    if (!hook.is_null()) {
      throw InputError(fmt::format(
          "growth steps '{}' and '{}' both need a training hook; only one per growth is supported",
          hook["op"].get<std::string>(), r.op));
    }
    hook = {{"op", r.op},
            {"options", r.options},
            {"options_toml", request.steps[i].options.ToToml()},
            {"state", r.training_hook}};
  }
  if (request.steps.empty() && fs::exists(request.input / kTrainingHookFile, ec)) {
    hook = ReadTrainingHookRecord(request.input);
  }

  CheckpointWriter writer(request.output);
  writer.AddModel(*loaded.model, meta);
  if (!hook.is_null()) writer.AddJson(kTrainingHookFile, hook);
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
