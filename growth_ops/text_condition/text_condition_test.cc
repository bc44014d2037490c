// The text_condition operator's own behaviour: the layers of the new condition, their names and
// sizes, and the null caption it asks for.
#include <fmt/format.h>
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

// init_from: the new pathway starts as the named one, except its output projections (still zero,
// so the model is the same function) and what has another size (the caption MLP's first layer
// when the caption widths differ).
TEST(TextCondition, InitFromCopiesTheTrainedPathwayButItsOutput) {
  for (const int64_t channels : {int64_t{16}, int64_t{24}}) {
    SCOPED_TRACE(channels);
    STDiT3 model = TrainedModel(TinyConfig(2));
    GrowthReport r = GrowWith(*model, fmt::format("caption_channels = {}\ntoken_num = 9\n"
                                                  "init_from = \"t5\"\n",
                                                  channels));
    auto p = model->named_parameters();
    for (const std::string block : {"spatial_blocks.1", "temporal_blocks.0"}) {
      for (const std::string layer : {"q_linear.weight", "kv_linear.bias"}) {
        const std::string to = block + ".cross_attn_1." + layer;
        EXPECT_TRUE(torch::equal(p[to], p[block + ".cross_attn." + layer])) << to;
      }
      EXPECT_EQ(p[block + ".cross_attn_1.proj.weight"].abs().max().item<float>(), 0.0f);
      EXPECT_GT(p[block + ".cross_attn.proj.weight"].abs().max().item<float>(), 0.0f);
    }
    EXPECT_TRUE(
        torch::equal(p["y_embedder_1.y_proj.fc2.weight"], p["y_embedder.y_proj.fc2.weight"]));
    const bool same_width = channels == 16;
    EXPECT_EQ(
        p["y_embedder_1.y_proj.fc1.weight"].sizes() == p["y_embedder.y_proj.fc1.weight"].sizes() &&
            torch::equal(p["y_embedder_1.y_proj.fc1.weight"], p["y_embedder.y_proj.fc1.weight"]),
        same_width);
    const std::string kept = r.details.at("kept_initialisation").dump();
    EXPECT_EQ(kept.find("y_embedder_1.y_proj.fc1.weight") != std::string::npos, !same_width)
        << kept;
    EXPECT_EQ(r.details.at("init_from"), "t5");
    EXPECT_EQ(r.preservation.max_abs, 0.0);
  }
}

}  // namespace
}  // namespace modelgrow
