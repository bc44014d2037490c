// Parameter groups (`[[stages.<name>.optim.groups]]`): the manifest keys, which parameters a
// pattern names, and the trainer applying them to exactly the parameters named (AdamW's
// per-parameter settings against LibTorch's param_groups: trainer_test.cc).
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "modelgrow/io/checkpoint.h"
#include "modelgrow/io/optimizer_file.h"
#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/options.h"
#include "modelgrow/train/adamw.h"
#include "modelgrow/train/parameter_groups.h"
#include "modelgrow/train/train_spec.h"
#include "modelgrow/train/trainer.h"
#include "test_util.h"
#include "train/train_fixtures.h"

namespace modelgrow {
namespace {

using json = nlohmann::json;
using testing::TempDir;
using testing::TinySpec;
using testing::TinyTraining;

// ---------------------------------------------------------------- manifest keys

OptimSpec Parse(const std::string& text, std::string* problems = nullptr) {
  Options t = Options::ParseString(text, "optim.toml");
  OptimSpec o = OptimSpec::FromOptions(t);
  if (problems != nullptr) {
    for (const Problem& p : t.TakeProblems()) *problems += p.ToString() + "\n";
  }
  return o;
}

TEST(ParameterGroupSpec, ReadsPatternsScaleAndWeightDecay) {
  std::string problems;
  OptimSpec o = Parse(
      "lr = 1e-3\nweight_decay = 0.1\n"
      "[[groups]]\nparams = ['cross_attn_1', 'y_embedder_1']\nlr_scale = 10\n"
      "[[groups]]\nparams = 'final_layer'\nweight_decay = 0\n",
      &problems);
  EXPECT_EQ(problems, "");
  ASSERT_EQ(o.groups.size(), 2u);
  EXPECT_EQ(o.groups[0].params, (std::vector<std::string>{"cross_attn_1", "y_embedder_1"}));
  EXPECT_EQ(o.groups[0].lr_scale, 10);
  EXPECT_FALSE(o.groups[0].weight_decay.has_value());
  EXPECT_EQ(o.groups[1].params, (std::vector<std::string>{"final_layer"}));
  EXPECT_EQ(o.groups[1].lr_scale, 1);
  EXPECT_EQ(o.groups[1].weight_decay, 0.0);
  EXPECT_TRUE(Parse("lr = 1e-3\n").groups.empty());
}

TEST(ParameterGroupSpec, BadGroupsAreNamedWithWhereAndWhat) {
  for (const auto& [text, wanted] : std::vector<std::pair<std::string, std::string>>{
           {"groups = 3", "groups: expected an array of tables, got"},
           {"[[groups]]\nlr_scale = 2", "groups[0].params: missing required key"},
           {"[[groups]]\nparams = []", "groups[0].params: expected at least one pattern"},
           {"[[groups]]\nparams = 'attn.(qkv'", "'attn.(qkv' is not a valid regular expression"},
           {"[[groups]]\nparams = 'a'\nlr_scale = -1", "groups[0].lr_scale"},
           {"[[groups]]\nparams = 'a'\nweight_decay = -1", "groups[0].weight_decay"},
           {"[[groups]]\nparams = 'a'\nlr = 1e-2", "groups[0].lr"},
           {"[[groups]]\nparams = 'a'\n[[groups]]\nparams = 7", "groups[1].params"}}) {
    std::string problems;
    Parse(text + "\n", &problems);
    EXPECT_NE(problems.find(wanted), std::string::npos) << text << ":\n" << problems;
  }
}

// ---------------------------------------------------------------- which parameters

NamedTensors Named(std::initializer_list<std::pair<const char*, int64_t>> sizes) {
  NamedTensors out;
  for (const auto& [name, n] : sizes) out.emplace_back(name, at::zeros({n}));
  return out;
}

TEST(ResolveParameterGroups, GivesEachNamedParameterItsGroupsSettings) {
  NamedTensors trainable = Named({{"spatial_blocks.0.cross_attn.proj.weight", 4},
                                  {"spatial_blocks.0.cross_attn_1.proj.weight", 4},
                                  {"spatial_blocks.0.cross_attn_1.proj.bias", 2},
                                  {"y_embedder_1.y_proj.fc1.weight", 6},
                                  {"final_layer.linear.weight", 3}});
  OptimSpec o;
  o.weight_decay = 0.05;
  o.groups = {{{"cross_attn_1", "y_embedder_1"}, 10.0, std::nullopt}, {{"final_layer"}, 1.0, 0.0}};
  ResolvedParameterGroups r = ResolveParameterGroups(o, trainable, "stage continue");
  ASSERT_EQ(r.hypers.size(), 4u);
  EXPECT_EQ(r.hypers.at("spatial_blocks.0.cross_attn_1.proj.bias").lr_scale, 10);
  EXPECT_EQ(r.hypers.at("y_embedder_1.y_proj.fc1.weight").weight_decay, 0.05);
  EXPECT_EQ(r.hypers.at("final_layer.linear.weight").lr_scale, 1);
  EXPECT_EQ(r.hypers.at("final_layer.linear.weight").weight_decay, 0);
  EXPECT_EQ(r.hypers.count("spatial_blocks.0.cross_attn.proj.weight"), 0u);
  ASSERT_EQ(r.groups.size(), 2u);
  EXPECT_EQ(r.groups[0].tensors, 3);
  EXPECT_EQ(r.groups[0].elements, 12);
  EXPECT_EQ(r.groups[0].hyper.lr_scale, 10.0);
  EXPECT_EQ(r.groups[0].hyper.weight_decay, 0.05);
  EXPECT_EQ(r.groups[1].tensors, 1);
  const nlohmann::json json = r.ToJson();
  ASSERT_EQ(json.size(), 2u);
  EXPECT_EQ(json[0]["tensors"], 3);
  EXPECT_EQ(json[0]["elements"], 12);
  EXPECT_EQ(json[0]["lr_scale"], 10.0);
  EXPECT_EQ(json[0]["weight_decay"], 0.05);
  EXPECT_EQ(json[0]["params"], r.groups[0].params);
  // A parameter two patterns of one group name is counted once.
  o.groups = {{{"cross_attn_1", "cross_attn_1.proj"}, 2.0, std::nullopt}};
  EXPECT_EQ(ResolveParameterGroups(o, trainable, "s").groups[0].tensors, 2);
}

TEST(ResolveParameterGroups, ATypoOrAParameterInTwoGroupsIsNamed) {
  NamedTensors trainable = Named({{"spatial_blocks.0.cross_attn.proj.weight", 4},
                                  {"spatial_blocks.1.cross_attn.proj.weight", 4},
                                  {"final_layer.linear.weight", 3}});
  OptimSpec o;
  o.groups = {{{"final_layer"}, 2.0, std::nullopt}, {{"cross_attn_1"}, 10.0, std::nullopt}};
  EXPECT_THROW_WITH(ResolveParameterGroups(o, trainable, "run t5+llm-s0 stage continue"),
                    InputError, "run t5+llm-s0 stage continue: optim.groups[1]",
                    "pattern 'cross_attn_1' matches no trainable parameter",
                    "spatial_blocks.N.cross_attn.proj, final_layer.linear");
  o.groups = {{{"cross_attn"}, 2.0, std::nullopt}, {{"spatial_blocks\\.1"}, 3.0, std::nullopt}};
  EXPECT_THROW_WITH(ResolveParameterGroups(o, trainable, "s"), InputError,
                    "parameter 'spatial_blocks.1.cross_attn.proj.weight' is in optim.groups[0] "
                    "and in optim.groups[1]");
}

// ---------------------------------------------------------------- in training

std::map<std::string, at::Tensor> TrainedWeights(const std::filesystem::path& dir, TrainSpec spec,
                                                 TrainResult* result = nullptr) {
  TinyTraining t(dir, spec);
  TrainResult r = t.Run();
  if (result != nullptr) *result = r;
  std::map<std::string, at::Tensor> out;
  for (const auto& item : t.model->named_parameters())
    out[item.key()] = item.value().detach().clone();
  return out;
}

// A group at lr_scale 2 under a base lr of L/2 steps its parameters exactly as lr L does, and
// every other parameter as lr L/2 does: the scale reaches the named parameters and only them,
// through the trainer's (distributed) optimizer. One step, as from the second on every
// parameter's gradient depends on all the others' values.
TEST(Train, AParameterGroupTrainsItsParametersAtItsOwnLearningRate) {
  TempDir dir;
  TrainSpec full = TinySpec();
  full.steps = 1;
  full.optim.lr = 2e-3;
  TrainSpec half = full;
  half.optim.lr = 1e-3;
  TrainSpec grouped = half;
  grouped.optim.groups = {{{"spatial_blocks\\.0", "final_layer"}, 2.0, std::nullopt}};

  auto at_full = TrainedWeights(dir / "full", full);
  auto at_half = TrainedWeights(dir / "half", half);
  TrainResult r;
  auto got = TrainedWeights(dir / "grouped", grouped, &r);
  int64_t scaled = 0;
  for (const auto& [name, w] : got) {
    const bool in_group = name.starts_with("spatial_blocks.0.") || name.starts_with("final_layer.");
    scaled += in_group;
    const at::Tensor& want = in_group ? at_full.at(name) : at_half.at(name);
    const at::Tensor& other = in_group ? at_half.at(name) : at_full.at(name);
    EXPECT_TRUE(torch::equal(w, want)) << name;
    if (!torch::equal(at_full.at(name), at_half.at(name))) {
      EXPECT_FALSE(torch::equal(w, other)) << name;
    }
  }
  EXPECT_GT(scaled, 10);
  ASSERT_EQ(r.parameter_groups.size(), 1u);
  EXPECT_EQ(r.parameter_groups[0]["tensors"], scaled);
  EXPECT_EQ(r.parameter_groups[0]["lr_scale"], 2.0);
}

// lr_scale 0 holds a group still for one stage (a new pathway trained alone first, the rest
// after): the stage trains exactly as if the group were frozen, and yet the group leaves the stage
// trainable -- in the model and in the checkpoint -- for the stages after it.
TEST(Train, AGroupAtLrScaleZeroIsHeldStillForTheStageOnly) {
  TempDir dir;
  TrainSpec spec = TinySpec();
  spec.steps = 3;
  TrainSpec held = spec;
  held.optim.groups = {{{"spatial_blocks", "temporal_blocks"}, 0.0, std::nullopt}};
  auto in_blocks = [](const std::string& name) {
    return name.starts_with("spatial_blocks.") || name.starts_with("temporal_blocks.");
  };

  TinyTraining frozen_run(dir / "frozen", spec);
  for (auto& item : frozen_run.model->named_parameters()) {
    if (in_blocks(item.key())) item.value().set_requires_grad(false);
  }
  const TrainResult frozen = frozen_run.Run();
  TinyTraining held_run(dir / "held", held);
  std::map<std::string, at::Tensor> before;
  for (const auto& item : held_run.model->named_parameters())
    before[item.key()] = item.value().detach().clone();
  held_run.context.meta = DescribeModel(*held_run.model);  // as a run's stage takes it
  TrainResult r = held_run.Run();

  int64_t held_tensors = 0, held_elements = 0, moved = 0, elements = 0;
  for (const auto& item : held_run.model->named_parameters()) {
    const at::Tensor& w = item.value();
    elements += w.numel();
    held_elements += in_blocks(item.key()) ? w.numel() : 0;
    EXPECT_TRUE(w.requires_grad()) << item.key() << " is trainable again after the stage";
    EXPECT_TRUE(torch::equal(w, frozen_run.model->named_parameters()[item.key()])) << item.key();
    if (in_blocks(item.key())) {
      ++held_tensors;
      EXPECT_TRUE(torch::equal(w, before[item.key()])) << item.key();
    } else {
      moved += !torch::equal(w, before[item.key()]);
    }
  }
  EXPECT_GT(held_tensors, 10);
  EXPECT_GT(moved, 3);
  ASSERT_EQ(r.parameter_groups.size(), 1u);
  EXPECT_EQ(r.parameter_groups[0]["lr_scale"], 0.0);
  EXPECT_EQ(r.parameter_groups[0]["tensors"], held_tensors);
  // What the stage trained (stage.json's "trainable") leaves the held group out.
  EXPECT_EQ(r.trained_parameters, elements - held_elements);
  EXPECT_EQ(frozen.trained_parameters, elements - held_elements);
  // The optimizer kept state for the parameters that moved and none for the held ones.
  const OptimizerState state =
      ReadOptimizerState(dir / "held" / "checkpoint" / kOptimizerStateFile);
  EXPECT_FALSE(state.empty());
  for (const auto& [name, s] : state) EXPECT_FALSE(in_blocks(name)) << name;
  LoadedModel saved = LoadModel(dir / "held" / "checkpoint", at::kCPU);
  EXPECT_TRUE(saved.meta.frozen.empty());
  for (const auto& item : saved.model->named_parameters()) {
    EXPECT_TRUE(item.value().requires_grad()) << item.key();
  }

  // Holding everything leaves nothing to train, which is said before any step.
  TrainSpec all = spec;
  all.optim.groups = {{{".*"}, 0.0, std::nullopt}};
  TinyTraining nothing(dir / "nothing", all);
  EXPECT_THROW_WITH(nothing.Run(), InputError,
                    "nothing to train: every trainable parameter is in an optim.groups entry with "
                    "lr_scale = 0");
  for (const auto& item : nothing.model->named_parameters()) {
    EXPECT_TRUE(item.value().requires_grad()) << item.key();
  }
}

TEST(Train, AGroupPatternThatNamesNothingStopsTheStageBeforeItTrains) {
  TempDir dir;
  TrainSpec spec = TinySpec();
  spec.optim.groups = {{{"cross_attn_1"}, 10.0, std::nullopt}};
  TinyTraining t(dir.path(), spec);
  EXPECT_THROW_WITH(t.Run(), InputError,
                    "optim.groups[0] pattern 'cross_attn_1' matches no "
                    "trainable parameter");
  EXPECT_FALSE(std::filesystem::exists(dir / "checkpoint"));
}

}  // namespace
}  // namespace modelgrow
