// Growing a checkpoint folder into a new one: the one growth path, used by `modelgrow grow` and
// by a manifest's grow stage alike. Loads the model and its optimizer state (when the folder has
// one), runs the steps, and writes the grown model, its optimizer state and growth_report.json
// into the output folder in one atomic commit.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <vector>

#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include "modelgrow/growth/grow.h"

namespace modelgrow {

struct GrowCheckpointRequest {
  std::filesystem::path input;
  std::filesystem::path output;
  std::vector<GrowthStep> steps;  // may be empty: the checkpoint is rewritten as it is
  uint64_t seed = 0;
  c10::Device device = c10::Device(c10::DeviceType::CPU);
  ProbeOptions probe;
  bool overwrite = false;      // replace an existing output folder
  GrowthData* data = nullptr;  // for operators that fit on data (GrowthContext::data)
  // Runs on the grown model before it is written: a run fills the null captions of conditions
  // the steps added (it has their text encoders); `conditions_before` is the input's count. It
  // returns provenance entries for the grown checkpoint's record (stage, run, text encoders);
  // the input's text-encoder record is carried over unless they set "text_encoders".
  std::function<nlohmann::json(STDiT3Impl& model, int64_t conditions_before)> finish;
};

struct GrowCheckpointResult {
  std::vector<GrowthReport> reports;
  nlohmann::json report;  // what growth_report.json holds
  bool wrote_optimizer_state = false;
  int64_t params = 0;  // of the written model
  int64_t trainable = 0;
};

inline constexpr const char* kGrowthReportFile = "growth_report.json";

// InputError (nothing written) for a missing or invalid input, an existing output without
// `overwrite`, and requests an operator rejects.
GrowCheckpointResult GrowCheckpoint(const GrowCheckpointRequest& request);

}  // namespace modelgrow
