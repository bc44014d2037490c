// The lora operator's own behaviour: which layers get adapters (PEFT's target matching), that
// afterwards only the adapters train, merging for export, and adapters that already exist.
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

using growth_testing::GrowWith;
using growth_testing::Snapshot;
using growth_testing::SomeInput;
using growth_testing::TinyConfig;
using growth_testing::TrainedModel;
using testing::MaxRelError;

TEST(Lora, AfterwardsOnlyTheAdaptersTrain) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  GrowthReport report = GrowWith(*model, "rank = 2\ndropout = 0.1\n");
  std::set<std::string> adapters;
  for (const auto& item : model->named_parameters()) {
    if (item.key().find(".lora_") != std::string::npos) adapters.insert(item.key());
  }
  // Default targets: qkv, proj, cross q/kv/proj, fc1, fc2 = 7 layers x 2 matrices per block.
  EXPECT_EQ(adapters.size(), 4u * 7u * 2u);
  EXPECT_EQ(Trainable(*model), adapters);
  EXPECT_EQ(std::set<std::string>(report.new_parameters.begin(), report.new_parameters.end()),
            adapters);
  // "attn.proj" must not catch the cross-attention's proj a second time, nor the caption MLP.
  for (const std::string& m : report.details.at("modules").get<std::vector<std::string>>()) {
    EXPECT_TRUE(m.starts_with("spatial_blocks.") || m.starts_with("temporal_blocks.")) << m;
  }
  std::set<std::string> with_grad;
  EXPECT_EQ(TrainAndDiff(*model, &with_grad), adapters);
  for (const std::string& name : with_grad) EXPECT_TRUE(adapters.contains(name)) << name;
}

// Rank r on qkv (C -> 3A): r (C + 3A) per block.
TEST(Lora, AddsRankTimesInPlusOutPerLayer) {
  const STDiT3Config c = TinyConfig(4);
  STDiT3 model = TrainedModel(c);
  GrowthReport r = GrowWith(*model, "rank = 4\ntargets = \"attn.qkv\"\n");
  const int64_t a = c.num_heads * c.resolved_head_dim();
  EXPECT_EQ(r.params_after - r.params_before, 2 * c.depth * 4 * (c.hidden_size + 3 * a));
}

TEST(Lora, MergedAndUnmergedAgreeToFloat32Rounding) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  GrowWith(*model, "rank = 4\nalpha = 8\n");
  {  // As after training: B no longer zero.
    torch::NoGradGuard no_grad;
    for (const auto& item : model->named_parameters()) {
      if (item.key().ends_with("lora_B.weight")) item.value().normal_(0, 0.05);
    }
  }
  model->eval();
  ModelInput in = SomeInput(model->config(), true);
  torch::Tensor unmerged;
  {
    torch::NoGradGuard no_grad;
    unmerged = model->forward(in);
  }
  GrowthReport report = GrowWith(*model, "merge = true\n");
  EXPECT_EQ(report.details.at("merged").size(), 4u * 7u);
  EXPECT_LT(report.params_after, report.params_before);
  EXPECT_TRUE(report.new_parameters.empty());
  EXPECT_EQ(report.trainable_after, report.params_after);  // a plain model again
  EXPECT_EQ(report.optimizer_state, OptimizerStatePolicy::kReset);
  EXPECT_LE(report.preservation.max_rel, 1e-5);
  torch::NoGradGuard no_grad;
  torch::Tensor merged = model->forward(in);
  EXPECT_LE(MaxRelError(merged, unmerged), 1e-5);
  EXPECT_GT(MaxRelError(merged, unmerged), 0.0);  // B was really applied
  for (const auto& item : model->named_parameters()) {
    EXPECT_EQ(item.key().find("lora_"), std::string::npos);
  }
}

TEST(Lora, TargetsAreRegexSuffixesOfModuleNames) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  GrowthReport report =
      GrowWith(*model, "targets = [\"spatial_blocks\\\\.0\\\\.attn\\\\.proj\", \"fc[12]\"]\n");
  std::vector<std::string> modules = report.details.at("modules").get<std::vector<std::string>>();
  std::set<std::string> got(modules.begin(), modules.end());
  EXPECT_TRUE(got.contains("spatial_blocks.0.attn.proj"));
  EXPECT_FALSE(got.contains("spatial_blocks.1.attn.proj"));
  EXPECT_FALSE(got.contains("spatial_blocks.0.cross_attn.proj"));
  EXPECT_TRUE(got.contains("temporal_blocks.1.mlp.fc2"));
  EXPECT_TRUE(got.contains("y_embedder.y_proj.fc1"));  // fc1 also names the caption MLP's layer
  EXPECT_EQ(got.size(), 1u + 4u * 2u + 2u);
}

TEST(Lora, LayersThatAlreadyHaveAdaptersAreRefusedUnchanged) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  GrowWith(*model, "rank = 2\n");
  growth_testing::ModelSnapshot before = Snapshot(*model);
  EXPECT_THROW_WITH(GrowWith(*model, "targets = \"mlp.fc2\"\n"), InputError,
                    "'spatial_blocks.0.mlp.fc2' already has LoRA adapters");
  EXPECT_TRUE(Snapshot(*model) == before);
}

}  // namespace
}  // namespace modelgrow
