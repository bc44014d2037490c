// The hypercloning operator's own behaviour (exactness and the report are the conformance
// suite's): what each grown tensor holds, the gradients and the first AdamW step of the grown
// model against the base's, written out from the theory rather than from the operator's rules,
// and symmetry: copies stay copies without noise and start apart with it.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "growth/growth_test_util.h"
#include "modelgrow/model/clone.h"
#include "modelgrow/train/adamw.h"
#include "test_util.h"

namespace modelgrow {
namespace {

using growth_testing::GrowWith;
using growth_testing::SomeInput;
using growth_testing::TinyConfig;
using growth_testing::TrainedModel;
using torch::indexing::Slice;

torch::Tensor Param(const STDiT3Impl& model, const std::string& key) {
  return model.named_parameters()[key];
}

NamedTensors Params(const STDiT3Impl& model) {
  NamedTensors out;
  for (const auto& item : model.named_parameters()) out.emplace_back(item.key(), item.value());
  return out;
}

// The scalar every gradient here comes from: any function of the output works, since the grown
// model's output is the base's.
void Backward(STDiT3Impl& model, const ModelInput& in) {
  model.train();
  for (auto& p : model.parameters()) p.mutable_grad() = torch::Tensor();
  model.forward(in).pow(2).mean().backward();
}

// Block (i, j) of a matrix split into rows x cols equal blocks.
torch::Tensor Block(const torch::Tensor& t, int64_t rows, int64_t cols, int64_t i, int64_t j) {
  const int64_t r = t.size(0) / rows, c = t.size(1) / cols;
  return t.index({Slice(i * r, (i + 1) * r), Slice(j * c, (j + 1) * c)});
}

bool Close(const torch::Tensor& a, const torch::Tensor& b, double rel = 1e-5) {
  const double scale = std::max(b.abs().max().item<double>(), 1e-12);
  return (a - b).abs().max().item<double>() <= rel * scale;
}

TEST(HyperCloning, EveryWidthDoublesAndTheConfigSaysHow) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  GrowthReport report = GrowWith(*model, "");
  const STDiT3Config& c = model->config();
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.num_heads, 4);
  EXPECT_EQ(c.resolved_head_dim(), 16);
  EXPECT_EQ(c.resolved_mlp_hidden(), 256);
  EXPECT_EQ(c.resolved_pos_embed_dim(), 32);
  EXPECT_EQ(c.ToJson()["modelgrow_pos_embed_dim"], 32);
  EXPECT_EQ(report.params_after, STDiT3(c)->NumParameters());
  EXPECT_LE(report.preservation.max_rel, 1e-6);
}

TEST(HyperCloning, TensorsHoldCopiesOfTheBaseDividedByTheirInputCopies) {
  STDiT3 model = TrainedModel(TinyConfig(1));
  STDiT3 base = CloneModel(*model);
  GrowWith(*model, "factor = 3\n");
  torch::Tensor fc1 = Param(*base, "spatial_blocks.0.mlp.fc1.weight");
  torch::Tensor grown_fc1 = Param(*model, "spatial_blocks.0.mlp.fc1.weight");
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) EXPECT_TRUE(torch::equal(Block(grown_fc1, 3, 3, i, j), fc1 / 3.0));
  }
  // q, k and v each get their copies: head h of the grown q is head h mod H of the base's q.
  torch::Tensor qkv = Param(*base, "temporal_blocks.0.attn.qkv.weight");         // [3 x 32, 32]
  torch::Tensor grown_qkv = Param(*model, "temporal_blocks.0.attn.qkv.weight");  // [3 x 96, 96]
  for (int s = 0; s < 3; ++s) {
    torch::Tensor part = grown_qkv.index({Slice(s * 96, (s + 1) * 96)});
    torch::Tensor original = qkv.index({Slice(s * 32, (s + 1) * 32)});
    EXPECT_TRUE(torch::equal(Block(part, 3, 3, 2, 1), original / 3.0)) << s;
  }
  // The caption projection reads the caption: its rows are copied, not divided.
  torch::Tensor y1 = Param(*base, "y_embedder.y_proj.fc1.weight");
  EXPECT_TRUE(torch::equal(Param(*model, "y_embedder.y_proj.fc1.weight"), y1.repeat({3, 1})));
  // The final layer writes the output: it reads three copies and divides by three.
  torch::Tensor out = Param(*base, "final_layer.linear.weight");
  EXPECT_TRUE(torch::equal(Param(*model, "final_layer.linear.weight"), out.repeat({1, 3}) / 3.0));
  EXPECT_TRUE(torch::equal(Param(*model, "final_layer.linear.bias"),
                           Param(*base, "final_layer.linear.bias")));
  EXPECT_TRUE(torch::equal(Param(*model, "spatial_blocks.0.attn.q_norm.weight"),
                           Param(*base, "spatial_blocks.0.attn.q_norm.weight")));
}

// A copy of W gets G / a, a the number of times its output is read (n inside the model, 1 for
// the final layer and for parameters shared by every head).
TEST(HyperCloning, EachCopyGetsTheBasesGradientOverItsReadCount) {
  STDiT3 model = TrainedModel(TinyConfig(1));
  STDiT3 base = CloneModel(*model);
  GrowWith(*model, "");
  ModelInput in = SomeInput(base->config(), /*frame_mask=*/true);
  Backward(*base, in);
  Backward(*model, in);
  auto grad = [](const STDiT3Impl& m, const std::string& key) { return Param(m, key).grad(); };
  torch::Tensor g = grad(*base, "spatial_blocks.0.mlp.fc1.weight");
  torch::Tensor grown = grad(*model, "spatial_blocks.0.mlp.fc1.weight");
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 2; ++j) EXPECT_TRUE(Close(Block(grown, 2, 2, i, j), g / 2)) << i << j;
  }
  g = grad(*base, "final_layer.linear.weight");
  grown = grad(*model, "final_layer.linear.weight");
  EXPECT_TRUE(Close(Block(grown, 1, 2, 0, 1), g));
  EXPECT_TRUE(Close(grad(*model, "x_embedder.proj.weight").slice(0, 32),
                    grad(*base, "x_embedder.proj.weight") / 2));
  EXPECT_TRUE(Close(grad(*model, "temporal_blocks.0.attn.k_norm.weight"),
                    grad(*base, "temporal_blocks.0.attn.k_norm.weight")));
  EXPECT_TRUE(Close(grad(*model, "spatial_blocks.0.scale_shift_table").slice(1, 32),
                    grad(*base, "spatial_blocks.0.scale_shift_table") / 2));
}

// With the moments cloned (m / a, v / a^2), the first AdamW step moves every copy by exactly the
// base's step U. A tensor whose input is copied holds W / n, so in the function that step counts
// n times: the grown model follows the base trained with n times the learning rate on it.
TEST(HyperCloning, TheFirstStepAfterGrowthMovesEachCopyAsTheBasesStep) {
  const double lr = 1e-3, wd = 0.01;
  const AdamWConfig config{0.9, 0.999, 1e-12, wd};
  STDiT3 base = TrainedModel(TinyConfig(1));
  ModelInput in = SomeInput(base->config(), /*frame_mask=*/false);
  AdamW warmup(Params(*base), config);  // gives the base moments to carry
  Backward(*base, in);
  warmup.Step(lr);
  OptimizerState grown_state = warmup.state();
  STDiT3 model = CloneModel(*base);
  GrowthReport report = GrowWith(*model, "", &grown_state);
  EXPECT_EQ(report.optimizer_entries_dropped, 0);

  std::map<std::string, torch::Tensor> before;
  for (const auto& [key, t] : Params(*base)) before[key] = t.detach().clone();
  AdamW base_opt(Params(*base), config);
  base_opt.AdoptState(warmup.state());
  Backward(*base, in);
  base_opt.Step(lr);
  AdamW grown_opt(Params(*model), config);
  EXPECT_EQ(grown_opt.AdoptState(grown_state), static_cast<int64_t>(grown_state.size()));
  Backward(*model, in);
  grown_opt.Step(lr);

  // U = (W (1 - lr wd) - W') / lr, the base's AdamW step.
  auto step_of = [&](const std::string& key) {
    return (before[key] * (1 - lr * wd) - Param(*base, key).detach()) / lr;
  };
  // Input copied (n = 2): each block is W / 2 (1 - lr wd) - lr U.
  for (const char* key : {"spatial_blocks.0.mlp.fc1.weight", "temporal_blocks.0.attn.proj.weight",
                          "t_embedder.mlp.2.weight"}) {
    SCOPED_TRACE(key);
    torch::Tensor expected = before[key] / 2 * (1 - lr * wd) - lr * step_of(key);
    torch::Tensor grown = Param(*model, key).detach();
    for (int i = 0; i < 2; ++i) {
      for (int j = 0; j < 2; ++j) EXPECT_TRUE(Close(Block(grown, 2, 2, i, j), expected, 1e-4));
    }
  }
  // Input not copied: the grown tensor is the base's new one, copied.
  EXPECT_TRUE(Close(Param(*model, "y_embedder.y_proj.fc1.weight").detach().slice(0, 32),
                    Param(*base, "y_embedder.y_proj.fc1.weight").detach(), 1e-4));
  EXPECT_TRUE(Close(Param(*model, "spatial_blocks.0.scale_shift_table").detach().slice(1, 32),
                    Param(*base, "spatial_blocks.0.scale_shift_table").detach(), 1e-4));
}

TEST(HyperCloning, CopiesStayCopiesWithoutNoiseAndStartApartWithIt) {
  ModelInput in = SomeInput(TinyConfig(1), false);
  for (double noise : {0.0, 0.1}) {
    SCOPED_TRACE(noise);
    STDiT3 model = TrainedModel(TinyConfig(1));
    STDiT3 base = CloneModel(*model);
    GrowthReport report = GrowWith(*model, fmt::format("noise = {}\n", noise));
    EXPECT_LE(report.preservation.max_rel, 1e-5);
    AdamW opt(Params(*model), {});
    for (int step = 0; step < 3; ++step) {
      Backward(*model, in);
      opt.Step(1e-3);
    }
    torch::Tensor fc1 = Param(*model, "spatial_blocks.0.mlp.fc1.weight").detach();
    // Copies are computed by the same arithmetic, up to the BLAS's blocking: equal to rounding.
    const double apart = ((Block(fc1, 2, 2, 0, 0) - Block(fc1, 2, 2, 1, 1)).abs().max() /
                          Block(fc1, 2, 2, 0, 0).abs().max())
                             .item<double>();
    if (noise == 0) {
      EXPECT_LT(apart, 1e-5);
    } else {
      EXPECT_GT(apart, 1e-3);
    }
  }
}

TEST(HyperCloning, RefusesLoraAdapters) {
  STDiT3 model = TrainedModel(TinyConfig(1));
  growth_testing::AddTrainedLora(*model, "mlp.fc1");
  EXPECT_THROW(GrowWith(*model, ""), InputError);
}

}  // namespace
}  // namespace modelgrow
