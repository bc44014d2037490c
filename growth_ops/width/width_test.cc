// The width operator's own behaviour: where the new rows and columns go and what they hold, exact
// parameter counts, optimizer moments padded in the same layout, symmetry breaking, and the
// refusal to resize layers with adapters.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fmt/format.h>

#include "growth/growth_test_util.h"
#include "modelgrow/model/clone.h"
#include "test_util.h"

namespace modelgrow {
namespace {

using growth_testing::AddTrainedLora;
using growth_testing::BlockParams;
using growth_testing::GrowWith;
using growth_testing::Snapshot;
using growth_testing::SomeInput;
using growth_testing::TinyConfig;
using growth_testing::TrainedModel;
using torch::indexing::None;
using torch::indexing::Slice;

TEST(Width, PadsNewUnitsWithZeroOutputsAndRandomInputs) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  STDiT3 base = CloneModel(*model);
  GrowWith(*model, "mlp_hidden = 160\nheads = 3\n");
  EXPECT_EQ(model->config().num_heads, 3);
  EXPECT_EQ(model->config().resolved_head_dim(), 16);
  EXPECT_EQ(model->config().resolved_mlp_hidden(), 160);
  auto p = model->named_parameters();
  auto b = base->named_parameters();
  torch::Tensor fc1 = p["spatial_blocks.0.mlp.fc1.weight"];
  EXPECT_EQ(fc1.sizes(), (std::vector<int64_t>{160, 32}));
  EXPECT_TRUE(torch::equal(fc1.index({Slice(0, 128)}), b["spatial_blocks.0.mlp.fc1.weight"]));
  EXPECT_GT(fc1.index({Slice(128, None)}).abs().min().item<float>(), 0.0f);
  EXPECT_EQ(p["spatial_blocks.0.mlp.fc2.weight"]
                .index({Slice(), Slice(128, None)})
                .abs()
                .max()
                .item<float>(),
            0.0f);
  // qkv is [3, heads, head_dim] on its output: each segment keeps its old rows first.
  torch::Tensor qkv = p["temporal_blocks.1.attn.qkv.weight"].view({3, 48, 32});
  torch::Tensor old_qkv = b["temporal_blocks.1.attn.qkv.weight"].view({3, 32, 32});
  EXPECT_TRUE(torch::equal(qkv.index({Slice(), Slice(0, 32)}), old_qkv));
  torch::Tensor kv = p["spatial_blocks.1.cross_attn.kv_linear.weight"].view({2, 48, 32});
  EXPECT_TRUE(torch::equal(kv.index({Slice(), Slice(0, 32)}),
                           b["spatial_blocks.1.cross_attn.kv_linear.weight"].view({2, 32, 32})));
  EXPECT_EQ(p["spatial_blocks.1.cross_attn.proj.weight"]
                .index({Slice(), Slice(32, None)})
                .abs()
                .max()
                .item<float>(),
            0.0f);
}

TEST(Width, EveryBlockGrowsByTheFormulasDifference) {
  const STDiT3Config c = TinyConfig(4);
  STDiT3 model = TrainedModel(c);
  GrowthReport r = GrowWith(*model, "mlp_hidden = 200\nheads = 3\n");
  const int64_t hd = c.resolved_head_dim();
  EXPECT_EQ(r.params_after - r.params_before,
            2 * c.depth *
                (BlockParams(c.hidden_size, 3, hd, 200) -
                 BlockParams(c.hidden_size, c.num_heads, hd, c.resolved_mlp_hidden())));
  EXPECT_EQ(r.params_after, model->NumParameters());
}

// The moments of a resized tensor keep their values in the old rows and columns and are zero in
// the new ones: the same layout as the weights.
TEST(Width, PadsTheMomentsOfResizedTensorsInTheWeightsLayout) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  OptimizerState state;
  for (const auto& item : model->named_parameters()) {
    state[item.key()] = {torch::randn_like(item.value()), torch::rand_like(item.value()), 4};
  }
  const torch::Tensor old_fc2 = state["spatial_blocks.0.mlp.fc2.weight"].exp_avg.clone();
  const torch::Tensor old_qkv = state["temporal_blocks.1.attn.qkv.weight"].exp_avg_sq.clone();
  GrowthReport report = GrowWith(*model, "mlp_hidden = 160\nheads = 3\n", &state);
  EXPECT_EQ(report.optimizer_state, OptimizerStatePolicy::kTransformed);
  EXPECT_EQ(report.optimizer_entries_dropped, 0);
  const torch::Tensor fc2 = state.at("spatial_blocks.0.mlp.fc2.weight").exp_avg;
  EXPECT_EQ(fc2.sizes(), (std::vector<int64_t>{32, 160}));
  EXPECT_TRUE(torch::equal(fc2.index({Slice(), Slice(0, 128)}), old_fc2));
  EXPECT_EQ(fc2.index({Slice(), Slice(128, None)}).abs().max().item<float>(), 0.0f);
  const torch::Tensor qkv =
      state.at("temporal_blocks.1.attn.qkv.weight").exp_avg_sq.view({3, 48, 32});
  EXPECT_TRUE(torch::equal(qkv.index({Slice(), Slice(0, 32)}), old_qkv.view({3, 32, 32})));
  EXPECT_EQ(qkv.index({Slice(), Slice(32, None)}).abs().max().item<float>(), 0.0f);
}

// Symmetry breaking: with random new inputs the new MLP units get gradients at once; with zero
// new inputs they output gelu(0) = 0 and no gradient ever reaches them.
TEST(Width, RandomInputsLetNewUnitsLearnZeroInputsDoNot) {
  for (const char* inputs : {"random", "zero"}) {
    STDiT3 model = TrainedModel(TinyConfig(2));
    GrowWith(*model, fmt::format("mlp_hidden = 160\nnew_inputs = \"{}\"\n", inputs));
    model->zero_grad();
    model->forward(SomeInput(model->config(), false)).pow(2).mean().backward();
    torch::Tensor grad = model->named_parameters()["spatial_blocks.0.mlp.fc2.weight"].grad();
    float new_grad = grad.index({Slice(), Slice(128, None)}).abs().max().item<float>();
    if (std::string(inputs) == "random") {
      EXPECT_GT(new_grad, 0.0f);
    } else {
      EXPECT_EQ(new_grad, 0.0f);
    }
  }
}

TEST(Width, LayersWithAdaptersAreRefusedUnchanged) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  AddTrainedLora(*model, "mlp.fc1");
  growth_testing::ModelSnapshot before = Snapshot(*model);
  EXPECT_THROW_WITH(GrowWith(*model, "heads = 3\n"), InputError, "has LoRA adapters",
                    "merge them first");
  EXPECT_TRUE(Snapshot(*model) == before);
}

}  // namespace
}  // namespace modelgrow
