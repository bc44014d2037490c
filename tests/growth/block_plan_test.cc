// The block-planning API of the SDK (modelgrow/sdk/block_plan.h), which depth operators are
// written with: plans, their validation before any change, and zero init that is exact on blocks
// with LoRA adapters.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "growth_test_util.h"
#include "modelgrow/model/clone.h"
#include "modelgrow/sdk/block_plan.h"
#include "test_util.h"

namespace modelgrow {
namespace {

using growth_testing::AddTrainedLora;
using growth_testing::Snapshot;
using growth_testing::TinyConfig;
using growth_testing::TinyProbe;
using growth_testing::TrainedModel;
using json = nlohmann::json;

TEST(BlockPlan, RejectsAnOriginalUsedTwiceBeforeChangingAnything) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  growth_testing::ModelSnapshot before = Snapshot(*model);
  std::vector<PlannedBlock> plan = CurrentPlan(*model);
  plan.push_back(plan.front());
  EXPECT_THROW_WITH(ApplyBlockPlan(*model, plan, NewBlockInit::kZero, 0), InputError,
                    "uses the original spatial_blocks.0 twice");
  EXPECT_TRUE(Snapshot(*model) == before);
}

TEST(BlockPlan, RejectsBlocksAndUnitsTheModelDoesNotHave) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  growth_testing::ModelSnapshot before = Snapshot(*model);
  std::vector<PlannedBlock> plan = CurrentPlan(*model);
  plan.push_back({PlannedBlock::Kind::kCopy, {true, 5}});
  EXPECT_THROW_WITH(ApplyBlockPlan(*model, plan, NewBlockInit::kZero, 0), InputError,
                    "names temporal_blocks.5, which the model does not have");
  EXPECT_THROW_WITH(PlanWithInsertions(*model, BlockLists::kBoth, {{0, 2, 1}}), InputError,
                    "copies of unit 2 after unit 0 is out of range", "2 units");
  EXPECT_TRUE(Snapshot(*model) == before);
}

TEST(BlockPlan, DepthUnitsNeedBlocks) {
  STDiT3 model = TrainedModel(TinyConfig(0));
  EXPECT_THROW_WITH(DepthUnits(*model, BlockLists::kBoth), InputError,
                    "has no spatial/temporal blocks to grow from");
  EXPECT_THROW_WITH(DepthUnits(*model, BlockLists::kTemporal), InputError,
                    "has no temporal blocks to grow from");
}

// SOLAR-style depth up-scaling in a few lines: the plan API is enough to write a new operator.
TEST(BlockPlan, DepthUpScalingIsAPlan) {
  STDiT3 model = TrainedModel(TinyConfig(4));
  // Two copies of the 4 pairs, dropping the last pair of the first and the first of the second.
  std::vector<PlannedBlock> plan;
  for (int64_t i = 0; i < 3; ++i) {
    plan.push_back({PlannedBlock::Kind::kOriginal, {false, i}});
    plan.push_back({PlannedBlock::Kind::kOriginal, {true, i}});
  }
  for (int64_t i = 1; i < 4; ++i) {
    plan.push_back({PlannedBlock::Kind::kCopy, {false, i}});
    plan.push_back({PlannedBlock::Kind::kCopy, {true, i}});
  }
  BlockPlanResult result = ApplyBlockPlan(*model, plan, NewBlockInit::kCopy, 0);
  EXPECT_EQ(model->config().depth, 6);
  EXPECT_EQ(result.details.at("dropped"), json::array({"spatial_blocks.3", "temporal_blocks.3"}));
  EXPECT_EQ(result.new_blocks.size(), 6u);
}

// The trap the old hand-copying snippet fell into: zeroing weight and bias leaves a trained LoRA
// B adding B A x. ZeroResidualOutputs (and so NewBlockInit::kZero) zeroes B too.
TEST(BlockPlan, ZeroInitIsExactOnBlocksWithAdapters) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  ASSERT_GT(AddTrainedLora(*model, "attn.proj"), 0);
  ASSERT_GT(AddTrainedLora(*model, "mlp.fc2"), 0);
  STDiT3 base = CloneModel(*model);
  BlockPlanResult result = ApplyBlockPlan(
      *model, PlanWithInsertions(*model, BlockLists::kBoth, {{.after_unit = 1, .source_unit = 1}}),
      NewBlockInit::kZero, 0);
  ASSERT_EQ(result.new_blocks.size(), 2u);
  for (const STDiT3Block& block : result.new_blocks) {
    for (const auto& item : block->named_parameters()) {
      // Only the residual outputs (attn.proj, cross_attn.proj, mlp.fc2) have adapters here.
      if (item.key().ends_with("lora_B.weight")) {
        EXPECT_EQ(item.value().abs().max().item<float>(), 0.0f) << item.key();
      }
    }
  }
  EXPECT_LE(MeasurePreservation(*base, *model, TinyProbe()).max_rel, 1e-6);
}

// A block built by hand (a copy) becomes the identity with ZeroResidualOutputs alone.
TEST(BlockPlan, ZeroResidualOutputsMakesACopiedBlockTheIdentity) {
  STDiT3 model = TrainedModel(TinyConfig(1));
  ASSERT_GT(AddTrainedLora(*model, "mlp.fc2"), 0);
  STDiT3 base = CloneModel(*model);
  BlockPlanResult result = ApplyBlockPlan(
      *model, PlanWithInsertions(*model, BlockLists::kBoth, {{.after_unit = 0, .source_unit = 0}}),
      NewBlockInit::kCopy, 0);
  EXPECT_GT(MeasurePreservation(*base, *model, TinyProbe()).max_rel, 1e-4);
  for (STDiT3Block block : result.new_blocks) ZeroResidualOutputs(*block);
  EXPECT_LE(MeasurePreservation(*base, *model, TinyProbe()).max_rel, 1e-6);
}

}  // namespace
}  // namespace modelgrow
