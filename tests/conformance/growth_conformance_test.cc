// The growth conformance suite: what every growth operator must satisfy, run over every growth
// plugin found (conformance_plugins.h) and each of its [[example]] tables, on a small "trained"
// probe model (growth_testing::TinyConfig, with the example's `test_model` overrides).
//
// Suite keys of an example:
//   test_model = {depth = 3}          STDiT3 config fields set over the probe model's
//   test_check_error = "text"         Check() must refuse with an InputError containing the text,
//                                     and growing must leave model and optimizer state
//                                     bit-identical
//   test_options_error = "text"       constructing must report a problem containing the text
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <map>

#include <nlohmann/json.hpp>

#include "conformance/conformance_plugins.h"
#include "growth/growth_test_util.h"
#include "modelgrow/model/clone.h"
#include "modelgrow/model/config.h"
#include "test_util.h"

namespace modelgrow::conformance {
namespace {

using growth_testing::ModelSnapshot;
using growth_testing::Snapshot;
using growth_testing::TinyProbe;
using growth_testing::TrainedModel;
using json = nlohmann::json;

constexpr uint64_t kSeed = 7;

// growth_testing::TinyConfig(4) as a table, so an example's `test_model` can override any field.
constexpr const char* kProbeModel = R"toml(
preset = "STDiT3-T/2"
hidden_size = 32
num_heads = 2
depth = 4
caption_channels = 16
model_max_length = 6
)toml";

bool Grows(const Options& t) { return !t.Has("test_check_error") && !t.Has("test_options_error"); }
bool Refused(const Options& t) { return t.Has("test_check_error") && !t.Has("test_options_error"); }
bool Rejected(const Options& t) { return t.Has("test_options_error"); }

STDiT3Config ProbeConfig(const Example& example) {
  Options base = Options::ParseString(kProbeModel, "conformance probe model");
  Options table = example.Table();
  Options merged = table.Has("test_model") ? table.Table("test_model").MergedOver(base) : base;
  STDiT3Config config = ConfigFromOptions(merged);
  merged.RejectUnknownKeys();
  merged.ThrowIfProblems();
  return config;
}

STDiT3 ProbeModel(const Example& example) { return TrainedModel(ProbeConfig(example)); }

std::shared_ptr<GrowthOperator> Construct(const Example& example, const Options& options,
                                          c10::Device device) {
  PluginContext context;
  context.options = options;
  context.device = device;
  return Plugins().MakeGrowthOperator(example.plugin.name, context);
}

// One step of the example's operator, constructed as the host constructs it.
GrowthStep StepOf(const Example& example, c10::Device device = c10::Device(c10::DeviceType::CPU)) {
  Options options = example.PluginOptions();
  return {example.plugin.name, options, Construct(example, options, device)};
}

// Operators that fit on data (GrowthContext::data) get the suite's: the base's outputs.
GrowthReport Grow(const Example& example, STDiT3Impl& model, OptimizerState* state = nullptr) {
  growth_testing::DistillationData data(model);
  return GrowModel(model, {StepOf(example, model.device())}, state, kSeed, TinyProbe(), &data)
      .at(0);
}

// AdamW state as after training: seeded moments for every parameter.
OptimizerState TrainedState(const STDiT3Impl& model) {
  torch::manual_seed(5);
  OptimizerState state;
  for (const auto& item : model.named_parameters()) {
    state[item.key()] = {torch::randn_like(item.value()), torch::rand_like(item.value()), 10};
  }
  return state;
}

std::map<std::string, std::string> StateBytes(const OptimizerState& state) {
  std::map<std::string, std::string> bytes;
  for (const auto& [name, s] : state) {
    bytes[name] = growth_testing::TensorBytes(s.exp_avg) + "|" +
                  growth_testing::TensorBytes(s.exp_avg_sq) + "|" + std::to_string(s.step);
  }
  return bytes;
}

// ---- every plugin --------------------------------------------------------------------------

TEST(GrowthConformance, FindsGrowthPlugins) { ExpectPluginsFound(PluginKind::kGrowth); }

class GrowthPlugin : public ::testing::TestWithParam<Plugin> {};

TEST_P(GrowthPlugin, DeclaresExamples) {
  ExpectUsableExamples(GetParam(), {"test_model", "test_check_error", "test_options_error"}, Grows);
}

INSTANTIATE_TEST_SUITE_P(Growth, GrowthPlugin, ::testing::ValuesIn(PluginsOf(PluginKind::kGrowth)),
                         PluginName);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(GrowthPlugin);

// ---- examples that grow --------------------------------------------------------------------

class GrowthExample : public ::testing::TestWithParam<Example> {};

// Made from the option table alone: no model, nothing else. Two instances are independent.
TEST_P(GrowthExample, ConstructsFromItsOptionsAlone) {
  std::shared_ptr<GrowthOperator> a = StepOf(GetParam()).instance;
  std::shared_ptr<GrowthOperator> b = StepOf(GetParam()).instance;
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a.get(), b.get());
}

// A preserving claim is checked by numbers: the host's probe, and an independent comparison with a
// copy of the base on other inputs, with and without a frame mask, both within 1e-6 relative.
TEST_P(GrowthExample, PreservingClaimHoldsOnTheProbe) {
  STDiT3 model = ProbeModel(GetParam());
  STDiT3 base = CloneModel(*model);
  GrowthReport report = Grow(GetParam(), *model);
  ASSERT_EQ(report.preservation.probe_samples, TinyProbe().batch) << "the host did not probe";
  // Preserving or not, the grown model computes numbers.
  EXPECT_TRUE(std::isfinite(report.preservation.max_rel)) << report.ToJson().dump(2);
  if (!report.claims_preserving) return;  // not preserving by design: the report says how far
  EXPECT_LE(report.preservation.max_rel, 1e-6) << report.ToJson().dump(2);
  ProbeOptions other = TinyProbe();
  other.seed = 99;
  other.timesteps = {1, 999};
  for (bool mask : {false, true}) {
    other.with_frame_mask = mask;
    EXPECT_LE(MeasurePreservation(*base, *model, other).max_rel, 1e-6)
        << (mask ? "with" : "without") << " a frame mask";
  }
}

// Two runs from identical models with the same seed grow identical models, bit for bit.
TEST_P(GrowthExample, SameSeedGivesTheSameGrownWeights) {
  STDiT3 a = ProbeModel(GetParam());
  STDiT3 b = ProbeModel(GetParam());
  ASSERT_TRUE(Snapshot(*a) == Snapshot(*b));
  Grow(GetParam(), *a);
  Grow(GetParam(), *b);
  ModelSnapshot grown_a = Snapshot(*a), grown_b = Snapshot(*b);
  EXPECT_EQ(grown_a.config, grown_b.config);
  ASSERT_EQ(grown_a.keys, grown_b.keys);
  for (size_t i = 0; i < grown_a.keys.size(); ++i) {
    EXPECT_TRUE(grown_a.bytes[i] == grown_b.bytes[i]) << grown_a.keys[i] << " differs";
  }
  EXPECT_EQ(grown_a.trainable, grown_b.trainable);
}

// growth_report.json's step entry holds every field, with the types readers expect and values
// that agree with the grown model.
TEST_P(GrowthExample, ReportJsonHasEveryField) {
  STDiT3 model = ProbeModel(GetParam());
  GrowthReport report = Grow(GetParam(), *model);
  json j = GrowthReportsToJson({report});
  for (const char* key :
       {"format", "version", "steps", "params_before", "params_after", "trainable_after"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  ASSERT_TRUE(j.contains("steps") && j["steps"].size() == 1u) << j.dump(2);
  const json& step = j["steps"][0];
  const std::vector<std::pair<const char*, json::value_t>> fields = {
      {"op", json::value_t::string},
      {"options", json::value_t::object},
      {"params_before", json::value_t::number_integer},
      {"params_after", json::value_t::number_integer},
      {"trainable_after", json::value_t::number_integer},
      {"new_parameters", json::value_t::array},
      {"frozen_parameters", json::value_t::array},
      {"preservation", json::value_t::object},
      {"seconds", json::value_t::number_float},
      {"claims_preserving", json::value_t::boolean},
      {"optimizer_state", json::value_t::object},
      {"details", json::value_t::object}};
  for (const auto& [key, type] : fields) {
    ASSERT_TRUE(step.contains(key)) << "no '" << key << "' in " << step.dump(2);
    EXPECT_EQ(step[key].type(), type) << key << ": " << step[key].dump();
  }
  EXPECT_EQ(step["op"], GetParam().plugin.name);
  EXPECT_EQ(step["options"], json::parse(GetParam().PluginOptions().ToJson()));
  EXPECT_EQ(step["params_after"], model->NumParameters());
  EXPECT_EQ(step["trainable_after"], model->NumTrainableParameters());
  EXPECT_GE(step["seconds"].get<double>(), 0.0);
  auto params = model->named_parameters();
  for (const json& name : step["new_parameters"]) {
    EXPECT_TRUE(params.contains(name.get<std::string>())) << name;
  }
  for (const json& name : step["frozen_parameters"]) {
    ASSERT_TRUE(params.contains(name.get<std::string>())) << name;
    EXPECT_FALSE(params[name.get<std::string>()].requires_grad()) << name;
  }
  const json& preservation = step["preservation"];
  EXPECT_EQ(preservation.value("measured", false), true) << preservation.dump();
  for (const char* key :
       {"max_abs", "max_rel", "dtype", "probe_samples", "timesteps", "with_frame_mask"}) {
    EXPECT_TRUE(preservation.contains(key)) << key << " in " << preservation.dump();
  }
  const json& optimizer = step["optimizer_state"];
  for (const char* key : {"policy", "note", "entries_carried", "entries_dropped"}) {
    ASSERT_TRUE(optimizer.contains(key)) << key << " in " << optimizer.dump();
  }
  const std::string policy = optimizer["policy"];
  EXPECT_TRUE(policy == "carried" || policy == "reset" || policy == "transformed") << policy;
  EXPECT_FALSE(optimizer["note"].get<std::string>().empty())
      << "the operator says in optimizer_note what happened to the optimizer state";
}

// With moments for every parameter: the entries carried follow their tensors (same values unless
// the operator transformed them) and match their parameters' shapes; frozen and removed
// parameters keep none; nothing is counted twice or lost.
TEST_P(GrowthExample, OptimizerStateFollowsItsParameters) {
  STDiT3 model = ProbeModel(GetParam());
  OptimizerState state = TrainedState(*model);
  std::map<const c10::TensorImpl*, std::string> names_before;
  for (const auto& item : model->named_parameters()) {
    names_before[item.value().unsafeGetTensorImpl()] = item.key();
  }
  const std::map<std::string, std::string> bytes_before = StateBytes(state);
  const int64_t entries = static_cast<int64_t>(state.size());

  GrowthReport report = Grow(GetParam(), *model, &state);
  EXPECT_EQ(report.optimizer_entries_carried + report.optimizer_entries_dropped, entries);
  EXPECT_EQ(static_cast<int64_t>(state.size()), report.optimizer_entries_carried);
  if (report.optimizer_state == OptimizerStatePolicy::kReset) EXPECT_TRUE(state.empty());
  auto params = model->named_parameters();
  const std::map<std::string, std::string> bytes_after = StateBytes(state);
  for (const auto& [name, s] : state) {
    ASSERT_TRUE(params.contains(name)) << name << " is not a parameter of the grown model";
    const torch::Tensor& p = params[name];
    EXPECT_TRUE(p.requires_grad()) << name << " is frozen but kept optimizer state";
    EXPECT_EQ(s.exp_avg.sizes(), p.sizes()) << name;
    EXPECT_EQ(s.exp_avg_sq.sizes(), p.sizes()) << name;
    auto before = names_before.find(p.unsafeGetTensorImpl());
    ASSERT_NE(before, names_before.end()) << name << " is new but has optimizer state";
    if (report.optimizer_state == OptimizerStatePolicy::kCarried) {
      EXPECT_EQ(bytes_after.at(name), bytes_before.at(before->second))
          << name << " (before: " << before->second << ") did not keep its moments";
    }
  }
}

// Nothing in the host or the operator assumes the CPU. Runs where LibTorch sees a CUDA device.
TEST_P(GrowthExample, GrowsOnCudaAsOnCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  STDiT3 cpu = ProbeModel(GetParam());
  STDiT3 gpu = CloneModel(*cpu);
  gpu->to(torch::kCUDA);
  OptimizerState state = TrainedState(*gpu);
  GrowthReport on_gpu = Grow(GetParam(), *gpu, &state);
  GrowthReport on_cpu = Grow(GetParam(), *cpu);
  for (const auto& item : gpu->named_parameters())
    EXPECT_TRUE(item.value().is_cuda()) << item.key();
  for (const auto& [name, s] : state) EXPECT_TRUE(s.exp_avg.is_cuda()) << name;
  EXPECT_EQ(on_gpu.params_after, on_cpu.params_after);
  EXPECT_EQ(on_gpu.claims_preserving, on_cpu.claims_preserving);
  EXPECT_EQ(gpu->config(), cpu->config());
  if (on_gpu.claims_preserving) EXPECT_LE(on_gpu.preservation.max_rel, 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Growth, GrowthExample,
                         ::testing::ValuesIn(ExamplesOf(PluginKind::kGrowth, Grows)), ExampleName);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(GrowthExample);

// ---- examples that Check must refuse -------------------------------------------------------

class GrowthRefusal : public ::testing::TestWithParam<Example> {};

TEST_P(GrowthRefusal, CheckRefusesWithTheDeclaredMessage) {
  const std::string expected = GetParam().TestString("test_check_error");
  STDiT3 model = ProbeModel(GetParam());
  GrowthStep step = StepOf(GetParam());
  EXPECT_THROW_WITH(step.instance->Check(*model), InputError, expected.c_str());
}

// A refused step changes nothing: every state-dict byte, the config, the trainable flags and the
// optimizer state are as they were.
TEST_P(GrowthRefusal, RefusedGrowthLeavesModelAndStateBitIdentical) {
  const std::string expected = GetParam().TestString("test_check_error");
  STDiT3 model = ProbeModel(GetParam());
  OptimizerState state = TrainedState(*model);
  const ModelSnapshot before = Snapshot(*model);
  const std::map<std::string, std::string> state_before = StateBytes(state);
  EXPECT_THROW_WITH(Grow(GetParam(), *model, &state), InputError, expected.c_str());
  ModelSnapshot after = Snapshot(*model);
  EXPECT_EQ(after.config, before.config);
  EXPECT_EQ(after.keys, before.keys);
  EXPECT_TRUE(after.bytes == before.bytes) << "a parameter or buffer changed";
  EXPECT_EQ(after.trainable, before.trainable);
  EXPECT_TRUE(StateBytes(state) == state_before) << "the optimizer state changed";
}

INSTANTIATE_TEST_SUITE_P(Growth, GrowthRefusal,
                         ::testing::ValuesIn(ExamplesOf(PluginKind::kGrowth, Refused)),
                         ExampleName);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(GrowthRefusal);

// ---- examples whose options must be rejected -----------------------------------------------

class GrowthOptionsRefusal : public ::testing::TestWithParam<Example> {};

// The constructor records the problem (it does not throw): the host reports it, with every other
// problem, as one ValidationError.
TEST_P(GrowthOptionsRefusal, ConstructionReportsTheDeclaredProblem) {
  const std::string expected = GetParam().TestString("test_options_error");
  EXPECT_THROW_WITH(StepOf(GetParam()), ValidationError, expected.c_str());
}

INSTANTIATE_TEST_SUITE_P(Growth, GrowthOptionsRefusal,
                         ::testing::ValuesIn(ExamplesOf(PluginKind::kGrowth, Rejected)),
                         ExampleName);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(GrowthOptionsRefusal);

}  // namespace
}  // namespace modelgrow::conformance
