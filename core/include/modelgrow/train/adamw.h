// AdamW (decoupled weight decay, PyTorch's semantics) over named parameters, with its state kept
// by parameter name so it saves to safetensors (io/optimizer_file.h) and survives growth (re-keyed
// by the grow host).
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "modelgrow/sdk/optimizer_state.h"
#include "modelgrow/sdk/safetensors.h"

namespace modelgrow {

struct AdamWConfig {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
};

// A parameter's own learning-rate multiplier and weight decay: what its group gives it
// (train/parameter_groups.h), as a PyTorch param_group's options do.
struct ParameterHyper {
  double lr_scale = 1.0;
  double weight_decay = 0.0;
};
// By parameter name; a parameter it does not name takes lr_scale 1 and the config's weight decay.
using ParameterHypers = std::map<std::string, ParameterHyper>;

class AdamW {
 public:
  // Only trainable parameters belong here: frozen ones get no state.
  AdamW(NamedTensors params, AdamWConfig config, const ParameterHypers& hypers = {});

  // One update with learning rate `lr` (times each parameter's lr_scale) from the parameters'
  // .grad(); parameters without a gradient are skipped (and their step count does not advance).
  void Step(double lr);
  void ZeroGrad();

  const NamedTensors& params() const { return params_; }
  OptimizerState& state() { return state_; }
  const OptimizerState& state() const { return state_; }

  // Takes over entries of `state` whose names and shapes match this optimizer's parameters.
  int64_t AdoptState(const OptimizerState& state);

 private:
  NamedTensors params_;
  AdamWConfig config_;
  std::vector<ParameterHyper> hypers_;  // one per parameter, in params_' order
  OptimizerState state_;
};

// Total L2 norm of the gradients; scales them down to `max_norm` when above it (0: no clipping).
double ClipGradNorm(const NamedTensors& params, double max_norm);

}  // namespace modelgrow
