// The text_condition operator's own behaviour: the layers of the new condition, their names and
// sizes, and the null caption it asks for.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "growth/growth_test_util.h"
#include "test_util.h"

namespace modelgrow {
namespace {

using growth_testing::BlockParams;
using growth_testing::GrowWith;
using growth_testing::TinyConfig;
using growth_testing::TrainedModel;

TEST(TextCondition, AddsTheLLMPathway) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  GrowthReport report =
      GrowWith(*model, "caption_channels = 40\ntoken_num = 7\nnull = \"zeros\"\n");
  EXPECT_EQ(model->config().extra_conditions.size(), 1u);
  EXPECT_EQ(model->config().extra_conditions[0].name, "llm");
  EXPECT_EQ(model->NullCaption(1).sizes(), (std::vector<int64_t>{7, 40}));
  EXPECT_EQ(model->NullCaption(1).abs().max().item<float>(), 0.0f);
  auto p = model->named_parameters();
  EXPECT_TRUE(p.contains("y_embedder_1.y_proj.fc1.weight"));
  EXPECT_EQ(p["temporal_blocks.0.cross_attn_1.proj.weight"].abs().max().item<float>(), 0.0f);
  EXPECT_EQ(p["temporal_blocks.0.cross_attn_1.proj.bias"].abs().max().item<float>(), 0.0f);
  EXPECT_EQ(report.details.at("cross_attention"), "cross_attn_1");
  for (const auto& block : model->spatial_blocks()) EXPECT_EQ(block->cross_attns.size(), 2u);
}

TEST(TextCondition, RandomNullCaptionIsNotZero) {
  STDiT3 model = TrainedModel(TinyConfig(1));
  GrowWith(*model, "caption_channels = 8\ntoken_num = 3\n");
  EXPECT_GT(model->NullCaption(1).abs().max().item<float>(), 0.0f);
}

// One cross-attention per block, plus the caption MLP (D -> C -> C).
TEST(TextCondition, AddsACrossAttentionPerBlockAndACaptionMlp) {
  const STDiT3Config c = TinyConfig(4);
  const int64_t C = c.hidden_size, hd = c.resolved_head_dim(), H = c.resolved_mlp_hidden();
  const int64_t d = 24;
  STDiT3 model = TrainedModel(c);
  GrowthReport r = GrowWith(*model, "caption_channels = 24\ntoken_num = 5\n");
  EXPECT_EQ(r.params_after - r.params_before, 2 * c.depth *
                                                      (BlockParams(C, c.num_heads, hd, H, 2) -
                                                       BlockParams(C, c.num_heads, hd, H, 1)) +
                                                  (d * C + C) + (C * C + C));
}

}  // namespace
}  // namespace modelgrow
