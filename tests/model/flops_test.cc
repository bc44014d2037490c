// The compute formula (model/flops.h) against the model it describes: a block's matrix products
// cost 2 FLOPs per weight per token that passes through it (caption tokens for kv), plus the
// attention scores and values, with the weights read from a real model's parameters.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "modelgrow/model/flops.h"
#include "modelgrow/model/stdit3.h"

namespace modelgrow {
namespace {

TEST(Flops, ABlockCostsTwoPerWeightPerTokenPlusItsAttention) {
  STDiT3Config c = PresetConfig("STDiT3-T/2");
  c.mlp_hidden_size = 200;  // widths of their own, so a wrong one shows
  c.head_dim = 24;
  c.extra_conditions.push_back({"llm", 40, 12});
  const int64_t frames = 4, height = 12, width = 8;
  const double t = 4, s = 6 * 4, n = t * s;
  STDiT3Config deeper = c;
  deeper.depth = c.depth + 1;
  const double measured =
      ForwardFlops(deeper, frames, height, width) - ForwardFlops(c, frames, height, width);

  STDiT3 model(deeper);
  const std::vector<double> tokens = {static_cast<double>(c.model_max_length), 12};
  double expected = 0;
  for (const char* list : {"spatial_blocks.0.", "temporal_blocks.0."}) {
    for (const auto& item : model->named_parameters()) {
      const std::string& key = item.key();
      if (key.rfind(list, 0) != 0 || item.value().dim() != 2 || key.ends_with("scale_shift_table"))
        continue;
      double passes = n;
      if (key.find("kv_linear") != std::string::npos)
        passes = key.find("cross_attn_1") != std::string::npos ? tokens[1] : tokens[0];
      expected += 2 * passes * static_cast<double>(item.value().numel());
    }
  }
  const double inner = 4 * 24;
  expected += 4 * n * s * inner + 4 * n * t * inner;  // self-attention, both blocks
  expected += 2 * (4 * n * tokens[0] * inner + 4 * n * tokens[1] * inner);  // cross, both
  EXPECT_DOUBLE_EQ(measured, expected);
}

TEST(Flops, TrainingIsThreeForwardPassesAndGrowsWithTheVideo) {
  STDiT3Config c = PresetConfig("STDiT3-T/2");
  EXPECT_DOUBLE_EQ(TrainingFlopsPerSample(c, 8, 16, 16), 3 * ForwardFlops(c, 8, 16, 16));
  EXPECT_GT(ForwardFlops(c, 16, 16, 16), 1.9 * ForwardFlops(c, 8, 16, 16));
  // A partial patch is padded to a whole one.
  EXPECT_DOUBLE_EQ(ForwardFlops(c, 8, 15, 16), ForwardFlops(c, 8, 16, 16));
}

}  // namespace
}  // namespace modelgrow
