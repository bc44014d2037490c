// The depth_upscale operator's own behaviour: SOLAR's two overlapping copies, and an honest
// report that this is not preserving.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "growth/growth_test_util.h"
#include "test_util.h"

namespace modelgrow {
namespace {

using growth_testing::GrowWith;
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

TEST(DepthUpscale, OverlapsTwoCopiesKeepingEveryTrainedBlock) {
  STDiT3 model = TrainedModel(TinyConfig(4));
  GrowthReport report = GrowWith(*model);  // drop = N/4 = 1
  // SOLAR: [0 1 2] + [1 2 3] with the middle blocks copied and block 3 the original.
  EXPECT_EQ(report.details.at("layout").get<std::vector<std::string>>(),
            PairLayout({"0", "1", "2", "1'", "2'", "3"}));
  EXPECT_TRUE(report.details.at("dropped").empty());
  EXPECT_EQ(report.details.at("drop"), 1);
  EXPECT_EQ(model->config().depth, 6);
  EXPECT_FALSE(report.claims_preserving);
  EXPECT_GT(report.preservation.max_rel, 1e-4);
}

TEST(DepthUpscale, DropTwoOfSixGivesEight) {
  STDiT3 model = TrainedModel(TinyConfig(6));
  GrowthReport report = GrowWith(*model, "drop = 2\n");
  EXPECT_EQ(report.details.at("layout").get<std::vector<std::string>>(),
            PairLayout({"0", "1", "2", "3", "2'", "3'", "4", "5"}));
  EXPECT_EQ(model->config().depth, 8);
}

}  // namespace
}  // namespace modelgrow
