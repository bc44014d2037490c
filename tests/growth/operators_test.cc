// Every operator through the host: function preservation (fp32, with and without a frame mask),
// exact parameter counts, trainable sets and what a training step changes, width and LoRA
// specifics, and the errors an impossible request gives before anything changes.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <iostream>
#include <set>

#include <fmt/format.h>

#include "growth_test_util.h"
#include "modelgrow/growth/lora.h"
#include "modelgrow/model/clone.h"
#include "test_util.h"

namespace modelgrow {
namespace {

using growth_testing::BlockParams;
using growth_testing::GrowWith;
using growth_testing::SomeInput;
using growth_testing::Step;
using growth_testing::TinyConfig;
using growth_testing::TinyProbe;
using growth_testing::TrainedModel;
using testing::MaxRelError;
using torch::indexing::None;

TEST(BlockFormula, MatchesOpenSorasXLBlock) {
  EXPECT_EQ(BlockParams(1152, 16, 72, 4608), 21'255'696);
}

constexpr const char* kS2 = "STDiT3-S/2";

struct PreservingCase {
  std::string name;
  std::string op;
  std::string toml;
  std::string preset;  // "" = the tiny config
};

void PrintTo(const PreservingCase& c, std::ostream* out) { *out << c.op << ": " << c.toml; }

class Preserving : public ::testing::TestWithParam<PreservingCase> {};

// The host's number, and an independent check of it on other inputs (a copy of the base model
// against the grown one, with and without a frame mask).
TEST_P(Preserving, GrownModelComputesTheBaseFunction) {
  const PreservingCase& c = GetParam();
  STDiT3Config config = c.preset.empty() ? TinyConfig() : PresetConfig(c.preset);
  STDiT3 model = TrainedModel(config);
  STDiT3 base = CloneModel(*model);
  ProbeOptions probe = TinyProbe();
  if (!c.preset.empty()) probe.height = probe.width = 16;
  GrowthReport report = GrowWith(*model, c.op, c.toml, nullptr, probe);
  EXPECT_TRUE(report.claims_preserving);
  EXPECT_EQ(report.preservation.probe_samples, probe.batch);
  EXPECT_TRUE(report.preservation.with_frame_mask);
  EXPECT_EQ(report.preservation.timesteps.size(), 3u);
  EXPECT_LE(report.preservation.max_rel, 1e-6) << report.ToJson().dump(2);
  EXPECT_GT(report.params_after, report.params_before);
  std::cout << fmt::format("[preservation] {} on {}: max_abs {:.3g} max_rel {:.3g}\n", c.name,
                           c.preset.empty() ? "tiny" : c.preset, report.preservation.max_abs,
                           report.preservation.max_rel);

  ProbeOptions other = probe;
  other.seed = 99;
  other.timesteps = {1, 999};
  for (bool mask : {false, true}) {
    other.with_frame_mask = mask;
    PreservationError e = MeasurePreservation(*base, *model, other);
    EXPECT_LE(e.max_rel, 1e-6) << (mask ? "with" : "without") << " frame mask";
  }
}

// On STDiT3-S/2 (the numbers docs/growth-operators.md quotes come from this run's output).
INSTANTIATE_TEST_SUITE_P(
    Growth, Preserving,
    ::testing::Values(
        PreservingCase{"stack_insert", "stack", "", kS2},
        PreservingCase{"stack_insert_group2", "stack", "new_blocks = 2\ngroup = 2\n", kS2},
        PreservingCase{"stack_prefix", "stack", "placement = \"prefix\"\nnew_blocks = 2\n", kS2},
        PreservingCase{"stack_suffix", "stack", "placement = \"suffix\"\nnew_blocks = 3\n", kS2},
        PreservingCase{"stack_spatial", "stack", "lists = \"spatial\"\n", kS2},
        PreservingCase{"stack_temporal", "stack",
                       "lists = \"temporal\"\nnew_blocks = 2\ngroup = 2\n", kS2},
        PreservingCase{"llama_pro", "llama_pro", "every = 2\n", kS2},
        PreservingCase{"width_mlp", "width", "mlp_hidden = 768\n", kS2},
        PreservingCase{"width_heads", "width", "heads = 6\n", kS2},
        PreservingCase{"width_both", "width", "heads = 6\nmlp_hidden = 600\n", kS2},
        PreservingCase{"text_condition", "text_condition",
                       "caption_channels = 96\ntoken_num = 20\n", kS2},
        PreservingCase{"text_condition_zero_null", "text_condition",
                       "name = \"llama\"\ncaption_channels = 8\ntoken_num = 3\nnull = \"zeros\"\n",
                       kS2},
        PreservingCase{"lora", "lora", "rank = 8\n", kS2},
        PreservingCase{"lora_qkv_alpha16", "lora",
                       "rank = 8\nalpha = 16\ntargets = [\"attn.qkv\"]\n", kS2},
        PreservingCase{"stack_insert_tiny", "stack", "", ""},
        PreservingCase{"width_both_tiny", "width", "heads = 5\nmlp_hidden = 200\n", ""}),
    [](const ::testing::TestParamInfo<PreservingCase>& info) { return info.param.name; });

// Not preserving by design: the host must report a clearly non-zero error, not claim exactness.
class NotPreserving : public ::testing::TestWithParam<PreservingCase> {};

TEST_P(NotPreserving, HostReportsHowFarTheOutputMoved) {
  const PreservingCase& c = GetParam();
  STDiT3 model = TrainedModel(PresetConfig(c.preset));
  ProbeOptions probe = TinyProbe();
  probe.height = probe.width = 16;
  GrowthReport report = GrowWith(*model, c.op, c.toml, nullptr, probe);
  std::cout << fmt::format("[preservation] {} on {}: max_abs {:.3g} max_rel {:.3g}\n", c.name,
                           c.preset, report.preservation.max_abs, report.preservation.max_rel);
  EXPECT_FALSE(report.claims_preserving);
  EXPECT_GT(report.preservation.max_rel, 1e-4);
}

INSTANTIATE_TEST_SUITE_P(
    Growth, NotPreserving,
    ::testing::Values(PreservingCase{"g_stack_2", "g_stack", "", kS2},
                      PreservingCase{"g_stack_4", "g_stack", "factor = 4\n", kS2},
                      PreservingCase{"stack_copy", "stack", "init = \"copy\"\n", kS2},
                      PreservingCase{"stack_random", "stack", "init = \"random\"\n", kS2},
                      PreservingCase{"depth_upscale", "depth_upscale", "", kS2}),
    [](const ::testing::TestParamInfo<PreservingCase>& info) { return info.param.name; });

TEST(Operators, CompositionListsEveryStepAndStaysExact) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  STDiT3 base = CloneModel(*model);
  std::vector<GrowthReport> reports =
      GrowModel(growth_testing::Registry(), *model,
                {Step("stack"), Step("text_condition", "caption_channels = 12\ntoken_num = 4\n")},
                nullptr, 3, TinyProbe());
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[0].op, "stack");
  EXPECT_EQ(reports[1].op, "text_condition");
  EXPECT_EQ(reports[1].params_before, reports[0].params_after);
  EXPECT_EQ(model->config().depth, 4);
  EXPECT_EQ(model->config().num_conditions(), 2);
  // The new condition reaches every block, the copies included.
  for (const auto& block : model->spatial_blocks()) EXPECT_EQ(block->cross_attns.size(), 2u);
  for (const GrowthReport& r : reports) EXPECT_LE(r.preservation.max_rel, 1e-6);
  EXPECT_LE(MeasurePreservation(*base, *model, TinyProbe()).max_rel, 1e-6);
  nlohmann::json j = GrowthReportsToJson(reports);
  EXPECT_EQ(j.at("steps").size(), 2u);
  EXPECT_EQ(j.at("params_after"), model->NumParameters());
}

TEST(Operators, ExactParameterCounts) {
  const STDiT3Config c = TinyConfig(4);
  const int64_t C = c.hidden_size, hd = c.resolved_head_dim(), H = c.resolved_mlp_hidden();
  const int64_t heads = c.num_heads, n = c.depth;
  auto count = [&](const std::string& op, const std::string& toml) {
    STDiT3 model = TrainedModel(c);
    GrowthReport r = GrowWith(*model, op, toml);
    EXPECT_EQ(r.params_after, model->NumParameters());
    return r.params_after - r.params_before;
  };
  EXPECT_EQ(count("llama_pro", "every = 2\n"), 2 * 2 * BlockParams(C, heads, hd, H));
  EXPECT_EQ(count("g_stack", "factor = 4\n"), 3 * 2 * n * BlockParams(C, heads, hd, H));
  // Width: every block's blocks grow by the formula's difference.
  EXPECT_EQ(count("width", "mlp_hidden = 200\nheads = 3\n"),
            2 * n * (BlockParams(C, 3, hd, 200) - BlockParams(C, heads, hd, H)));
  // A new condition: one cross-attention per block, plus its caption MLP (D -> C -> C).
  const int64_t d = 24;
  EXPECT_EQ(count("text_condition", "caption_channels = 24\ntoken_num = 5\n"),
            2 * n * (BlockParams(C, heads, hd, H, 2) - BlockParams(C, heads, hd, H, 1)) +
                (d * C + C) + (C * C + C));
  // LoRA rank r on qkv (C -> 3A): r (C + 3A) per block.
  const int64_t r = 4, a = heads * hd;
  EXPECT_EQ(count("lora", "rank = 4\ntargets = \"attn.qkv\"\n"), 2 * n * r * (C + 3 * a));
}

// Changes after a few AdamW steps on the trainable parameters, by name.
std::set<std::string> TrainAndDiff(STDiT3Impl& model, std::set<std::string>* with_grad) {
  std::map<std::string, torch::Tensor> before;
  std::vector<torch::Tensor> trainable;
  for (const auto& item : model.named_parameters()) {
    before[item.key()] = item.value().detach().clone();
    if (item.value().requires_grad()) trainable.push_back(item.value());
  }
  torch::optim::AdamW optimizer(trainable, torch::optim::AdamWOptions(1e-3).weight_decay(0));
  model.train();
  for (int step = 0; step < 3; ++step) {
    optimizer.zero_grad();
    ModelInput in = SomeInput(model.config(), step == 1, 10 + step);
    model.forward(in).pow(2).mean().backward();
    if (with_grad != nullptr && step == 0) {
      for (const auto& item : model.named_parameters()) {
        if (item.value().grad().defined()) with_grad->insert(item.key());
      }
    }
    optimizer.step();
  }
  std::set<std::string> changed;
  for (const auto& item : model.named_parameters()) {
    if (!torch::equal(item.value(), before[item.key()])) changed.insert(item.key());
  }
  return changed;
}

std::set<std::string> Trainable(const STDiT3Impl& model) {
  std::set<std::string> out;
  for (const auto& item : model.named_parameters()) {
    if (item.value().requires_grad()) out.insert(item.key());
  }
  return out;
}

TEST(Operators, AfterLlamaProOnlyTheNewBlocksTrain) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  GrowthReport report = GrowWith(*model, "llama_pro", "every = 1\n");
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

TEST(Operators, AfterLoraOnlyTheAdaptersTrain) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  GrowthReport report = GrowWith(*model, "lora", "rank = 2\ndropout = 0.1\n");
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

TEST(Operators, LoraMergedAndUnmergedAgreeToFloat32Rounding) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  GrowWith(*model, "lora", "rank = 4\nalpha = 8\n");
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
  GrowthReport report = GrowWith(*model, "lora", "merge = true\n");
  EXPECT_EQ(report.details.at("merged").size(), 4u * 7u);
  EXPECT_LT(report.params_after, report.params_before);
  EXPECT_TRUE(report.new_parameters.empty());
  EXPECT_EQ(report.trainable_after, report.params_after);  // a plain model again
  EXPECT_LE(report.preservation.max_rel, 1e-5);
  torch::NoGradGuard no_grad;
  torch::Tensor merged = model->forward(in);
  EXPECT_LE(MaxRelError(merged, unmerged), 1e-5);
  EXPECT_GT(MaxRelError(merged, unmerged), 0.0);  // B was really applied
  for (const auto& item : model->named_parameters()) {
    EXPECT_EQ(item.key().find("lora_"), std::string::npos);
  }
}

TEST(Operators, LoraTargetsAreRegexSuffixesOfModuleNames) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  GrowthReport report = GrowWith(
      *model, "lora", "targets = [\"spatial_blocks\\\\.0\\\\.attn\\\\.proj\", \"fc[12]\"]\n");
  std::vector<std::string> modules = report.details.at("modules").get<std::vector<std::string>>();
  std::set<std::string> got(modules.begin(), modules.end());
  EXPECT_TRUE(got.contains("spatial_blocks.0.attn.proj"));
  EXPECT_FALSE(got.contains("spatial_blocks.1.attn.proj"));
  EXPECT_FALSE(got.contains("spatial_blocks.0.cross_attn.proj"));
  EXPECT_TRUE(got.contains("temporal_blocks.1.mlp.fc2"));
  EXPECT_TRUE(got.contains("y_embedder.y_proj.fc1"));  // fc1 also names the caption MLP's layer
  EXPECT_EQ(got.size(), 1u + 4u * 2u + 2u);
}

TEST(Operators, WidthPadsNewUnitsWithZeroOutputsAndRandomInputs) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  STDiT3 base = CloneModel(*model);
  GrowWith(*model, "width", "mlp_hidden = 160\nheads = 3\n");
  EXPECT_EQ(model->config().num_heads, 3);
  EXPECT_EQ(model->config().resolved_head_dim(), 16);
  EXPECT_EQ(model->config().resolved_mlp_hidden(), 160);
  auto p = model->named_parameters();
  auto b = base->named_parameters();
  using torch::indexing::Slice;
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

// Symmetry breaking: with random new inputs the new MLP units get gradients at once; with zero
// new inputs they output gelu(0) = 0 and no gradient ever reaches them.
TEST(Operators, WidthRandomInputsLetNewUnitsLearnZeroInputsDoNot) {
  for (const char* inputs : {"random", "zero"}) {
    STDiT3 model = TrainedModel(TinyConfig(2));
    GrowWith(*model, "width", fmt::format("mlp_hidden = 160\nnew_inputs = \"{}\"\n", inputs));
    model->zero_grad();
    model->forward(SomeInput(model->config(), false)).pow(2).mean().backward();
    torch::Tensor grad = model->named_parameters()["spatial_blocks.0.mlp.fc2.weight"].grad();
    float new_grad = grad.index({torch::indexing::Slice(), torch::indexing::Slice(128, None)})
                         .abs()
                         .max()
                         .item<float>();
    if (std::string(inputs) == "random") {
      EXPECT_GT(new_grad, 0.0f);
    } else {
      EXPECT_EQ(new_grad, 0.0f);
    }
  }
}

TEST(Operators, TextConditionAddsTheLLMPathway) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  GrowthReport report = GrowWith(*model, "text_condition",
                                 "caption_channels = 40\ntoken_num = 7\nnull = \"zeros\"\n");
  EXPECT_EQ(model->config().extra_conditions.size(), 1u);
  EXPECT_EQ(model->config().extra_conditions[0].name, "llm");
  EXPECT_EQ(model->NullCaption(1).sizes(), (std::vector<int64_t>{7, 40}));
  EXPECT_EQ(model->NullCaption(1).abs().max().item<float>(), 0.0f);
  auto p = model->named_parameters();
  EXPECT_TRUE(p.contains("y_embedder_1.y_proj.fc1.weight"));
  EXPECT_EQ(p["temporal_blocks.0.cross_attn_1.proj.weight"].abs().max().item<float>(), 0.0f);
  EXPECT_EQ(p["temporal_blocks.0.cross_attn_1.proj.bias"].abs().max().item<float>(), 0.0f);
  EXPECT_EQ(report.details.at("cross_attention"), "cross_attn_1");
}

// Impossible requests: an error that names the option and the model's numbers, nothing changed.
struct BadCase {
  std::string name;
  std::string op;
  std::string toml;
  std::vector<std::string> message;
};

void PrintTo(const BadCase& c, std::ostream* out) { *out << c.op << ": " << c.toml; }

class Impossible : public ::testing::TestWithParam<BadCase> {};

TEST_P(Impossible, IsAnErrorBeforeAnyChange) {
  const BadCase& c = GetParam();
  STDiT3 model = TrainedModel(TinyConfig(4));
  if (c.name == "stack_both_after_spatial") GrowWith(*model, "stack", "lists = \"spatial\"\n");
  if (c.name == "width_with_lora" || c.name == "lora_twice") GrowWith(*model, "lora", "rank = 2\n");
  STDiT3 before = CloneModel(*model);
  try {
    GrowWith(*model, c.op, c.toml);
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    std::string message = e.what();
    for (const std::string& part : c.message) {
      EXPECT_NE(message.find(part), std::string::npos) << "lacks '" << part << "': " << message;
    }
  }
  EXPECT_EQ(model->config(), before->config());
  auto a = model->named_parameters();
  auto b = before->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& item : b) {
    EXPECT_TRUE(torch::equal(a[item.key()], item.value())) << item.key();
    EXPECT_EQ(a[item.key()].requires_grad(), item.value().requires_grad()) << item.key();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Growth, Impossible,
    ::testing::Values(
        BadCase{"stack_p_vs_n",
                "stack",
                "new_blocks = 3\n",
                {"grow step 1 ('stack')", "new_blocks = 3", "N = 4", "whole number"}},
        BadCase{"stack_group", "stack", "group = 3\n", {"group = 3 does not divide", "N = 4"}},
        BadCase{"stack_group_prefix",
                "stack",
                "placement = \"prefix\"\ngroup = 2\n",
                {"group", "only insert stacking has groups"}},
        BadCase{"stack_init", "stack", "init = \"ones\"\n", {"init", "zero", "copy", "random"}},
        BadCase{"stack_unknown_key", "stack", "new_block = 2\n", {"unknown key 'new_block'"}},
        BadCase{"stack_both_after_spatial",
                "stack",
                "",
                {"lists = \"both\"", "8 spatial and 4 temporal", "lists = \"spatial\""}},
        BadCase{
            "llama_pro_every", "llama_pro", "every = 3\n", {"every = 3 does not divide", "N = 4"}},
        BadCase{"g_stack_factor", "g_stack", "factor = 1\n", {"factor"}},
        BadCase{"width_nothing", "width", "", {"mlp_hidden", "heads"}},
        BadCase{"width_smaller", "width", "heads = 2\n", {"heads = 2 must be larger", "2 heads"}},
        BadCase{"width_mlp_smaller",
                "width",
                "mlp_hidden = 64\n",
                {"mlp_hidden = 64 must be larger", "128"}},
        BadCase{"width_hidden", "width", "hidden_size = 64\n", {"hidden_size", "not offered"}},
        BadCase{
            "width_with_lora", "width", "heads = 3\n", {"has LoRA adapters", "merge them first"}},
        BadCase{
            "text_condition_missing", "text_condition", "token_num = 3\n", {"caption_channels"}},
        BadCase{"text_condition_duplicate",
                "text_condition",
                "name = \"t5\"\ncaption_channels = 4\ntoken_num = 3\n",
                {"already has a text condition named 't5'"}},
        BadCase{"lora_rank",
                "lora",
                "rank = 40\n",
                {"rank = 40 is larger", "attn.qkv", "96x32", "at most 32"}},
        BadCase{"lora_pattern",
                "lora",
                "targets = [\"attn.qkv\", \"mlp.fc3\"]\n",
                {"'mlp.fc3' matches no linear layer", "mlp.fc1"}},
        BadCase{
            "lora_regex", "lora", "targets = \"attn.(qkv\"\n", {"not a valid regular expression"}},
        BadCase{"text_condition_empty_name",
                "text_condition",
                "name = \"\"\ncaption_channels = 4\ntoken_num = 3\n",
                {"name", "must not be empty"}},
        BadCase{"lora_no_targets", "lora", "targets = []\n", {"targets", "at least one pattern"}},
        BadCase{"lora_dropout", "lora", "dropout = 1.0\n", {"dropout", "must be below 1"}},
        BadCase{"lora_twice",
                "lora",
                "targets = \"mlp.fc2\"\n",
                {"'spatial_blocks.0.mlp.fc2' already has LoRA adapters"}},
        BadCase{"lora_merge_nothing", "lora", "merge = true\n", {"no LoRA adapters to merge"}},
        BadCase{"lora_merge_rank", "lora", "merge = true\nrank = 4\n", {"rank", "has no meaning"}},
        BadCase{"unknown_op", "stak", "", {"no growth plugin named 'stak'", "stack"}}),
    [](const ::testing::TestParamInfo<BadCase>& info) { return info.param.name; });

TEST(Operators, DepthOperatorsNeedBlocksToGrowFrom) {
  STDiT3 model = TrainedModel(TinyConfig(0));
  for (const char* op : {"stack", "llama_pro", "g_stack", "depth_upscale"}) {
    EXPECT_THROW_WITH(GrowWith(*model, op), InputError,
                      "has no spatial/temporal blocks to grow from");
  }
  EXPECT_THROW_WITH(GrowWith(*model, "stack", "lists = \"temporal\"\n"), InputError,
                    "has no temporal blocks to grow from");
  EXPECT_EQ(model->config().depth, 0);
}

TEST(Operators, ALaterStepsBadOptionsStopTheRunBeforeTheFirstStep) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  const int64_t before = model->NumParameters();
  EXPECT_THROW_WITH(GrowModel(growth_testing::Registry(), *model,
                              {Step("stack"), Step("lora", "rnk = 4\n")}, nullptr, 0, TinyProbe()),
                    InputError, "unknown key 'rnk'", "rank");
  EXPECT_EQ(model->NumParameters(), before);
}

TEST(Operators, ALaterStepsImpossibleRequestNamesItsStep) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  EXPECT_THROW_WITH(
      GrowModel(growth_testing::Registry(), *model,
                {Step("stack"), Step("llama_pro", "every = 3\n")}, nullptr, 0, TinyProbe()),
      InputError, "grow step 2 ('llama_pro')", "every = 3", "N = 4");
}

}  // namespace
}  // namespace modelgrow

namespace modelgrow {
namespace {

// Nothing in the host or the operators assumes the CPU. Runs where LibTorch sees a CUDA device.
TEST(GrowthOnCuda, EveryOperatorGrowsAModelOnTheGpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const std::vector<std::pair<std::string, std::string>> ops = {
      {"stack", ""},
      {"stack", "init = \"random\"\n"},
      {"llama_pro", "every = 1\n"},
      {"g_stack", ""},
      {"width", "heads = 3\nmlp_hidden = 160\n"},
      {"text_condition", "caption_channels = 12\ntoken_num = 4\n"},
      {"lora", "rank = 4\n"}};
  for (const auto& [op, toml] : ops) {
    STDiT3 cpu = TrainedModel(TinyConfig(2));
    STDiT3 gpu = CloneModel(*cpu);
    gpu->to(torch::kCUDA);
    OptimizerState state;
    for (const auto& item : gpu->named_parameters()) {
      state[item.key()] = {torch::zeros_like(item.value()), torch::zeros_like(item.value()), 1};
    }
    GrowthReport on_gpu = GrowWith(*gpu, op, toml, &state);
    GrowthReport on_cpu = GrowWith(*cpu, op, toml);
    for (const auto& item : gpu->named_parameters()) {
      EXPECT_TRUE(item.value().is_cuda()) << op << ": " << item.key();
    }
    for (const auto& [name, s] : state) EXPECT_TRUE(s.exp_avg.is_cuda()) << op << ": " << name;
    EXPECT_EQ(on_gpu.params_after, on_cpu.params_after) << op;
    if (on_cpu.claims_preserving) {
      EXPECT_LE(on_gpu.preservation.max_rel, 1e-5) << op;
    } else {
      EXPECT_GT(on_gpu.preservation.max_rel, 1e-4) << op;
    }
    if (op != "lora") {  // LoRA's A is drawn from the device's own generator
      auto c = cpu->named_parameters();
      for (const auto& item : gpu->named_parameters()) {
        EXPECT_LE((item.value().cpu() - c[item.key()]).abs().max().item<float>(), 1e-6)
            << op << ": " << item.key();
      }
    }
  }
}

}  // namespace
}  // namespace modelgrow
