// The stack operator's own behaviour (what every operator must satisfy is the conformance
// suite's): the paper's layouts for insert / prefix / suffix stacking with several N, P and M, on
// both lists or one; which tensors the copies hold; exact parameter counts; copy and random init.
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
using growth_testing::TinyConfig;
using growth_testing::TrainedModel;
using json = nlohmann::json;

// The paper's layouts, written out independently of the plugin: units in forward order, each
// an original index or a copy (') of one.
std::vector<std::string> ExpectedUnits(const std::string& placement, int64_t n, int64_t p,
                                       int64_t m) {
  std::vector<std::string> units;
  auto orig = [](int64_t u) { return std::to_string(u); };
  auto copy = [](int64_t u) { return std::to_string(u) + "'"; };
  if (placement == "prefix") {
    for (int64_t i = 0; i < p; ++i) units.push_back(copy(0));
    for (int64_t u = 0; u < n; ++u) units.push_back(orig(u));
  } else if (placement == "suffix") {
    for (int64_t u = 0; u < n; ++u) units.push_back(orig(u));
    for (int64_t i = 0; i < p; ++i) units.push_back(copy(n - 1));
  } else {
    for (int64_t g = 0; g < n / m; ++g) {
      for (int64_t j = 0; j < m; ++j) units.push_back(orig(g * m + j));
      for (int64_t i = 0; i < p * m / n; ++i) units.push_back(copy(g * m + m - 1));
    }
  }
  return units;
}

// Pairs: each unit is "s<u>" then "t<u>".
std::vector<std::string> PairLayout(const std::vector<std::string>& units) {
  std::vector<std::string> layout;
  for (const std::string& u : units) {
    layout.push_back("s" + u);
    layout.push_back("t" + u);
  }
  return layout;
}

std::vector<std::string> LayoutOf(const GrowthReport& report) {
  return report.details.at("layout").get<std::vector<std::string>>();
}

torch::Tensor Param(const STDiT3Impl& model, const std::string& key) {
  return model.named_parameters()[key];
}

struct Case {
  std::string placement;
  int64_t n, p, m;
};

void PrintTo(const Case& c, std::ostream* out) {
  *out << fmt::format("{} N={} P={} M={}", c.placement, c.n, c.p, c.m);
}

class StackLayout : public ::testing::TestWithParam<Case> {};

TEST_P(StackLayout, MatchesThePaperAndCopiesTheRightTensors) {
  const Case& c = GetParam();
  STDiT3 model = TrainedModel(TinyConfig(c.n));
  STDiT3 base = CloneModel(*model);
  std::string toml = fmt::format("placement = \"{}\"\nnew_blocks = {}\n", c.placement, c.p);
  if (c.placement == "insert") toml += fmt::format("group = {}\n", c.m);
  GrowthReport report = GrowWith(*model, toml);

  EXPECT_EQ(LayoutOf(report), PairLayout(ExpectedUnits(c.placement, c.n, c.p, c.m)));
  EXPECT_EQ(model->config().depth, c.n + c.p);
  EXPECT_TRUE(model->config().IsDefaultOrder());

  // Every copy holds its source's values, except the zeroed residual outputs.
  const json& copied_from = report.details.at("copied_from");
  ASSERT_EQ(static_cast<int64_t>(copied_from.size()), 2 * c.p);
  for (const auto& [new_key, old_key] : copied_from.items()) {
    std::string source = old_key.get<std::string>();
    EXPECT_TRUE(torch::equal(Param(*model, new_key + ".attn.qkv.weight"),
                             Param(*base, source + ".attn.qkv.weight")))
        << new_key;
    EXPECT_TRUE(torch::equal(Param(*model, new_key + ".mlp.fc1.bias"),
                             Param(*base, source + ".mlp.fc1.bias")));
    EXPECT_TRUE(torch::equal(Param(*model, new_key + ".scale_shift_table"),
                             Param(*base, source + ".scale_shift_table")));
    for (const char* zeroed : {".attn.proj.weight", ".attn.proj.bias", ".cross_attn.proj.weight",
                               ".cross_attn.proj.bias", ".mlp.fc2.weight", ".mlp.fc2.bias"}) {
      EXPECT_EQ(Param(*model, new_key + zeroed).abs().max().item<float>(), 0.0f)
          << new_key << zeroed;
    }
    EXPECT_NE(Param(*base, source + ".mlp.fc2.weight").abs().max().item<float>(), 0.0f);
  }

  // Exact parameter count: P new (spatial, temporal) pairs.
  const STDiT3Config& cfg = base->config();
  int64_t block = BlockParams(cfg.hidden_size, cfg.num_heads, cfg.resolved_head_dim(),
                              cfg.resolved_mlp_hidden());
  EXPECT_EQ(report.params_after, report.params_before + 2 * c.p * block);
  EXPECT_EQ(model->NumParameters(), base->NumParameters() + 2 * c.p * block);
  EXPECT_LE(report.preservation.max_rel, 1e-6);
}

INSTANTIATE_TEST_SUITE_P(Stack, StackLayout,
                         ::testing::Values(Case{"insert", 4, 4, 1}, Case{"insert", 4, 2, 2},
                                           Case{"insert", 4, 8, 1}, Case{"insert", 6, 2, 3},
                                           Case{"insert", 6, 3, 2}, Case{"insert", 6, 6, 3},
                                           Case{"insert", 2, 1, 2}, Case{"prefix", 4, 2, 1},
                                           Case{"prefix", 3, 1, 1}, Case{"suffix", 4, 3, 1},
                                           Case{"suffix", 2, 2, 1}),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return fmt::format("{}_N{}_P{}_M{}", info.param.placement, info.param.n,
                                              info.param.p, info.param.m);
                         });

TEST(Stack, DefaultDoublesWithInsertAndZeroInit) {
  STDiT3 model = TrainedModel(TinyConfig(3));
  GrowthReport report = GrowWith(*model);
  EXPECT_EQ(LayoutOf(report), PairLayout(ExpectedUnits("insert", 3, 3, 1)));
  EXPECT_EQ(report.details.at("init"), "zero");
  EXPECT_TRUE(report.claims_preserving);
}

TEST(Stack, OriginalsKeepTheirTensorsUnderNewNames) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  torch::Tensor s1 = Param(*model, "spatial_blocks.1.attn.qkv.weight");
  GrowthReport report = GrowWith(*model);
  // s0 t0 s0' t0' s1 t1 s1' t1': the original s1 is now spatial_blocks.2.
  EXPECT_TRUE(Param(*model, "spatial_blocks.2.attn.qkv.weight").is_same(s1));
  EXPECT_EQ(report.details.at("renamed").at("spatial_blocks.1"), "spatial_blocks.2");
  // New parameter names are the copies', found by tensor identity, not by name.
  for (const std::string& name : report.new_parameters) {
    EXPECT_TRUE(name.starts_with("spatial_blocks.1.") || name.starts_with("temporal_blocks.1.") ||
                name.starts_with("spatial_blocks.3.") || name.starts_with("temporal_blocks.3."))
        << name;
  }
  // Two new pairs: four blocks.
  EXPECT_EQ(static_cast<int64_t>(report.new_parameters.size()),
            4 * static_cast<int64_t>(model->spatial_blocks()[1]->parameters().size()));
}

// One list: the copy goes right after its source in the forward order; the other list is as it
// was. P·M/N with N counted in that list.
TEST(Stack, SpatialOnlyInsertPutsCopiesRightAfterTheirSource) {
  STDiT3 model = TrainedModel(TinyConfig(4));
  STDiT3 base = CloneModel(*model);
  GrowthReport report = GrowWith(*model, "lists = \"spatial\"\nnew_blocks = 2\ngroup = 2\n");
  EXPECT_EQ(LayoutOf(report), (std::vector<std::string>{"s0", "t0", "s1", "s1'", "t1", "s2", "t2",
                                                        "s3", "s3'", "t3"}));
  EXPECT_EQ(model->config().spatial_count(), 6);
  EXPECT_EQ(model->config().temporal_count(), 4);
  EXPECT_FALSE(model->config().IsDefaultOrder());
  EXPECT_EQ(report.details.at("copied_from").at("spatial_blocks.2"), "spatial_blocks.1");
  EXPECT_EQ(report.details.at("copied_from").at("spatial_blocks.5"), "spatial_blocks.3");
  const STDiT3Config& c = base->config();
  EXPECT_EQ(
      report.params_after - report.params_before,
      2 * BlockParams(c.hidden_size, c.num_heads, c.resolved_head_dim(), c.resolved_mlp_hidden()));
  EXPECT_LE(report.preservation.max_rel, 1e-6);
}

TEST(Stack, TemporalOnlyPrefixAndSuffixPlaceCopiesAtTheEnds) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  GrowthReport report =
      GrowWith(*model, "lists = \"temporal\"\nplacement = \"prefix\"\nnew_blocks = 2\n");
  EXPECT_EQ(LayoutOf(report), (std::vector<std::string>{"t0'", "t0'", "s0", "t0", "s1", "t1"}));
  EXPECT_LE(report.preservation.max_rel, 1e-6);

  STDiT3 other = TrainedModel(TinyConfig(2));
  report = GrowWith(*other, "lists = \"temporal\"\nplacement = \"suffix\"\nnew_blocks = 1\n");
  EXPECT_EQ(LayoutOf(report), (std::vector<std::string>{"s0", "t0", "s1", "t1", "t1'"}));
  EXPECT_LE(report.preservation.max_rel, 1e-6);
}

// After a one-list growth the lists differ in length: growing pairs again is refused with the
// way out, before anything changes.
TEST(Stack, BothListsAfterOneListGrowthIsRefusedUnchanged) {
  STDiT3 model = TrainedModel(TinyConfig(4));
  GrowWith(*model, "lists = \"spatial\"\n");
  growth_testing::ModelSnapshot before = Snapshot(*model);
  EXPECT_THROW_WITH(GrowWith(*model), InputError, "grow step 1 ('stack')", "lists = \"both\"",
                    "8 spatial and 4 temporal", "lists = \"spatial\"");
  EXPECT_TRUE(Snapshot(*model) == before);
}

// Zero init must silence a copied adapter too: a copy with a trained LoRA B that kept it would
// add B A x to the residual stream.
TEST(Stack, ZeroInitCopiesAreTheIdentityOnAModelWithAdapters) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  ASSERT_GT(AddTrainedLora(*model, "mlp.fc2"), 0);
  ASSERT_GT(AddTrainedLora(*model, "attn.proj"), 0);
  GrowthReport report = GrowWith(*model);
  EXPECT_LE(report.preservation.max_rel, 1e-6) << report.ToJson().dump(2);
  EXPECT_EQ(Param(*model, "spatial_blocks.1.mlp.fc2.lora_B.weight").abs().max().item<float>(),
            0.0f);
  // The copy's A stays as its source's, so the adapter can learn (as PEFT starts one).
  EXPECT_TRUE(torch::equal(Param(*model, "spatial_blocks.1.mlp.fc2.lora_A.weight"),
                           Param(*model, "spatial_blocks.0.mlp.fc2.lora_A.weight")));
}

TEST(Stack, CopyAndRandomInitAreNotPreservingAndTheProbeSeesIt) {
  for (const char* init : {"copy", "random"}) {
    STDiT3 model = TrainedModel(TinyConfig(2));
    GrowthReport report = GrowWith(*model, fmt::format("init = \"{}\"\n", init));
    EXPECT_FALSE(report.claims_preserving) << init;
    EXPECT_GT(report.preservation.max_rel, 1e-4) << init;
    EXPECT_EQ(model->config().depth, 4);
  }
}

TEST(Stack, RandomInitFollowsTheReferenceInitAndTheSeed) {
  STDiT3 a = TrainedModel(TinyConfig(2));
  STDiT3 b = TrainedModel(TinyConfig(2));
  GrowthReport report = GrowWith(*a, "init = \"random\"\n");
  GrowWith(*b, "init = \"random\"\n");
  EXPECT_EQ(report.details.at("copied_from").at("spatial_blocks.1"), "random");
  EXPECT_EQ(LayoutOf(report),
            (std::vector<std::string>{"s0", "t0", "s*", "t*", "s1", "t1", "s*", "t*"}));
  // Same seed, same blocks; zero biases; temporal blocks start as the identity, as in Open-Sora.
  EXPECT_TRUE(torch::equal(Param(*a, "spatial_blocks.1.attn.qkv.weight"),
                           Param(*b, "spatial_blocks.1.attn.qkv.weight")));
  EXPECT_FALSE(torch::equal(Param(*a, "spatial_blocks.1.attn.qkv.weight"),
                            Param(*a, "spatial_blocks.3.attn.qkv.weight")));
  EXPECT_EQ(Param(*a, "spatial_blocks.1.attn.qkv.bias").abs().max().item<float>(), 0.0f);
  EXPECT_EQ(Param(*a, "temporal_blocks.1.mlp.fc2.weight").abs().max().item<float>(), 0.0f);
  EXPECT_NE(Param(*a, "spatial_blocks.1.mlp.fc2.weight").abs().max().item<float>(), 0.0f);
}

}  // namespace
}  // namespace modelgrow
