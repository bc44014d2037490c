// The symmetry-breaking metric (growth/symmetry.h) on models whose copies are made by hand: it
// counts exactly the units and blocks that have a near-copy, and none in a model without copies.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "growth/growth_test_util.h"
#include "modelgrow/growth/symmetry.h"

namespace modelgrow {
namespace {

using growth_testing::TinyConfig;
using growth_testing::TrainedModel;

TEST(Symmetry, AModelWithoutCopiesHasNone) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  SymmetryStats s = MeasureSymmetry(*model);
  EXPECT_EQ(s.mlp_units, 4 * 128);
  EXPECT_EQ(s.heads, 4 * 2);
  EXPECT_EQ(s.blocks, 4);
  EXPECT_EQ(s.mlp_near_identical, 0);
  EXPECT_EQ(s.heads_near_identical, 0);
  EXPECT_EQ(s.blocks_near_identical, 0);
}

TEST(Symmetry, CountsEveryUnitThatHasANearCopy) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  torch::NoGradGuard no_grad;
  Linear fc1_holder = model->spatial_blocks()[0]->mlp->fc1;
  LinearImpl& fc1 = *fc1_holder;
  Linear fc2_holder = model->spatial_blocks()[0]->mlp->fc2;
  LinearImpl& fc2 = *fc2_holder;
  // Unit 5 becomes a copy of unit 3 (scaled: cosine ignores it), unit 9 almost one of unit 7.
  fc1.weight[5].copy_(fc1.weight[3] * 2);
  fc1.bias[5].copy_(fc1.bias[3] * 2);
  fc2.weight.select(1, 5).copy_(fc2.weight.select(1, 3) * 2);
  fc1.weight[9].copy_(fc1.weight[7] + 1e-6);
  fc1.bias[9].copy_(fc1.bias[7]);
  fc2.weight.select(1, 9).copy_(fc2.weight.select(1, 7));
  // A unit whose weights are all zero is nobody's copy (zero-initialised growth makes those).
  fc1.weight[11].zero_();
  fc1.bias[11].zero_();
  fc2.weight.select(1, 11).zero_();
  fc1.weight[12].zero_();
  fc1.bias[12].zero_();
  fc2.weight.select(1, 12).zero_();
  // Head 1 of temporal block 1 becomes a copy of its head 0 (q, k, v rows and proj columns).
  SelfAttention attn_holder = model->temporal_blocks()[1]->attn;
  SelfAttentionImpl& attn = *attn_holder;
  for (int s = 0; s < 3; ++s) {
    attn.qkv->weight.slice(0, s * 32 + 16, s * 32 + 32)
        .copy_(attn.qkv->weight.slice(0, s * 32, s * 32 + 16));
    attn.qkv->bias.slice(0, s * 32 + 16, s * 32 + 32)
        .copy_(attn.qkv->bias.slice(0, s * 32, s * 32 + 16));
  }
  attn.proj->weight.slice(1, 16, 32).copy_(attn.proj->weight.slice(1, 0, 16));
  // Spatial block 1 becomes a copy of spatial block 0.
  auto target = model->spatial_blocks()[1]->named_parameters();
  for (const auto& item : model->spatial_blocks()[0]->named_parameters())
    target[item.key()].copy_(item.value());

  SymmetryStats s = MeasureSymmetry(*model);
  // Units 3, 5, 7, 9 in spatial block 0 and the same four in its copy, block 1.
  EXPECT_EQ(s.mlp_near_identical, 8);
  EXPECT_EQ(s.heads_near_identical, 2);
  EXPECT_EQ(s.blocks_near_identical, 2);
  EXPECT_EQ(s.ToJson()["mlp_near_identical"], 8);
}

}  // namespace
}  // namespace modelgrow
