// Growing a checkpoint folder into a new one: what `modelgrow grow` and a manifest's grow stage
// do. Loads the model (and optimizer.safetensors when present), runs the steps, and writes the
// grown model, its optimizer state and growth_report.json into the output folder atomically.
#pragma once

#include <filesystem>
#include <vector>

#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include "modelgrow/growth/grow.h"

namespace modelgrow {

struct GrowCheckpointRequest {
  std::filesystem::path input;
  std::filesystem::path output;
  std::vector<GrowthStep> steps;
  uint64_t seed = 0;
  c10::Device device = c10::Device(c10::DeviceType::CPU);
  ProbeOptions probe;
  bool overwrite = false;  // replace an existing output folder
};

struct GrowCheckpointResult {
  std::vector<GrowthReport> reports;
  nlohmann::json report;  // what growth_report.json holds
  bool wrote_optimizer_state = false;
};

inline constexpr const char* kGrowthReportFile = "growth_report.json";

// InputError (nothing written) for a missing or invalid input, an existing output without
// `overwrite`, unknown operators or options, and requests an operator rejects.
GrowCheckpointResult GrowCheckpoint(const PluginRegistry& registry,
                                    const GrowCheckpointRequest& request);

}  // namespace modelgrow
