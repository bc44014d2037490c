// The ligo operator's own behaviour (determinism, reports and refusals are the conformance
// suite's): before fitting it is exactly the growth it starts from (G_stack's copies, or
// HyperCloning's tiling), its first fitting step moves each depth weight as Adam moves it with
// the gradient the chain rule gives, and fitting lowers the loss it fits on.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "growth/growth_test_util.h"
#include "modelgrow/model/clone.h"
#include "test_util.h"

namespace modelgrow {
namespace {

using growth_testing::DistillationData;
using growth_testing::GrowWith;
using growth_testing::GrowWithPlugin;
using growth_testing::GrowWithSteps;
using growth_testing::Step;
using growth_testing::TinyConfig;
using growth_testing::TinyProbe;
using growth_testing::TrainedModel;
using json = nlohmann::json;

GrowthReport GrowFitted(STDiT3Impl& model, const std::string& toml, GrowthData& data) {
  return GrowWithSteps(model, {Step("ligo", toml)}, nullptr, TinyProbe(), &data).at(0);
}

void ExpectSameTensors(const STDiT3Impl& a, const STDiT3Impl& b) {
  auto pa = a.named_parameters();
  auto pb = b.named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& item : pa) {
    ASSERT_TRUE(pb.contains(item.key())) << item.key();
    const torch::Tensor& other = pb[item.key()];
    ASSERT_EQ(item.value().sizes(), other.sizes()) << item.key();
    EXPECT_TRUE(torch::allclose(item.value(), other, 0, 1e-7)) << item.key();
  }
}

TEST(Ligo, UnfittedDepthIsGStackAndUnfittedWidthIsHyperCloning) {
  STDiT3 base = TrainedModel(TinyConfig(2));
  STDiT3 ligo = CloneModel(*base), g_stack = CloneModel(*base);
  GrowWith(*ligo, "steps = 0\n");
  GrowWithPlugin(*g_stack, "g_stack", "factor = 2\n");
  ExpectSameTensors(*ligo, *g_stack);

  STDiT3 wide = CloneModel(*base), cloned = CloneModel(*base);
  GrowthReport report = GrowWith(*wide, "depth_factor = 1\nwidth_factor = 2\nsteps = 0\n");
  GrowWithPlugin(*cloned, "hypercloning", "factor = 2\n");
  ExpectSameTensors(*wide, *cloned);
  EXPECT_TRUE(report.claims_preserving);
  EXPECT_LT(report.preservation.max_rel, 1e-6);
  EXPECT_EQ(wide->config().hidden_size, 2 * base->config().hidden_size);
}

TEST(Ligo, InterleaveStartsEachBlockFollowedByItsCopies) {
  STDiT3 base = TrainedModel(TinyConfig(2));
  STDiT3 grown = CloneModel(*base);
  GrowthReport report =
      GrowWith(*grown, "depth_factor = 3\ndepth_init = \"interleave\"\nsteps = 0\n");
  EXPECT_EQ(grown->config().depth, 6);
  auto before = base->named_parameters();
  auto after = grown->named_parameters();
  for (int64_t l = 0; l < 6; ++l) {
    for (const char* list : {"spatial_blocks", "temporal_blocks"}) {
      const std::string key = fmt::format("{}.{}.mlp.fc1.weight", list, l);
      const std::string source = fmt::format("{}.{}.mlp.fc1.weight", list, l / 3);
      EXPECT_TRUE(torch::equal(after[key], before[source])) << key;
    }
  }
  const auto rows = report.details.at("depth_weights").at("spatial_blocks");
  ASSERT_EQ(rows.size(), 6u);
  EXPECT_EQ(rows[4].get<std::vector<double>>(), (std::vector<double>{0, 1}));
}

// One Adam step from the G_stack start: each depth weight D[l, j] of a tensor moves by
// -lr * g / (|g| + eps) with g = <dL/dW'_l, W_j>, the chain rule through W'_l = sum_j D[l, j] W_j.
// The report averages D over a list's tensors, so the expectation is averaged the same way.
TEST(Ligo, FirstFitStepMovesDepthWeightsAsAdamWithTheChainRule) {
  STDiT3 base = TrainedModel(TinyConfig(2));
  const double lr = 1e-3;

  STDiT3 start = CloneModel(*base);
  GrowWith(*start, "steps = 0\n");
  DistillationData first_batch(*base);
  start->train();
  first_batch.NextLoss(*start).backward();
  auto grads = start->named_parameters();
  auto base_params = base->named_parameters();
  std::map<std::string, torch::Tensor> expected_sum;  // list -> [4, 2]
  std::map<std::string, int64_t> tensors;
  for (const auto& item : grads) {
    const std::string& key = item.key();
    const std::string list = key.substr(0, key.find('.'));
    if (list != "spatial_blocks" && list != "temporal_blocks") continue;
    const size_t index_end = key.find('.', list.size() + 1);
    const int64_t l = std::stoll(key.substr(list.size() + 1, index_end - list.size() - 1));
    const std::string name = key.substr(index_end + 1);
    if (!expected_sum.contains(list)) expected_sum[list] = torch::zeros({4, 2}, torch::kDouble);
    if (l == 0) ++tensors[list];
    for (int64_t j = 0; j < 2; ++j) {
      const torch::Tensor w_j = base_params[fmt::format("{}.{}.{}", list, j, name)];
      const double g = (item.value().grad() * w_j).sum().item<double>();
      const double init = (l % 2 == j) ? 1.0 : 0.0;
      expected_sum[list][l][j] += init - lr * g / (std::abs(g) + 1e-8);
    }
  }

  STDiT3 fitted = CloneModel(*base);
  DistillationData data(*base);
  GrowthReport report = GrowFitted(*fitted, "steps = 1\nlr = 0.001\n", data);
  EXPECT_EQ(data.calls(), 1);
  for (const auto& [list, sum] : expected_sum) {
    const auto rows = report.details.at("depth_weights").at(list);
    ASSERT_EQ(rows.size(), 4u) << list;
    for (int64_t l = 0; l < 4; ++l) {
      for (int64_t j = 0; j < 2; ++j) {
        const double expected = sum[l][j].item<double>() / static_cast<double>(tensors[list]);
        EXPECT_NEAR(rows[l][j].get<double>(), expected, 1e-6)
            << list << " D[" << l << "," << j << "]";
      }
    }
  }
}

// Fitting on the base's outputs pulls the stacked model (which computes every block twice) back
// toward the base: the loss falls and the host's probe moves less than without fitting.
TEST(Ligo, FittingLowersItsLossAndThePreservationError) {
  STDiT3 base = TrainedModel(TinyConfig(2));
  STDiT3 unfitted = CloneModel(*base), fitted = CloneModel(*base);
  GrowthReport before = GrowWith(*unfitted, "depth_factor = 2\nwidth_factor = 2\nsteps = 0\n");
  DistillationData data(*base);
  GrowthReport after = GrowFitted(
      *fitted, "depth_factor = 2\nwidth_factor = 2\nsteps = 40\nlr = 0.03\nwidth_lr = 3e-4\n",
      data);
  const auto losses = after.details.at("fit").at("losses").get<std::vector<double>>();
  ASSERT_EQ(losses.size(), 40u);
  EXPECT_LT(losses.back(), 0.5 * losses.front());
  EXPECT_LT(after.preservation.max_rel, before.preservation.max_rel);
  EXPECT_FALSE(after.claims_preserving);
  EXPECT_EQ(after.optimizer_state, OptimizerStatePolicy::kReset);
  EXPECT_GT(after.details.at("width_change").at("hidden_out").get<double>(), 0);
  EXPECT_EQ(after.details.at("fit").at("data").at("calls"), 40);
  // The operator's own parameters: D per block tensor and list ([4, 2] each), E per width.
  EXPECT_GT(after.details.at("operator_parameters").get<int64_t>(), 0);
}

TEST(Ligo, FittingWithoutDataSaysHowToGiveIt) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  EXPECT_THROW_WITH(GrowWith(*model, "steps = 5\n"), InputError, "[stages.<name>.fit]");
}

}  // namespace
}  // namespace modelgrow
