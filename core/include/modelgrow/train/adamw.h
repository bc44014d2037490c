// AdamW (decoupled weight decay, PyTorch's semantics) over named parameters, with its state kept
// by parameter name so it saves to safetensors (io/optimizer_file.h) and survives growth (re-keyed
// by the grow host).
#pragma once

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

class AdamW {
 public:
  // Only trainable parameters belong here: frozen ones get no state.
  AdamW(NamedTensors params, AdamWConfig config);

  // One update with learning rate `lr` from the parameters' .grad(); parameters without a
  // gradient are skipped (and their step count does not advance).
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
  OptimizerState state_;
};

// Total L2 norm of the gradients; scales them down to `max_norm` when above it (0: no clipping).
double ClipGradNorm(const NamedTensors& params, double max_norm);

}  // namespace modelgrow
