// The growth-operator interface: a plugin that maps a trained STDiT3 to a larger (or adapted) one.
//
// The host calls Check() on the untouched model, then Grow(). Grow edits the model in place
// (block lists, parameters, text conditions) and fills the parts of the report only it knows.
// The host measures everything else: parameter counts, new parameter names, the trainable set
// (from requires_grad), wall time, and the function-preservation error on a fixed probe batch.
// Operators never measure themselves.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "modelgrow/sdk/model.h"
#include "modelgrow/sdk/optimizer_state.h"
#include "modelgrow/sdk/plugin.h"
#include "modelgrow/sdk/training_hook.h"

namespace modelgrow {

// What the operator did to the optimizer state of the parameters that existed before.
enum class OptimizerStatePolicy {
  kCarried,      // kept: moved parameters keep their moments under their new names
  kReset,        // discarded: training after growth starts a fresh optimizer
  kTransformed,  // rewritten by the operator (e.g. padded to new shapes, rescaled)
};
const char* OptimizerStatePolicyName(OptimizerStatePolicy policy);

// Grown model output vs base output on the host's probe batch, fp32 (and bf16 where run).
struct PreservationError {
  double max_abs = 0;
  double max_rel = 0;        // max |grown - base| / max |base|
  double max_abs_bf16 = -1;  // -1: not measured
  int64_t probe_samples = 0;
  std::vector<double> timesteps;
  bool with_frame_mask = false;
  // {"measured": false} when probe_samples is 0; NaN and infinities as strings (JSON has none).
  nlohmann::json ToJson() const;
};

struct GrowthReport {
  // Filled by the operator.
  bool claims_preserving = false;  // whether the operator is exact by design
  OptimizerStatePolicy optimizer_state = OptimizerStatePolicy::kCarried;
  std::string optimizer_note;                         // what exactly happened to it, in a sentence
  nlohmann::json details = nlohmann::json::object();  // layout, sources of copies, ...
  // The first state of the hook the training after growth must run (training_hook.h); null when
  // the operator needs none.
  nlohmann::json training_hook;

  // Filled by the host.
  std::string op;
  nlohmann::json options = nlohmann::json::object();
  int64_t params_before = 0;
  int64_t params_after = 0;
  int64_t trainable_after = 0;
  std::vector<std::string> new_parameters;
  std::vector<std::string> frozen_parameters;
  PreservationError preservation;
  double seconds = 0;
  // Optimizer-state entries re-keyed onto the grown model, and entries dropped (their parameter
  // is gone, frozen, or changed shape without the operator transforming its state).
  int64_t optimizer_entries_carried = 0;
  int64_t optimizer_entries_dropped = 0;

  nlohmann::json ToJson() const;
};

// Training data for operators that learn how to grow (LiGO): the training loss of a model on the
// next batch of the grow stage's `fit` data, with the samples, captions, timesteps and noise drawn
// as a training stage draws them. Given only where the stage names fit data (GrowthContext::data).
class GrowthData {
 public:
  virtual ~GrowthData() = default;
  // The batch-mean rectified-flow loss of `model` (a scalar with its autograd graph); the next
  // call takes the next batch. `model` must have the text conditions of the model being grown.
  virtual torch::Tensor NextLoss(STDiT3Impl& model) = 0;
  // What the data are, for reports: {"data": id, "batch_size": ..., ...}.
  virtual nlohmann::json Describe() const = 0;
};

struct GrowthContext {
  STDiT3Impl& model;
  // AdamW state keyed by the names parameters had before growth; empty when there is none.
  // An operator that changes shapes pads or rescales the entries of the tensors it changes
  // (and says kTransformed); the host then carries every entry whose shape still matches.
  OptimizerState* optimizer_state = nullptr;
  uint64_t seed = 0;  // for any random initialisation the operator does
  // Training data to fit on; nullptr when the grow has none (`modelgrow grow`, a stage without
  // `fit`). An operator that needs it throws InputError saying how to give it.
  GrowthData* data = nullptr;
};

class GrowthOperator {
 public:
  virtual ~GrowthOperator() = default;
  // Throws InputError when this operator, as configured, cannot grow `model` (P incompatible
  // with N and M, a rank larger than the matrix, a pattern that matches nothing, ...). Nothing
  // may have changed when it throws.
  virtual void Check(const STDiT3Impl& model) const = 0;
  // Grows the model. To freeze parameters, set requires_grad(false) on them: the trainer gives
  // frozen parameters no optimizer state.
  virtual void Grow(GrowthContext& context, GrowthReport& report) = 0;
  // The training hook for `state` (what a report's training_hook or a hook's State() held), for
  // operators that act during training; others return null.
  virtual std::unique_ptr<TrainingHook> ResumeTrainingHook(const nlohmann::json& state) const {
    (void)state;
    return nullptr;
  }
};

}  // namespace modelgrow
