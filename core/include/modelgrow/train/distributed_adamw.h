// The trainer's optimizer across ranks: AdamW over every trainable parameter on every rank, or,
// sharded (ZeRO stage 1, as PyTorch's ZeroRedundancyOptimizer), each rank keeping the moments of
// its own part of the parameters only. The parts are balanced by size (largest parameter first,
// each to the rank holding the fewest elements so far); a rank updates its part and broadcasts it,
// so every rank ends the step with the same weights an unsharded AdamW gives — the update of a
// parameter is the same arithmetic whichever rank does it.
//
// In a world of one, or unsharded, it is plain AdamW.
#pragma once

#include <cstdint>
#include <vector>

#include "modelgrow/dist/communicator.h"
#include "modelgrow/sdk/optimizer_state.h"
#include "modelgrow/sdk/safetensors.h"
#include "modelgrow/train/adamw.h"

namespace modelgrow {

class DistributedAdamW {
 public:
  // `params`: the trainable parameters in the model's order (the same on every rank).
  // `hypers`: the parameters' own learning-rate multipliers and weight decays, by name.
  DistributedAdamW(NamedTensors params, AdamWConfig config, Communicator& comm, bool shard,
                   double bucket_mb = 25.0, const ParameterHypers& hypers = {});

  // Updates from the parameters' gradients (the same on every rank: averaged beforehand).
  void Step(double lr);
  void ZeroGrad();

  const NamedTensors& params() const { return params_; }
  bool sharded() const { return shard_; }
  // The rank whose moments hold parameter `index` (of params()).
  int owner(size_t index) const { return owner_[index]; }
  // Bytes of AdamW moments (fp32 exp_avg + exp_avg_sq) each rank holds once every parameter has
  // been updated, by rank.
  std::vector<int64_t> moment_bytes_per_rank() const;

  // The whole optimizer state, assembled on rank 0 (a collective when sharded: every rank calls
  // it; the other ranks get only their own part).
  OptimizerState GatherState();
  // Takes over the entries of a whole saved state that belong to this rank; returns how many.
  int64_t AdoptState(const OptimizerState& state);

 private:
  void BroadcastParameters();

  NamedTensors params_;
  Communicator& comm_;
  bool shard_;
  int64_t bucket_bytes_;
  std::vector<int> owner_;
  AdamW local_;  // over this rank's parameters (all of them when unsharded)
};

}  // namespace modelgrow
