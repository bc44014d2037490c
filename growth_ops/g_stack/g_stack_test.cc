// The g_stack operator's own behaviour: the whole block list repeated g times, and an honest
// report that this is not preserving.
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

TEST(GStack, RepeatsTheWholeListAndSaysHowFarItMovedTheOutput) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  GrowthReport report = GrowWith(*model, "factor = 3\n");
  EXPECT_EQ(report.details.at("layout").get<std::vector<std::string>>(),
            (std::vector<std::string>{"s0", "t0", "s1", "t1", "s0'", "t0'", "s1'", "t1'", "s0'",
                                      "t0'", "s1'", "t1'"}));
  EXPECT_FALSE(report.claims_preserving);
  EXPECT_GT(report.preservation.max_rel, 1e-3);
  EXPECT_EQ(model->config().depth, 6);
}

TEST(GStack, AddsGMinusOneCopiesOfEveryBlock) {
  const STDiT3Config c = TinyConfig(4);
  STDiT3 model = TrainedModel(c);
  GrowthReport report = GrowWith(*model, "factor = 4\n");
  EXPECT_EQ(
      report.params_after - report.params_before,
      3 * 2 * c.depth *
          BlockParams(c.hidden_size, c.num_heads, c.resolved_head_dim(), c.resolved_mlp_hidden()));
  EXPECT_EQ(report.params_after, model->NumParameters());
}

// One list: its repetitions go after all blocks; the other list is untouched.
TEST(GStack, OneListIsRepeatedAfterAllBlocks) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  GrowthReport report = GrowWith(*model, "lists = \"temporal\"\n");
  EXPECT_EQ(report.details.at("layout").get<std::vector<std::string>>(),
            (std::vector<std::string>{"s0", "t0", "s1", "t1", "t0'", "t1'"}));
  EXPECT_EQ(model->config().spatial_count(), 2);
  EXPECT_EQ(model->config().temporal_count(), 4);
}

}  // namespace
}  // namespace modelgrow
