// The host side of growth: runs operators in sequence on a model, and measures what each did.
//
// For every step the host checks the request (nothing changes if it is impossible), runs the
// operator, then fills the report: parameter counts, new and frozen parameter names, time, and
// the function-preservation error of the grown model against the model before the step, on a
// fixed probe batch (fixed seed, several timesteps, fp32; with and without a frame mask).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include "modelgrow/sdk/growth_operator.h"
#include "modelgrow/sdk/options.h"

namespace modelgrow {

// One step: an operator already constructed from its options (PluginRegistry and
// MakeGrowthSteps do that), with its name and table for the report.
struct GrowthStep {
  std::string op;
  Options options;
  std::shared_ptr<GrowthOperator> instance;
};

struct ProbeOptions {
  bool enabled = true;  // false: no probe (the report's preservation says probe_samples = 0)
  uint64_t seed = 1234;
  int64_t batch = 2;
  int64_t frames = 4;
  int64_t height = 16;
  int64_t width = 16;
  std::vector<double> timesteps = {50, 400, 900};
  bool with_frame_mask = true;  // also probe with the first frame kept as conditioning
  bool measure_bf16 = false;    // also compare both models with bf16 matrix products

  // A manifest's `probe` table (seed, batch, frames, height, width, timesteps, bf16); every
  // problem is recorded on `table`.
  static ProbeOptions FromOptions(const Options& table);
};

// Grows `model` by each step in order; step i's operator draws from seed + i. Each operator's
// Check() runs before it changes anything. The optimizer state (may be null) is carried,
// transformed or reset as the operators say, and re-keyed to the grown model's parameter names.
// `data` (may be null) is what operators that fit on data train on (GrowthContext::data).
std::vector<GrowthReport> GrowModel(STDiT3Impl& model, const std::vector<GrowthStep>& steps,
                                    OptimizerState* optimizer_state, uint64_t seed,
                                    const ProbeOptions& probe = {}, GrowthData* data = nullptr);

// Grown vs base outputs on the probe batch (both models must take the same conditions; a model
// with extra conditions is probed with random embeddings for them).
PreservationError MeasurePreservation(STDiT3Impl& base, STDiT3Impl& grown,
                                      const ProbeOptions& probe);

// The two halves of MeasurePreservation, so GrowModel can probe the model before and after a step
// without holding a second copy of it (a copy of STDiT3-XL is 4.8 GB).
struct ProbeOutputs {
  std::vector<at::Tensor> fp32;  // one [B, out, T, H, W] per (timestep, frame mask) pass
  std::vector<at::Tensor> bf16;  // the same with bf16 matrix products, when measured
};
// The probe batch for a model: fixed by the probe options; condition k's embeddings depend only
// on the seed, k and that condition's shape, so a grown model sees the base's conditions again.
std::vector<ModelInput> ProbeInputs(const STDiT3Config& config, const ProbeOptions& probe,
                                    c10::Device device);
// Runs the probe in eval mode without gradients (the model's mode is restored afterwards).
ProbeOutputs RunProbe(STDiT3Impl& model, const ProbeOptions& probe);
PreservationError ComparePreservation(const ProbeOutputs& base, const ProbeOutputs& grown,
                                      const ProbeOptions& probe);

// {"format", "version", "steps": [report, ...], "params_before", "params_after",
//  "trainable_after"}: what growth_report.json holds besides the input and output.
nlohmann::json GrowthReportsToJson(const std::vector<GrowthReport>& reports);

}  // namespace modelgrow
