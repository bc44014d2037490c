// Symmetry breaking: how many units of a model are near-copies of another unit of their layer.
// Growth by copying (hypercloning, net2net, stacking with init = "copy") creates such copies;
// a copy that stays a copy under training adds parameters but no capacity. The train stage
// measures this at its start and end (stage.json "symmetry"), and the report shows it.
//
// A unit is what one neuron or head reads and writes, as one vector: an MLP unit is its fc1 row,
// fc1 bias and fc2 column; a self-attention head its q, k and v rows (and biases) and its proj
// columns; a block all its parameters. Two units are near-identical when the cosine similarity of
// their vectors is at least `threshold`; units with a zero vector never are.
#pragma once

#include <cstdint>

#include <nlohmann/json.hpp>

#include "modelgrow/model/stdit3.h"

namespace modelgrow {

struct SymmetryStats {
  double threshold = 0.999;
  int64_t mlp_units = 0;
  int64_t mlp_near_identical = 0;  // MLP units with a near-identical unit in their block
  int64_t heads = 0;
  int64_t heads_near_identical = 0;  // self-attention heads likewise
  int64_t blocks = 0;
  int64_t blocks_near_identical = 0;  // blocks with a near-identical block in their list
  nlohmann::json ToJson() const;
};

SymmetryStats MeasureSymmetry(const STDiT3Impl& model, double threshold = 0.999);

}  // namespace modelgrow
