// The host side of growth: runs operators in sequence on a model, and measures what each did.
//
// For every step the host checks the request (nothing changes if it is impossible), runs the
// operator, then fills the report: parameter counts, new and frozen parameter names, time, and
// the function-preservation error of the grown model against the model before the step, on a
// fixed probe batch (fixed seed, several timesteps, fp32; with and without a frame mask).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "modelgrow/base/options.h"
#include "modelgrow/host/plugin_registry.h"
#include "modelgrow/sdk/growth_operator.h"

namespace modelgrow {

struct GrowthStep {
  std::string op;   // plugin name
  Options options;  // its table (the plugin reads it; unknown keys are errors)
};

struct ProbeOptions {
  uint64_t seed = 1234;
  int64_t batch = 2;
  int64_t frames = 4;
  int64_t height = 16;
  int64_t width = 16;
  std::vector<double> timesteps = {50, 400, 900};
  bool measure_bf16 = false;
};

// Grows `model` by each step in order. The optimizer state (may be null) is carried, transformed
// or reset as the operators say, and re-keyed to the grown model's parameter names.
std::vector<GrowthReport> GrowModel(const PluginRegistry& registry, STDiT3Impl& model,
                                    const std::vector<GrowthStep>& steps,
                                    OptimizerState* optimizer_state, uint64_t seed,
                                    const ProbeOptions& probe = {});

// Grown vs base outputs on the probe batch (both models must take the same conditions; a model
// with extra conditions is probed with random embeddings for them).
PreservationError MeasurePreservation(STDiT3Impl& base, STDiT3Impl& grown, const ProbeOptions& probe);

nlohmann::json GrowthReportsToJson(const std::vector<GrowthReport>& reports);

}  // namespace modelgrow
