// The host's bookkeeping: optimizer state re-keyed by tensor identity (moved, padded, dropped),
// growth_report.json, growth steps from a manifest table, optimizer.safetensors, and the probe.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "growth_test_util.h"
#include "modelgrow/io/optimizer_file.h"
#include "modelgrow/model/clone.h"
#include "test_util.h"

namespace modelgrow {
namespace {

using growth_testing::GrowWithPlugin;
using growth_testing::TinyConfig;
using growth_testing::TinyProbe;
using growth_testing::TrainedModel;
using testing::TempDir;
using json = nlohmann::json;

// AdamW state for every parameter, with values that identify it.
OptimizerState StateFor(const STDiT3Impl& model, int64_t step = 7) {
  OptimizerState state;
  torch::manual_seed(1);
  for (const auto& item : model.named_parameters()) {
    state[item.key()] = {torch::randn_like(item.value()), torch::rand_like(item.value()), step};
  }
  return state;
}

TEST(GrowthHost, MovedParametersKeepTheirMomentsUnderTheirNewNames) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  OptimizerState state = StateFor(*model);
  OptimizerState old = state;
  const size_t entries = state.size();
  GrowthReport report = GrowWithPlugin(*model, "stack", "", &state);
  EXPECT_EQ(report.optimizer_state, OptimizerStatePolicy::kCarried);
  EXPECT_EQ(report.optimizer_entries_carried, static_cast<int64_t>(entries));
  EXPECT_EQ(report.optimizer_entries_dropped, 0);
  EXPECT_EQ(state.size(), entries);
  // s1 moved to spatial_blocks.2; the copy at spatial_blocks.1 has no state.
  EXPECT_TRUE(state.at("spatial_blocks.2.attn.qkv.weight")
                  .exp_avg.is_same(old.at("spatial_blocks.1.attn.qkv.weight").exp_avg));
  EXPECT_TRUE(state.at("spatial_blocks.0.mlp.fc1.bias")
                  .exp_avg_sq.is_same(old.at("spatial_blocks.0.mlp.fc1.bias").exp_avg_sq));
  EXPECT_FALSE(state.contains("spatial_blocks.1.attn.qkv.weight"));
  EXPECT_FALSE(state.contains("temporal_blocks.3.attn.qkv.weight"));
  EXPECT_EQ(state.at("x_embedder.proj.weight").step, 7);
}

TEST(GrowthHost, WidthPadsTheMomentsOfResizedTensors) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  OptimizerState state = StateFor(*model);
  OptimizerState old = state;
  GrowthReport report = GrowWithPlugin(*model, "width", "mlp_hidden = 160\nheads = 3\n", &state);
  EXPECT_EQ(report.optimizer_state, OptimizerStatePolicy::kTransformed);
  EXPECT_EQ(report.optimizer_entries_dropped, 0);
  EXPECT_EQ(state.size(), old.size());
  using torch::indexing::None;
  using torch::indexing::Slice;
  const ParameterState& fc1 = state.at("temporal_blocks.0.mlp.fc1.weight");
  EXPECT_EQ(fc1.exp_avg.sizes(), (std::vector<int64_t>{160, 32}));
  EXPECT_TRUE(torch::equal(fc1.exp_avg.index({Slice(0, 128)}),
                           old.at("temporal_blocks.0.mlp.fc1.weight").exp_avg));
  EXPECT_EQ(fc1.exp_avg_sq.index({Slice(128, None)}).abs().max().item<float>(), 0.0f);
  const ParameterState& qkv = state.at("spatial_blocks.1.attn.qkv.bias");
  EXPECT_TRUE(torch::equal(qkv.exp_avg.view({3, 48}).index({Slice(), Slice(0, 32)}),
                           old.at("spatial_blocks.1.attn.qkv.bias").exp_avg.view({3, 32})));
  EXPECT_EQ(qkv.exp_avg.view({3, 48}).index({Slice(), Slice(32, None)}).abs().max().item<float>(),
            0.0f);
  for (const auto& item : model->named_parameters()) {
    EXPECT_EQ(state.at(item.key()).exp_avg.sizes(), item.value().sizes()) << item.key();
  }
}

TEST(GrowthHost, FrozenAndResetStateIsDropped) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  OptimizerState state = StateFor(*model);
  const int64_t entries = static_cast<int64_t>(state.size());
  GrowthReport report = GrowWithPlugin(*model, "lora", "rank = 2\n", &state);
  EXPECT_TRUE(state.empty());  // every base weight is frozen
  EXPECT_EQ(report.optimizer_entries_dropped, entries);

  STDiT3 other = TrainedModel(TinyConfig(2));
  state = StateFor(*other);
  report = GrowWithPlugin(*other, "llama_pro", "every = 1\n", &state);
  EXPECT_EQ(report.optimizer_state, OptimizerStatePolicy::kReset);
  EXPECT_TRUE(state.empty());
}

TEST(GrowthHost, AShapeChangeTheOperatorDidNotTransformDropsTheEntry) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  OptimizerState state = StateFor(*model);
  state["spatial_blocks.0.attn.qkv.weight"].exp_avg = torch::zeros({3});
  state["spatial_blocks.0.attn.qkv.weight"].exp_avg_sq = torch::zeros({3});
  state["no.such.parameter"] = {torch::zeros({1}), torch::zeros({1}), 1};
  GrowthReport report =
      GrowWithPlugin(*model, "text_condition", "caption_channels = 4\ntoken_num = 2\n", &state);
  EXPECT_EQ(report.optimizer_entries_dropped, 2);
  EXPECT_FALSE(state.contains("spatial_blocks.0.attn.qkv.weight"));
  EXPECT_FALSE(state.contains("no.such.parameter"));
}

TEST(GrowthHost, ReportJsonHasEveryHostAndOperatorField) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  GrowthReport report = GrowWithPlugin(*model, "stack", "new_blocks = 1\ngroup = 2\n");
  json j = report.ToJson();
  EXPECT_EQ(j.at("op"), "stack");
  EXPECT_EQ(j.at("options").at("new_blocks"), 1);
  EXPECT_FALSE(j.at("options").contains("op"));
  EXPECT_EQ(j.at("claims_preserving"), true);
  EXPECT_EQ(j.at("params_after"), model->NumParameters());
  EXPECT_EQ(j.at("trainable_after"), model->NumTrainableParameters());
  EXPECT_EQ(j.at("new_parameters").size(), report.new_parameters.size());
  EXPECT_EQ(j.at("preservation").at("measured"), true);
  EXPECT_EQ(j.at("preservation").at("dtype"), "float32");
  EXPECT_EQ(j.at("preservation").at("with_frame_mask"), true);
  EXPECT_EQ(j.at("optimizer_state").at("policy"), "carried");
  EXPECT_EQ(j.at("details").at("copied_from").at("spatial_blocks.2"), "spatial_blocks.1");
  EXPECT_GE(j.at("seconds").get<double>(), 0.0);
  EXPECT_STREQ(OptimizerStatePolicyName(OptimizerStatePolicy::kTransformed), "transformed");
  EXPECT_STREQ(OptimizerStatePolicyName(OptimizerStatePolicy::kReset), "reset");
}

TEST(GrowthHost, ProbeCanBeSkippedAndCanMeasureBf16) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  ProbeOptions off = TinyProbe();
  off.enabled = false;
  GrowthReport report = GrowWithPlugin(*model, "stack", "", nullptr, off);
  EXPECT_EQ(report.preservation.probe_samples, 0);
  EXPECT_EQ(report.ToJson().at("preservation"), json({{"measured", false}}));

  ProbeOptions bf16 = TinyProbe();
  bf16.measure_bf16 = true;
  report = GrowWithPlugin(*model, "stack", "", nullptr, bf16);
  // Zero residual outputs add exact zeros, in bf16 too.
  EXPECT_GE(report.preservation.max_abs_bf16, 0.0);
  EXPECT_LE(report.preservation.max_abs_bf16, 1e-2);
  report = GrowWithPlugin(*model, "g_stack", "", nullptr, bf16);
  EXPECT_GT(report.preservation.max_abs_bf16, 0.0);
}

TEST(GrowthHost, ProbeDetectsASingleChangedWeight) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  STDiT3 grown = CloneModel(*model);
  EXPECT_EQ(MeasurePreservation(*model, *grown, TinyProbe()).max_abs, 0.0);
  {
    torch::NoGradGuard no_grad;
    grown->named_parameters()["temporal_blocks.1.mlp.fc2.bias"][0] += 1e-3;
  }
  PreservationError e = MeasurePreservation(*model, *grown, TinyProbe());
  EXPECT_GT(e.max_abs, 1e-5);
}

TEST(GrowthHost, StepsRunInOrderEachWithItsOwnSeed) {
  std::vector<GrowthStep> steps = {
      growth_testing::Step("stack", "placement = \"prefix\"\nnew_blocks = 1"),
      growth_testing::Step("text_condition", "caption_channels = 8\ntoken_num = 2")};
  STDiT3 model = TrainedModel(TinyConfig(2));
  std::vector<GrowthReport> reports = GrowModel(*model, steps, nullptr, 0, TinyProbe());
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[0].details.at("placement"), "prefix");
  EXPECT_EQ(model->config().depth, 3);
  EXPECT_EQ(model->config().num_conditions(), 2);
}

// Every step's options are checked before any step runs, and every problem of every step is
// reported at once (a typo in step 3 must not wait for steps 1 and 2).
TEST(GrowthHost, MakeGrowthStepsReportsEveryStepsProblemsTogether) {
  growth_testing::RegistryWith("stack");
  growth_testing::RegistryWith("lora");
  std::vector<std::pair<std::string, Options>> ops = {
      {"stack", Options::ParseString("new_blcks = 2\n", "--op stack (step 1)")},
      {"lora", Options::ParseString("rnk = 2\n", "--op lora (step 2)")},
      {"stak", Options::ParseString("", "--op stak (step 3)")}};
  EXPECT_THROW_WITH(MakeGrowthSteps(growth_testing::Registry(), ops, c10::Device("cpu")),
                    ValidationError, "new_blcks", "rnk", "no growth plugin named 'stak'",
                    "did you mean 'stack'?");
}

TEST(OptimizerFile, RoundTripsAndRejectsBrokenFiles) {
  TempDir dir;
  STDiT3 model = TrainedModel(TinyConfig(1));
  OptimizerState state = StateFor(*model, 12);
  {
    CheckpointWriter writer(dir / "ck");
    WriteOptimizerStateTo(writer, state);
    writer.Commit();
  }
  OptimizerState back = ReadOptimizerState(dir / "ck" / kOptimizerStateFile);
  ASSERT_EQ(back.size(), state.size());
  for (const auto& [name, s] : state) {
    EXPECT_TRUE(torch::equal(back.at(name).exp_avg, s.exp_avg)) << name;
    EXPECT_TRUE(torch::equal(back.at(name).exp_avg_sq, s.exp_avg_sq)) << name;
    EXPECT_EQ(back.at(name).step, 12);
  }

  const std::map<std::string, std::string> steps = {{"steps", R"({"w": 1})"}};
  WriteSafetensors(dir / "unpaired.safetensors", {{"exp_avg.w", torch::zeros({2})}}, steps);
  EXPECT_THROW_WITH(ReadOptimizerState(dir / "unpaired.safetensors"), InputError,
                    "unpaired.safetensors", "'w' has exp_avg but not exp_avg_sq");
  WriteSafetensors(dir / "nosteps.safetensors",
                   {{"exp_avg.w", torch::zeros({2})}, {"exp_avg_sq.w", torch::zeros({2})}});
  EXPECT_THROW_WITH(ReadOptimizerState(dir / "nosteps.safetensors"), InputError,
                    "nosteps.safetensors", "no \"steps\"");
  // The one format has a step count per parameter; a global "step" (what `grow` wrote before
  // the formats were unified) is not it.
  WriteSafetensors(dir / "global.safetensors",
                   {{"exp_avg.w", torch::zeros({2})}, {"exp_avg_sq.w", torch::zeros({2})}},
                   {{"step", "3"}});
  EXPECT_THROW_WITH(ReadOptimizerState(dir / "global.safetensors"), InputError, "no \"steps\"");
  WriteSafetensors(dir / "badsteps.safetensors",
                   {{"exp_avg.w", torch::zeros({2})}, {"exp_avg_sq.w", torch::zeros({2})}},
                   {{"steps", R"({"w": "ten"})"}});
  EXPECT_THROW_WITH(ReadOptimizerState(dir / "badsteps.safetensors"), InputError,
                    "no non-negative integer for parameter 'w'");
  WriteSafetensors(dir / "missing.safetensors",
                   {{"exp_avg.w", torch::zeros({2})}, {"exp_avg_sq.w", torch::zeros({2})}},
                   {{"steps", R"({"v": 1})"}});
  EXPECT_THROW_WITH(ReadOptimizerState(dir / "missing.safetensors"), InputError, "'w'");
  WriteSafetensors(dir / "other.safetensors", {{"momentum.w", torch::zeros({2})}}, steps);
  EXPECT_THROW_WITH(ReadOptimizerState(dir / "other.safetensors"), InputError, "'momentum.w'",
                    "exp_avg.<parameter>");
  WriteSafetensors(dir / "shapes.safetensors",
                   {{"exp_avg.w", torch::zeros({2})}, {"exp_avg_sq.w", torch::zeros({3})}}, steps);
  EXPECT_THROW_WITH(ReadOptimizerState(dir / "shapes.safetensors"), InputError,
                    "'w' has exp_avg [2] but exp_avg_sq [3]");
}

}  // namespace
}  // namespace modelgrow
