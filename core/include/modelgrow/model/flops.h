// Training compute, counted one way for every model so that growth operators, widths and depths
// compare (the growth zoo's "FLOPs to target"; docs/growth-operators.md gives the formula).
//
// FLOPs of one forward pass on one sample: 2 per multiply-add of every matrix product — the patch
// embedding, the timestep, fps and caption embedders, t_block, every block's qkv, attention
// scores and values (over the frame's tokens in spatial blocks, over time in temporal ones),
// output projections, cross-attention q, kv (over the caption's tokens), scores and values, the
// MLP, and the final layer. Elementwise work (norms, activations, modulation, softmax) is left out.
// A training step is 3 forward passes' worth per sample (backward computes two products for each
// forward one), whatever is frozen.
#pragma once

#include <cstdint>

#include "modelgrow/model/config.h"

namespace modelgrow {

// `frames`, `height`, `width`: the model input's size (latents, or pixels without a VAE).
double ForwardFlops(const STDiT3Config& config, int64_t frames, int64_t height, int64_t width);

inline double TrainingFlopsPerSample(const STDiT3Config& config, int64_t frames, int64_t height,
                                     int64_t width) {
  return 3 * ForwardFlops(config, frames, height, width);
}

}  // namespace modelgrow
