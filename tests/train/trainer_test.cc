// The trainer's parts against references: learning-rate schedule, AdamW against LibTorch's,
// gradient clipping, accumulation, frozen parameters, EMA, metrics lines and in-process resume.
#include <cmath>
#include <fstream>

#include <gtest/gtest.h>
#include <torch/optim/adamw.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "modelgrow/io/optimizer_file.h"
#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/sdk/safetensors.h"
#include "modelgrow/train/adamw.h"
#include "modelgrow/train/trainer.h"
#include "test_util.h"
#include "train/train_fixtures.h"

namespace modelgrow {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using testing::HashedWords;
using testing::MaxAbsError;
using testing::MaxRelError;
using testing::TempDir;
using testing::TinySpec;
using testing::TinyTraining;
using testing::TinyVideos;

std::vector<json> ReadLines(const fs::path& file) {
  std::vector<json> lines;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) lines.push_back(json::parse(line));
  return lines;
}

std::map<std::string, at::Tensor> Params(const STDiT3Impl& model) {
  std::map<std::string, at::Tensor> out;
  for (const auto& item : model.named_parameters()) out[item.key()] = item.value().detach().clone();
  return out;
}

// ---------------------------------------------------------------- learning rate

TEST(LearningRate, WarmsUpLinearlyThenStaysConstant) {
  OptimSpec o;
  o.lr = 1e-3;
  o.warmup_steps = 4;
  o.schedule = "constant";
  EXPECT_DOUBLE_EQ(LearningRate(o, 0, 100), 0.25e-3);
  EXPECT_DOUBLE_EQ(LearningRate(o, 1, 100), 0.5e-3);
  EXPECT_DOUBLE_EQ(LearningRate(o, 3, 100), 1e-3);
  EXPECT_DOUBLE_EQ(LearningRate(o, 4, 100), 1e-3);
  EXPECT_DOUBLE_EQ(LearningRate(o, 99, 100), 1e-3);
  o.warmup_steps = 0;
  EXPECT_DOUBLE_EQ(LearningRate(o, 0, 100), 1e-3);
}

TEST(LearningRate, CosineDecaysFromThePeakToItsFloor) {
  OptimSpec o;
  o.lr = 1e-3;
  o.warmup_steps = 10;
  o.schedule = "cosine";
  o.min_lr_ratio = 0.1;
  const int64_t total = 110;                                // 100 steps of decay after the warm-up
  EXPECT_DOUBLE_EQ(LearningRate(o, 9, total), 1e-3);        // end of warm-up
  EXPECT_DOUBLE_EQ(LearningRate(o, 10, total), 1e-3);       // start of decay
  EXPECT_NEAR(LearningRate(o, 60, total), 0.55e-3, 1e-15);  // half way: mean of peak and floor
  EXPECT_NEAR(LearningRate(o, 110, total), 1e-4, 1e-15);    // the floor
  EXPECT_NEAR(LearningRate(o, 500, total), 1e-4, 1e-15);    // never below it
  double previous = 1;
  for (int64_t step = 10; step < total; ++step) {
    double lr = LearningRate(o, step, total);
    EXPECT_LE(lr, previous) << step;
    EXPECT_GE(lr, 1e-4) << step;
    previous = lr;
  }
  o.min_lr_ratio = 0;
  EXPECT_NEAR(LearningRate(o, 110, total), 0, 1e-15);
}

// ---------------------------------------------------------------- AdamW

// Our AdamW and torch::optim::AdamW on copies of the same parameters and gradients, with the
// learning rate changing every step and one parameter getting no gradient on some steps. Each
// parameter is its own LibTorch param group, so the ones `hypers` names get their learning rate
// scaled and their own weight decay there as they do in ours.
void CompareWithTorch(double weight_decay, const ParameterHypers& hypers = {}) {
  SCOPED_TRACE(weight_decay);
  at::Generator g = at::detail::createCPUGenerator(7);
  std::vector<at::Tensor> init = {at::randn({4, 3}, g, at::TensorOptions()),
                                  at::randn({5}, g, at::TensorOptions()),
                                  at::randn({2, 2, 2}, g, at::TensorOptions())};
  NamedTensors ours;
  std::vector<at::Tensor> theirs;
  for (size_t i = 0; i < init.size(); ++i) {
    ours.emplace_back("p" + std::to_string(i), init[i].clone().set_requires_grad(true));
    theirs.push_back(init[i].clone().set_requires_grad(true));
  }
  AdamWConfig config{0.9, 0.98, 1e-6, weight_decay};
  AdamW adamw(ours, config, hypers);
  auto options = [&](double decay) {
    return torch::optim::AdamWOptions(1e-2)
        .betas({config.beta1, config.beta2})
        .eps(config.eps)
        .weight_decay(decay);
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  std::vector<double> lr_scales;
  for (size_t i = 0; i < init.size(); ++i) {
    auto it = hypers.find(ours[i].first);
    const ParameterHyper h = it != hypers.end() ? it->second : ParameterHyper{1.0, weight_decay};
    groups.emplace_back(std::vector<at::Tensor>{theirs[i]},
                        std::make_unique<torch::optim::AdamWOptions>(options(h.weight_decay)));
    lr_scales.push_back(h.lr_scale);
  }
  torch::optim::AdamW reference(std::move(groups), options(weight_decay));
  for (int step = 0; step < 6; ++step) {
    double lr = 1e-2 * (1 + 0.5 * step);
    for (size_t i = 0; i < init.size(); ++i) {
      static_cast<torch::optim::AdamWOptions&>(reference.param_groups()[i].options())
          .lr(lr * lr_scales[i]);
    }
    for (size_t i = 0; i < init.size(); ++i) {
      if (i == 2 && step % 2 == 0) continue;  // no gradient: skipped by both
      at::Tensor grad = at::randn(init[i].sizes(), g, at::TensorOptions());
      ours[i].second.mutable_grad() = grad.clone();
      theirs[i].mutable_grad() = grad.clone();
    }
    adamw.Step(lr);
    reference.step();
    adamw.ZeroGrad();
    for (auto& t : theirs) t.mutable_grad() = at::Tensor();
  }
  for (size_t i = 0; i < init.size(); ++i) {
    EXPECT_LE(MaxRelError(ours[i].second.detach(), theirs[i].detach()), 1e-6) << i;
    EXPECT_FALSE(torch::equal(ours[i].second.detach(), init[i])) << i;
  }
  EXPECT_EQ(adamw.state().at("p0").step, 6);
  EXPECT_EQ(adamw.state().at("p2").step, 3);  // only the steps that had a gradient
}

TEST(AdamW, MatchesLibTorchWithoutWeightDecay) { CompareWithTorch(0.0); }
TEST(AdamW, MatchesLibTorchWithWeightDecay) { CompareWithTorch(0.1); }
// Parameter groups (train/parameter_groups.h): p1 10x faster without decay, p2 at half the rate
// with more; p0 takes the config.
TEST(AdamW, ParameterHypersMatchLibTorchParamGroups) {
  CompareWithTorch(0.1, {{"p1", {10.0, 0.0}}, {"p2", {0.5, 0.3}}});
}

TEST(AdamW, StateSavesAndLoadsByName) {
  TempDir dir;
  at::Tensor a = at::randn({3, 3}).set_requires_grad(true);
  at::Tensor b = at::randn({4}).set_requires_grad(true);
  AdamW first({{"a", a}, {"b", b}}, {});
  a.mutable_grad() = at::ones({3, 3});
  b.mutable_grad() = at::ones({4});
  first.Step(1e-2);
  b.mutable_grad() = at::Tensor();
  first.Step(1e-2);  // only `a` advances
  {
    CheckpointWriter writer(dir / "ck");
    WriteOptimizerStateTo(writer, first.state());
    writer.Commit();
  }
  // The one file format keeps every parameter's own step count.
  OptimizerState loaded = ReadOptimizerState(dir / "ck" / kOptimizerStateFile);
  EXPECT_EQ(loaded.at("a").step, 2);
  EXPECT_EQ(loaded.at("b").step, 1);
  EXPECT_TRUE(torch::equal(loaded.at("b").exp_avg, first.state().at("b").exp_avg));

  // `b` has another shape in the new optimizer: its entry is dropped, `c` has none.
  at::Tensor b2 = at::randn({5}).set_requires_grad(true);
  at::Tensor c = at::randn({2}).set_requires_grad(true);
  AdamW second({{"a", a}, {"b", b2}, {"c", c}}, {});
  EXPECT_EQ(second.AdoptState(loaded), 1);
  EXPECT_EQ(second.state().at("a").step, 2);
  EXPECT_TRUE(torch::equal(second.state().at("a").exp_avg, first.state().at("a").exp_avg));
  EXPECT_TRUE(torch::equal(second.state().at("a").exp_avg_sq, first.state().at("a").exp_avg_sq));
  EXPECT_EQ(second.state().count("b"), 0u);
  EXPECT_EQ(second.state().count("c"), 0u);
}

// ---------------------------------------------------------------- gradient clipping

TEST(ClipGradNorm, ReturnsTheTotalNormAndScalesDownOnlyAboveTheLimit) {
  at::Tensor a = at::zeros({2}).set_requires_grad(true);
  at::Tensor b = at::zeros({2}).set_requires_grad(true);
  at::Tensor frozen = at::zeros({3}).set_requires_grad(true);  // no gradient: ignored
  NamedTensors params{{"a", a}, {"b", b}, {"frozen", frozen}};
  auto set = [&] {
    a.mutable_grad() = at::tensor({3.0f, 0.0f});
    b.mutable_grad() = at::tensor({0.0f, 4.0f});
  };
  set();
  EXPECT_NEAR(ClipGradNorm(params, 10.0), 5.0, 1e-6);  // below the limit: unchanged
  EXPECT_TRUE(torch::equal(a.grad(), at::tensor({3.0f, 0.0f})));
  EXPECT_NEAR(ClipGradNorm(params, 0.0), 5.0, 1e-6);  // 0: no clipping
  EXPECT_TRUE(torch::equal(b.grad(), at::tensor({0.0f, 4.0f})));

  EXPECT_NEAR(ClipGradNorm(params, 1.0), 5.0, 1e-6);  // the norm before clipping
  EXPECT_NEAR(a.grad()[0].item<double>(), 0.6, 1e-5);
  EXPECT_NEAR(b.grad()[1].item<double>(), 0.8, 1e-5);
  EXPECT_NEAR(ClipGradNorm(params, 0.0), 1.0, 1e-5);  // now at the limit
  EXPECT_FALSE(frozen.grad().defined());

  NamedTensors none{{"frozen", frozen}};
  EXPECT_EQ(ClipGradNorm(none, 1.0), 0.0);
}

// ---------------------------------------------------------------- Train()

TEST(Train, GradientAccumulationEqualsTheLargerBatch) {
  TempDir dir;
  TrainSpec accumulated = TinySpec();
  accumulated.steps = 3;
  accumulated.batch_size = 4;
  accumulated.grad_accum = 2;
  accumulated.caption = "mixed";  // the per-sample caption coin must not depend on the split
  accumulated.frame_mask_prob = 0.5;
  // Some gradients are zero but for rounding (attention's key bias: softmax ignores a shift);
  // with a tiny eps Adam would turn that noise into full-size steps. eps = 1 keeps updates
  // proportional to the gradients, so the comparison sees the accumulation itself.
  accumulated.optim.eps = 1.0;
  TrainSpec large = accumulated;
  large.batch_size = 8;
  large.grad_accum = 1;
  TinyTraining a(dir / "a", accumulated);
  TinyTraining b(dir / "b", large);
  TrainResult ra = a.Run(), rb = b.Run();
  EXPECT_NEAR(ra.final_loss, rb.final_loss, 1e-5 * rb.final_loss);
  auto pa = Params(*a.model), pb = Params(*b.model);
  TinyTraining untrained(dir / "c", large);
  auto p0 = Params(*untrained.model);
  double largest_change = 0;
  for (const auto& [name, t] : pb) {
    // fp32 rounding (two partial sums instead of one) moves the update by far less than lr.
    EXPECT_LE(MaxAbsError(pa.at(name), t), 1e-6) << name;
    largest_change = std::max(largest_change, MaxAbsError(t, p0.at(name)));
  }
  EXPECT_GT(largest_change, 1e-4);  // the models did train
  auto la = ReadLines(dir / "a" / "metrics.jsonl"), lb = ReadLines(dir / "b" / "metrics.jsonl");
  ASSERT_EQ(la.size(), 3u);
  ASSERT_EQ(lb.size(), 3u);
  for (size_t i = 0; i < la.size(); ++i) {
    EXPECT_NEAR(la[i]["loss"].get<double>(), lb[i]["loss"].get<double>(), 1e-5) << i;
    EXPECT_NEAR(la[i]["grad_norm"].get<double>(), lb[i]["grad_norm"].get<double>(), 1e-4) << i;
    EXPECT_DOUBLE_EQ(la[i]["samples_per_s"].get<double>() / la[i]["steps_per_s"].get<double>(),
                     8.0);
  }
}

TEST(Train, FrozenParametersGetNoOptimizerStateAndDoNotMove) {
  TempDir dir;
  TrainSpec spec = TinySpec();
  spec.steps = 2;
  TinyTraining t(dir.path(), spec);
  std::set<std::string> frozen;
  for (auto& item : t.model->named_parameters()) {
    if (item.key().rfind("spatial_blocks.0.", 0) == 0 || item.key().rfind("x_embedder.", 0) == 0) {
      item.value().set_requires_grad(false);
      frozen.insert(item.key());
    }
  }
  ASSERT_GT(frozen.size(), 3u);
  auto before = Params(*t.model);
  t.Run();
  SafetensorsFile opt = SafetensorsFile::Open(dir / "checkpoint" / "optimizer.safetensors");
  json steps = json::parse(opt.metadata().at("steps"));
  int64_t trainable = 0;
  for (const auto& item : t.model->named_parameters()) {
    const std::string& name = item.key();
    if (frozen.count(name)) {
      EXPECT_FALSE(opt.Has("exp_avg." + name)) << name;
      EXPECT_FALSE(opt.Has("exp_avg_sq." + name)) << name;
      EXPECT_FALSE(steps.contains(name)) << name;
      EXPECT_TRUE(torch::equal(item.value(), before.at(name))) << name;
    } else {
      ++trainable;
      EXPECT_TRUE(opt.Has("exp_avg." + name)) << name;
      EXPECT_EQ(steps.value(name, -1), 2) << name;
    }
  }
  EXPECT_EQ(static_cast<int64_t>(opt.Keys().size()), 2 * trainable);
}

TEST(Train, EmaFollowsTheWeightsWithItsDecay) {
  TempDir dir;
  TrainSpec spec = TinySpec();
  spec.steps = 3;
  spec.ema_decay = 0.75;
  TinyTraining t(dir.path(), spec);
  std::map<std::string, at::Tensor> expected = Params(*t.model);
  t.context.after_step = [&](int64_t) {
    for (const auto& item : t.model->named_parameters()) {
      expected[item.key()].mul_(spec.ema_decay).add_(item.value().detach(), 1 - spec.ema_decay);
    }
  };
  t.Run();
  SafetensorsFile ema = SafetensorsFile::Open(dir / "checkpoint" / "ema.safetensors");
  auto final_weights = Params(*t.model);
  EXPECT_EQ(ema.Keys().size(), expected.size());
  bool differs_from_weights = false;
  for (const auto& [name, value] : expected) {
    EXPECT_TRUE(torch::equal(ema.Get(name, at::kFloat), value)) << name;
    differs_from_weights |= !torch::equal(value, final_weights.at(name));
  }
  EXPECT_TRUE(differs_from_weights);

  // LoadEmaWeights puts them into a model.
  STDiT3 other = testing::TinyModel(5);
  EXPECT_TRUE(LoadEmaWeights(*other, dir / "checkpoint"));
  for (const auto& item : other->named_parameters())
    EXPECT_TRUE(torch::equal(item.value(), expected.at(item.key()))) << item.key();
  EXPECT_FALSE(LoadEmaWeights(*other, dir.path()));  // no ema.safetensors there
}

TEST(Train, MetricsLinesEveryLogIntervalAndAtTheEnd) {
  TempDir dir;
  TrainSpec spec = TinySpec();
  spec.steps = 5;
  spec.log_every = 2;
  spec.optim.warmup_steps = 3;
  TinyTraining t(dir.path(), spec);
  TrainResult r = t.Run();
  std::vector<json> lines = ReadLines(dir / "metrics.jsonl");
  ASSERT_EQ(lines.size(), 3u);
  const int64_t expected_steps[] = {2, 4, 5};
  for (size_t i = 0; i < lines.size(); ++i) {
    const json& l = lines[i];
    for (const char* key : {"step", "loss", "lr", "grad_norm", "steps_per_s", "samples_per_s"})
      EXPECT_TRUE(l.contains(key)) << key << " in " << l.dump();
    EXPECT_EQ(l["step"].get<int64_t>(), expected_steps[i]);
    EXPECT_DOUBLE_EQ(l["lr"].get<double>(), LearningRate(spec.optim, expected_steps[i] - 1, 5));
    EXPECT_GT(l["loss"].get<double>(), 0);
    EXPECT_TRUE(std::isfinite(l["loss"].get<double>()));
    EXPECT_GT(l["grad_norm"].get<double>(), 0);
    EXPECT_GT(l["steps_per_s"].get<double>(), 0);
    EXPECT_NEAR(l["samples_per_s"].get<double>(), 4 * l["steps_per_s"].get<double>(),
                1e-9 * l["samples_per_s"].get<double>());
  }
  EXPECT_EQ(r.steps, 5);
  EXPECT_EQ(r.resumed_from, 0);
  EXPECT_DOUBLE_EQ(r.first_loss, lines[0]["loss"].get<double>());
  EXPECT_DOUBLE_EQ(r.final_loss, lines[2]["loss"].get<double>());
  json state = json::parse(ReadFile(dir / "checkpoint" / "trainer_state.json"));
  EXPECT_EQ(state["step"], 5);
  EXPECT_TRUE(state["loader"].contains("epoch"));
  EXPECT_TRUE(fs::exists(dir / "checkpoint" / "rng.safetensors"));
  EXPECT_TRUE(fs::exists(dir / "checkpoint" / "config.json"));
}

// An interrupted Train() resumed from its last checkpoint ends with the same weights, EMA and
// optimizer state as one never interrupted, and its metrics have each step once.
TEST(Train, ResumesExactlyFromItsLastCheckpoint) {
  TempDir dir;
  TrainSpec spec = TinySpec();
  spec.steps = 6;
  spec.checkpoint_every = 2;
  spec.caption = "mixed";
  spec.caption_dropout = 0.3;
  spec.frame_mask_prob = 0.5;
  TinyTraining whole(dir / "whole", spec);
  whole.Run();

  {
    TinyTraining first(dir / "cut", spec);
    first.context.after_step = [](int64_t step) {
      if (step == 5) throw std::runtime_error("interrupted");
    };
    EXPECT_THROW(first.Run(), std::runtime_error);
  }
  json state = json::parse(ReadFile(dir / "cut" / "checkpoint" / "trainer_state.json"));
  EXPECT_EQ(state["step"], 4);
  EXPECT_EQ(ReadLines(dir / "cut" / "metrics.jsonl").size(), 5u);  // step 5 was logged

  const json first_time = json::parse(ReadFile(dir / "cut" / "checkpoint" / kTrainTimeFile));
  const double before_resume = first_time.at("train_seconds").get<double>();
  EXPECT_GT(before_resume, 0);

  TinyTraining second(dir / "cut", spec);
  second.context.resume = true;
  TrainResult r = second.Run();
  EXPECT_EQ(r.resumed_from, 4);
  EXPECT_EQ(r.steps, 6);
  // Its time is the whole training's: the interrupted run's seconds, and its own after them.
  EXPECT_EQ(r.seconds_before_resume, before_resume);
  EXPECT_GT(r.seconds, before_resume);
  const double at_last_checkpoint =
      json::parse(ReadFile(dir / "cut" / "checkpoint" / kTrainTimeFile))["train_seconds"];
  EXPECT_GT(at_last_checkpoint, before_resume);
  EXPECT_LE(at_last_checkpoint, r.seconds);
  for (const char* file : {"model.safetensors", "ema.safetensors", "optimizer.safetensors",
                           "rng.safetensors", "trainer_state.json"}) {
    EXPECT_EQ(ReadFile(dir / "cut" / "checkpoint" / file),
              ReadFile(dir / "whole" / "checkpoint" / file))
        << file;
  }
  std::vector<json> cut = ReadLines(dir / "cut" / "metrics.jsonl");
  std::vector<json> reference = ReadLines(dir / "whole" / "metrics.jsonl");
  ASSERT_EQ(cut.size(), reference.size());
  for (size_t i = 0; i < cut.size(); ++i) {
    EXPECT_EQ(cut[i]["step"], reference[i]["step"]);
    EXPECT_EQ(cut[i]["loss"], reference[i]["loss"]) << i;
    EXPECT_EQ(cut[i]["grad_norm"], reference[i]["grad_norm"]) << i;
  }

  // Without `resume` the same folder starts over (and still ends the same).
  TinyTraining again(dir / "cut", spec);
  EXPECT_EQ(again.Run().resumed_from, 0);
  EXPECT_EQ(ReadFile(dir / "cut" / "checkpoint" / "model.safetensors"),
            ReadFile(dir / "whole" / "checkpoint" / "model.safetensors"));
}

// ---------------------------------------------------------------- training hooks

// What a growth operator's hook does (msg's, say): before step k every mask of the model is
// k / ramp; at 1 it is done. Counts its calls, so a test sees when the trainer called it.
class RampHook : public TrainingHook {
 public:
  explicit RampHook(const json& state, int* calls)
      : ramp_(state.at("ramp")), done_(state.at("done")), calls_(calls) {}
  void BeforeStep(STDiT3Impl& model) override {
    const double c = std::min(1.0, static_cast<double>(done_) / static_cast<double>(ramp_));
    std::vector<GrowthMask> masks = model.config().growth_masks;
    for (GrowthMask& m : masks) m.value = c;
    model.SetGrowthMasks(masks);
    finished_ = c >= 1;
    ++done_;
    ++*calls_;
  }
  bool Finished() const override { return finished_; }
  void Remove(STDiT3Impl& model) override { model.SetGrowthMasks({}); }
  json State() const override { return {{"ramp", ramp_}, {"done", done_}}; }

 private:
  int64_t ramp_, done_;
  int* calls_;
  bool finished_ = false;
};

// A model as msg leaves it (a gated block, masked MLP units), its hook record, and a factory.
void WithRamp(TinyTraining& t, int64_t ramp, int* calls) {
  t.model->SetGrowthMasks({{"spatial_blocks.0", -1, 0}, {"temporal_blocks.0.mlp.fc2", 64, 0}});
  t.context.training_hook = {{"op", "test_ramp"},
                             {"options", json::object()},
                             {"options_toml", ""},
                             {"state", {{"ramp", ramp}, {"done", 0}}}};
  t.context.make_training_hook = [calls](const json& record) {
    EXPECT_EQ(record["op"], "test_ramp");
    return std::make_unique<RampHook>(record["state"], calls);
  };
}

json MasksOf(const fs::path& checkpoint) {
  return json::parse(ReadFile(checkpoint / "config.json")).value("modelgrow_growth_masks", json());
}

TEST(Train, AHookRunsBeforeEveryStepAndIsSavedWithEachCheckpointUntilItEnds) {
  TempDir dir;
  TrainSpec spec = TinySpec();
  spec.steps = 6;
  spec.checkpoint_every = 2;
  TinyTraining t(dir.path(), spec);
  int calls = 0;
  WithRamp(t, 4, &calls);
  std::vector<json> hooks, masks;
  t.context.after_step = [&](int64_t step) {
    const fs::path ckpt = dir / "checkpoint";
    if (step % 2 != 0) return;
    hooks.push_back(fs::exists(ckpt / kTrainingHookFile)
                        ? json::parse(ReadFile(ckpt / kTrainingHookFile))["state"]
                        : json());
    masks.push_back(MasksOf(ckpt));
  };
  t.Run();
  // Steps 1..5 ran with c = 0, 1/4, 2/4, 3/4, 1; at 1 the hook went, so step 6 did not call it.
  EXPECT_EQ(calls, 5);
  EXPECT_EQ(hooks[0], (json{{"ramp", 4}, {"done", 2}}));
  EXPECT_EQ(hooks[1], (json{{"ramp", 4}, {"done", 4}}));
  EXPECT_TRUE(hooks[2].is_null());
  EXPECT_EQ(masks[0][0]["value"], 0.25);
  EXPECT_EQ(masks[1][1]["value"], 0.75);
  EXPECT_EQ(masks[1][1]["first_input"], 64);
  EXPECT_TRUE(masks[2].is_null());
  EXPECT_TRUE(t.model->config().growth_masks.empty());
}

TEST(Train, AHookResumesExactlyWhereItWas) {
  TempDir dir;
  TrainSpec spec = TinySpec();
  spec.steps = 8;
  spec.checkpoint_every = 2;
  int calls = 0;
  TinyTraining whole(dir / "whole", spec);
  WithRamp(whole, 5, &calls);
  whole.Run();
  {
    TinyTraining first(dir / "cut", spec);
    WithRamp(first, 5, &calls);
    first.context.after_step = [](int64_t step) {
      if (step == 3) throw std::runtime_error("interrupted");
    };
    EXPECT_THROW(first.Run(), std::runtime_error);
  }
  // Resumed from step 2 (c was 1/5 there) by a model that starts without masks, as a process
  // that rebuilt the stage's model would not have them at the right values.
  TinyTraining second(dir / "cut", spec);
  WithRamp(second, 5, &calls);
  second.model->SetGrowthMasks({{"spatial_blocks.0", -1, 1}, {"temporal_blocks.0.mlp.fc2", 64, 1}});
  second.context.resume = true;
  EXPECT_EQ(second.Run().resumed_from, 2);
  for (const char* file : {"model.safetensors", "ema.safetensors", "optimizer.safetensors",
                           "config.json", "trainer_state.json"}) {
    EXPECT_EQ(ReadFile(dir / "cut" / "checkpoint" / file),
              ReadFile(dir / "whole" / "checkpoint" / file))
        << file;
  }
  EXPECT_FALSE(fs::exists(dir / "cut" / "checkpoint" / kTrainingHookFile));
}

// Gradual unfreezing as a hook: the spatial blocks are frozen for the first `frozen_steps` steps,
// then train. What the optimizer covers is fixed when the stage starts, so a hook may pause
// parameters that were trainable then; a paused parameter gets no gradient, and AdamW leaves it
// (and its moments) untouched.
class UnfreezeHook : public TrainingHook {
 public:
  explicit UnfreezeHook(const json& state)
      : frozen_steps_(state.at("frozen_steps")), done_(state.at("done")) {}
  void BeforeStep(STDiT3Impl& model) override {
    SetSpatial(model, done_ >= frozen_steps_);
    ++done_;
  }
  bool Finished() const override { return done_ > frozen_steps_; }
  void Remove(STDiT3Impl& model) override { SetSpatial(model, true); }
  json State() const override { return {{"frozen_steps", frozen_steps_}, {"done", done_}}; }

 private:
  static void SetSpatial(STDiT3Impl& model, bool trainable) {
    for (auto& item : model.named_parameters()) {
      if (item.key().starts_with("spatial_blocks.")) item.value().set_requires_grad(trainable);
    }
  }
  int64_t frozen_steps_, done_;
};

void WithUnfreezing(TinyTraining& t, int64_t frozen_steps) {
  t.context.training_hook = {{"op", "test_unfreeze"},
                             {"options", json::object()},
                             {"options_toml", ""},
                             {"state", {{"frozen_steps", frozen_steps}, {"done", 0}}}};
  t.context.make_training_hook = [](const json& record) {
    return std::make_unique<UnfreezeHook>(record["state"]);
  };
}

TEST(Train, AHookCanFreezeAndUnfreezeParametersAndResumesExactly) {
  TempDir dir;
  TrainSpec spec = TinySpec();
  spec.steps = 6;
  spec.checkpoint_every = 2;
  TinyTraining whole(dir / "whole", spec);
  WithUnfreezing(whole, 3);
  std::vector<std::map<std::string, at::Tensor>> after;  // weights after each step
  after.push_back(Params(*whole.model));
  whole.context.after_step = [&](int64_t) { after.push_back(Params(*whole.model)); };
  whole.Run();
  // Frozen for steps 1-3: not moved, by the update or by weight decay, while the others train;
  // from step 4 on they train too.
  int spatial = 0, others = 0, others_moved = 0, spatial_moved_later = 0;
  for (const auto& [name, w] : after[0]) {
    const bool moved = !torch::equal(after[3].at(name), w);
    if (name.starts_with("spatial_blocks.")) {
      ++spatial;
      EXPECT_FALSE(moved) << name;
      if (!torch::equal(after[6].at(name), after[3].at(name))) ++spatial_moved_later;
    } else {
      ++others;
      if (moved) ++others_moved;
    }
  }
  EXPECT_GT(2 * others_moved, others);
  EXPECT_GT(2 * spatial_moved_later, spatial);
  // Checkpoints say what the optimizer covers (everything): a paused parameter is not "frozen".
  EXPECT_FALSE(
      json::parse(ReadFile(dir / "whole" / "checkpoint" / "config.json"))["modelgrow"].contains(
          "frozen"));

  {
    TinyTraining first(dir / "cut", spec);
    WithUnfreezing(first, 3);
    first.context.after_step = [&](int64_t step) {
      if (step == 2) {
        EXPECT_FALSE(
            json::parse(ReadFile(dir / "cut" / "checkpoint" / "config.json"))["modelgrow"].contains(
                "frozen"));
        throw std::runtime_error("interrupted");
      }
    };
    EXPECT_THROW(first.Run(), std::runtime_error);
  }
  TinyTraining second(dir / "cut", spec);
  WithUnfreezing(second, 3);
  second.context.resume = true;
  EXPECT_EQ(second.Run().resumed_from, 2);
  for (const char* file :
       {"model.safetensors", "ema.safetensors", "optimizer.safetensors", "trainer_state.json"}) {
    EXPECT_EQ(ReadFile(dir / "cut" / "checkpoint" / file),
              ReadFile(dir / "whole" / "checkpoint" / file))
        << file;
  }
}

TEST(Train, AHookThisHostCannotBuildIsNamed) {
  TempDir dir;
  TinyTraining t(dir.path(), TinySpec());
  int calls = 0;
  WithRamp(t, 2, &calls);
  t.context.make_training_hook = nullptr;
  try {
    t.Run();
    ADD_FAILURE() << "trained without the hook";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("training hook 'test_ramp'"), std::string::npos)
        << e.what();
  }
}

// A checkpoint's training_hook.json from elsewhere: anything that is not a record is refused,
// naming the file, before a resumed stage trains a step.
TEST(Train, ADamagedHookRecordIsNamed) {
  TempDir dir;
  TrainSpec spec = TinySpec();
  spec.steps = 4;
  spec.checkpoint_every = 2;
  int calls = 0;
  {
    TinyTraining first(dir.path(), spec);
    WithRamp(first, 8, &calls);
    first.context.after_step = [](int64_t step) {
      if (step == 2) throw std::runtime_error("interrupted");
    };
    EXPECT_THROW(first.Run(), std::runtime_error);
  }
  const fs::path record = dir / "checkpoint" / kTrainingHookFile;
  ASSERT_TRUE(fs::exists(record));
  for (const std::string& bytes :
       {std::string("{\"op\": \"test_ramp\""), std::string("[1, 2]"),
        std::string("{\"op\": 3, \"options_toml\": \"\", \"state\": {}}"),
        std::string("{\"op\": \"test_ramp\", \"state\": {}}")}) {
    SCOPED_TRACE(bytes);
    WriteFileAtomic(record, bytes);
    TinyTraining again(dir.path(), spec);
    WithRamp(again, 8, &calls);
    again.context.resume = true;
    try {
      again.Run();
      ADD_FAILURE() << "resumed from a damaged hook record";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(record.string()), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("not a training-hook record"), std::string::npos)
          << e.what();
    }
  }
}

// ---------------------------------------------------------------- condition dropout

// HashedWords with every vector negated: a second encoder that says something else.
class NegatedWords : public HashedWords {
 public:
  TextEncoding Encode(const std::vector<std::string>& prompts) override {
    TextEncoding e = HashedWords::Encode(prompts);
    e.embedding = -e.embedding;
    return e;
  }
  std::string CacheKey() const override { return "negated-" + HashedWords::CacheKey(); }
};

// The tiny model with a second text condition, "other", read by `encoder`.
struct TwoConditionTraining : TinyTraining {
  std::unique_ptr<TextEncoderCache> other;
  TwoConditionTraining(const fs::path& dir, const TrainSpec& spec,
                       std::shared_ptr<TextEncoder> encoder)
      : TinyTraining(dir, spec) {
    torch::manual_seed(1);
    model->AddTextCondition({"other", 16, 6});
    {
      // Not zero, so that what the second condition reads reaches the loss from the first step.
      torch::NoGradGuard no_grad;
      for (auto& item : model->named_parameters()) {
        if (item.key().find("cross_attn_1.proj") != std::string::npos) item.value().normal_(0, 0.1);
      }
    }
    other = std::make_unique<TextEncoderCache>(std::move(encoder));
    context.text = {text.get(), other.get()};
  }
};

TEST(Train, ConditionDropoutDropsOneConditionAloneAndLeavesTheOtherDrawsAsTheyWere) {
  TempDir dir;
  TrainSpec spec = TinySpec();
  spec.steps = 3;
  spec.caption_dropout = 0.2;
  auto run = [&](const std::string& name, TrainSpec s, std::shared_ptr<TextEncoder> encoder) {
    TwoConditionTraining t(dir / name, s, std::move(encoder));
    t.Run();
    return Params(*t.model);
  };
  auto same = [](const auto& a, const auto& b) {
    for (const auto& [name, t] : a)
      if (!torch::equal(t, b.at(name))) return false;
    return true;
  };
  const auto plain = run("plain", spec, std::make_shared<HashedWords>());
  // What the second encoder says reaches the weights...
  EXPECT_FALSE(same(plain, run("negated", spec, std::make_shared<NegatedWords>())));
  // ...unless its condition is always dropped: then only its null caption is read.
  TrainSpec always = spec;
  always.condition_dropout = {{"other", 1.0}};
  EXPECT_TRUE(same(run("always-a", always, std::make_shared<HashedWords>()),
                   run("always-b", always, std::make_shared<NegatedWords>())));
  // A probability of zero changes nothing: the per-condition coins are drawn after every other
  // draw of a sample, so timesteps, noise and the joint dropout are what they were without them.
  TrainSpec never = spec;
  never.condition_dropout = {{"other", 0.0}};
  EXPECT_TRUE(same(plain, run("never", never, std::make_shared<HashedWords>())));
  // Half the time: some samples read the second encoder, so it matters again.
  TrainSpec half = spec;
  half.condition_dropout = {{"other", 0.5}};
  EXPECT_FALSE(same(run("half-a", half, std::make_shared<HashedWords>()),
                    run("half-b", half, std::make_shared<NegatedWords>())));
  // Dropping the first condition alone leaves the second one read.
  TrainSpec first = spec;
  first.condition_dropout = {{"words", 1.0}};
  EXPECT_FALSE(same(run("first-a", first, std::make_shared<HashedWords>()),
                    run("first-b", first, std::make_shared<NegatedWords>())));
}

TEST(Train, ConditionDropoutNamesConditionsOfTheModel) {
  TempDir dir;
  TrainSpec spec = TinySpec();
  spec.steps = 1;
  spec.condition_dropout = {{"otehr", 0.5}};
  TwoConditionTraining t(dir.path(), spec, std::make_shared<HashedWords>());
  t.context.label = "stage continue";
  EXPECT_THROW_WITH(t.Run(), InputError, "stage continue: condition_dropout.otehr",
                    "the model has no text condition 'otehr' (its conditions: words, other)",
                    "did you mean 'other'?");
  EXPECT_FALSE(fs::exists(dir / "checkpoint"));
}

TEST(TrainSpec, ConditionDropoutIsATableOfProbabilitiesByConditionName) {
  Options ok =
      Options::ParseString("data = 'd'\n[condition_dropout]\nt5 = 0.5\nllm = 0\n", "stage.toml");
  TrainSpec spec = TrainSpec::FromOptions(ok, false);
  ok.RejectUnknownKeys();
  EXPECT_FALSE(ok.HasProblems());
  EXPECT_EQ(spec.condition_dropout, (std::map<std::string, double>{{"t5", 0.5}, {"llm", 0.0}}));
  EXPECT_TRUE(TrainSpec::FromOptions(Options::ParseString("data = 'd'\n", "s"), false)
                  .condition_dropout.empty());
  for (const auto& [text, wanted] : std::vector<std::pair<std::string, std::string>>{
           {"condition_dropout = 0.5", "condition_dropout: expected a table, got"},
           {"condition_dropout = {t5 = 1.5}", "condition_dropout.t5"},
           {"condition_dropout = {t5 = 'half'}", "condition_dropout.t5"}}) {
    Options bad = Options::ParseString("data = 'd'\n" + text + "\n", "stage.toml");
    TrainSpec::FromOptions(bad, false);
    ASSERT_TRUE(bad.HasProblems()) << text;
    std::string all;
    for (const Problem& p : bad.TakeProblems()) all += p.ToString() + "\n";
    EXPECT_NE(all.find(wanted), std::string::npos) << text << ": " << all;
  }
}

TEST(Train, ZeroStepsStillLeavesACheckpoint) {
  TempDir dir;
  TrainSpec spec = TinySpec();
  spec.steps = 0;
  TinyTraining t(dir.path(), spec);
  auto before = Params(*t.model);
  EXPECT_EQ(t.Run().steps, 0);
  EXPECT_TRUE(fs::exists(dir / "checkpoint" / "trainer_state.json"));
  STDiT3 loaded = LoadModel(dir / "checkpoint").model;
  for (const auto& item : loaded->named_parameters())
    EXPECT_TRUE(torch::equal(item.value(), before.at(item.key()))) << item.key();
}

TEST(Train, BadInputIsNamed) {
  TempDir dir;
  TrainSpec spec = TinySpec();
  spec.steps = 1;
  {
    TinyTraining t(dir / "frozen", spec);
    for (auto& p : t.model->parameters()) p.set_requires_grad(false);
    EXPECT_THROW_WITH(t.Run(), InputError, "nothing to train: every parameter is frozen");
  }
  {
    TinyTraining t(dir / "encoder", spec);
    t.text = std::make_unique<TextEncoderCache>(std::make_shared<HashedWords>(8, 6));
    t.context.text = {t.text.get()};
    EXPECT_THROW_WITH(t.Run(), InputError, "text condition 0 ('words')",
                      "expects 16-wide embeddings of 6 tokens but the encoder gives 8 x 6");
    t.context.text = {};
    EXPECT_THROW_WITH(t.Run(), InputError, "the model has 1 text condition(s) but 0 encoder(s)");
  }
  {
    spec.caption = "detailed";
    TinyTraining t(dir / "caption", spec, 0, TinyVideos(32, false));
    EXPECT_THROW_WITH(t.Run(), InputError, "stage data 'tiny' sample", "has no 'detailed' caption",
                      "it has: short");
    spec.caption = "short";
  }
  {
    TinyTraining t(dir / "nan", spec);
    {
      torch::NoGradGuard no_grad;
      t.model->named_parameters()["final_layer.linear.weight"].fill_(std::nan(""));
    }
    // Caught after backward, on the loss every rank agrees on, before the optimizer step.
    EXPECT_THROW_WITH(t.Run(), RunError, "the loss is nan at step 1");
  }
}

}  // namespace
}  // namespace modelgrow
