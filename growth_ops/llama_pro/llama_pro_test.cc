// The llama_pro operator's own behaviour: where the copies go, and that afterwards only the new
// blocks train (the freeze policy that sets it apart from `stack`).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <set>

#include "growth/growth_test_util.h"
#include "test_util.h"

namespace modelgrow {
namespace {

using growth_testing::Trainable;
using growth_testing::TrainAndDiff;

using growth_testing::BlockParams;
using growth_testing::GrowWith;
using growth_testing::SomeInput;
using growth_testing::TinyConfig;
using growth_testing::TrainedModel;

std::vector<std::string> PairLayout(const std::vector<std::string>& units) {
  std::vector<std::string> layout;
  for (const std::string& u : units) {
    layout.push_back("s" + u);
    layout.push_back("t" + u);
  }
  return layout;
}

TEST(LlamaPro, CopiesTheLastBlockOfEveryRunOfK) {
  STDiT3 model = TrainedModel(TinyConfig(4));
  GrowthReport report = GrowWith(*model, "every = 2\n");
  EXPECT_EQ(report.details.at("layout").get<std::vector<std::string>>(),
            PairLayout({"0", "1", "1'", "2", "3", "3'"}));
  EXPECT_LE(report.preservation.max_rel, 1e-6);
  const STDiT3Config c = TinyConfig(4);
  EXPECT_EQ(
      report.params_after - report.params_before,
      2 * 2 *
          BlockParams(c.hidden_size, c.num_heads, c.resolved_head_dim(), c.resolved_mlp_hidden()));
}

TEST(LlamaPro, AfterwardsOnlyTheNewBlocksTrain) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  GrowthReport report = GrowWith(*model, "every = 1\n");
  std::set<std::string> expected;
  for (const auto& [key, source] : report.details.at("copied_from").items()) {
    for (const auto& item : model->named_parameters()) {
      if (item.key().starts_with(key + ".")) expected.insert(item.key());
    }
  }
  ASSERT_FALSE(expected.empty());
  EXPECT_EQ(Trainable(*model), expected);
  EXPECT_EQ(std::set<std::string>(report.new_parameters.begin(), report.new_parameters.end()),
            expected);
  // Embedders and the final layer are frozen too.
  EXPECT_FALSE(model->named_parameters()["x_embedder.proj.weight"].requires_grad());
  EXPECT_FALSE(model->named_parameters()["final_layer.linear.weight"].requires_grad());
  EXPECT_EQ(report.trainable_after, report.params_after - report.params_before);
  std::set<std::string> with_grad;
  EXPECT_EQ(TrainAndDiff(*model, &with_grad), expected);
  for (const std::string& name : with_grad) EXPECT_TRUE(expected.contains(name)) << name;
}

// The originals are frozen, so their moments go; the policy says so.
TEST(LlamaPro, ResetsTheOptimizerState) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  OptimizerState state;
  for (const auto& item : model->named_parameters()) {
    state[item.key()] = {torch::ones_like(item.value()), torch::ones_like(item.value()), 3};
  }
  const int64_t entries = static_cast<int64_t>(state.size());
  GrowthReport report = GrowWith(*model, "every = 2\n", &state);
  EXPECT_EQ(report.optimizer_state, OptimizerStatePolicy::kReset);
  EXPECT_TRUE(state.empty());
  EXPECT_EQ(report.optimizer_entries_dropped, entries);
}

}  // namespace
}  // namespace modelgrow
