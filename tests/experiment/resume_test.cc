// `modelgrow run --resume` after SIGKILL: an experiment killed at chosen moments in every stage —
// mid-training, half way through writing a checkpoint, while growing, while evaluating — and
// resumed each time, ends with the same bytes as a run never interrupted: weights, EMA, optimizer,
// RNG and loader state, the grown model, the evaluation's numbers and GIFs.
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "experiment/engine_util.h"
#include "experiment/tiny_manifest.h"
#include "test_paths.h"
#include "test_util.h"

namespace modelgrow {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using testing::Child;
using testing::LastLoggedStep;
using testing::ReadJson;
using testing::StageDir;
using testing::TempDir;

// Tiny: 0.03M-parameter STDiT3, 16x16 synthetic videos of 4 frames, hashed-word text; training
// stages checkpoint every 4 steps, so a kill can land between checkpoints.
const std::string kManifest =
    testing::TinyManifest("resume")
        .SyntheticData(64)
        .Table("stages.pretrain",
               "kind = \"pretrain\"\ndata = \"train\"\nsteps = 24\nbatch_size = 4\n"
               "checkpoint_every = 4\nlog_every = 2\nworkers = 1\ncaption_dropout = 0.2\n")
        .Table("stages.pretrain.optim", "lr = 1e-3\nwarmup_steps = 4\n")
        .Table("stages.continue",
               "kind = \"continue\"\nfrom = \"grow\"\ndata = \"train\"\ncaption = \"mixed\"\n"
               "steps = 16\nbatch_size = 4\ncheckpoint_every = 4\nlog_every = 2\nworkers = 1\n"
               "optimizer_state = \"carry\"\n")
        .Evaluation(/*grid_prompts=*/2)
        .Text();

class ResumeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    manifest_ = testing::WriteText(dir_ / "m.toml", kManifest);
    log_ = dir_ / "log.txt";
  }
  std::vector<std::string> Args(const fs::path& out, bool resume) {
    std::vector<std::string> args{
        "--plugin-path", EXPERIMENT_TEST_PLUGINS, "run", manifest_.string(), "--out", out.string(),
        "--no-report"};
    if (resume) args.push_back("--resume");
    return args;
  }
  // One launch that SIGKILLs itself before the `count`-th rename onto a path matching `glob`.
  void KillOnRename(const fs::path& out, const std::string& glob, int count = 1) {
    SCOPED_TRACE(glob);
    Child child(Args(out, true), log_,
                {{"LD_PRELOAD", KILL_SHIM},
                 {"MODELGROW_TEST_KILL_ON_RENAME", glob},
                 {"MODELGROW_TEST_KILL_ON_RENAME_COUNT", std::to_string(count)}});
    ASSERT_TRUE(child.KilledBySigkill()) << "never reached " << glob << "\n" << Log();
  }
  // One launch killed from outside once `ready` holds.
  void KillWhen(const fs::path& out, bool resume, const std::function<bool()>& ready) {
    Child child(Args(out, resume), log_);
    ASSERT_TRUE(child.WaitFor(ready)) << "finished before the kill\n" << Log();
    child.Kill();
    ASSERT_TRUE(child.KilledBySigkill());
  }
  std::string Log() { return testing::ReadIfExists(log_); }

  TempDir dir_;
  fs::path manifest_, log_;
};

void ExpectSameFile(const fs::path& a, const fs::path& b) {
  ASSERT_TRUE(fs::exists(a)) << a;
  ASSERT_TRUE(fs::exists(b)) << b;
  EXPECT_TRUE(ReadFile(a) == ReadFile(b)) << a << " differs from " << b;
}

TEST_F(ResumeTest, KilledAnywhereAndResumedEndsBitIdentical) {
  const fs::path reference = dir_ / "reference", out = dir_ / "killed";
  ASSERT_EQ(testing::RunModelgrow(Args(reference, false), log_), 0) << Log();

  // 1. Pre-training, from outside, between two checkpoints (step 4 saved, step 8 not yet).
  KillWhen(out, false, [&] {
    std::vector<fs::path> dirs = testing::StageDirs(out, "pretrain");
    return !dirs.empty() && LastLoggedStep(dirs[0] / "metrics.jsonl") >= 6;
  });
  const fs::path pretrain = StageDir(out, "pretrain");
  int64_t saved = ReadJson(pretrain / "checkpoint" / "trainer_state.json")["step"];
  EXPECT_GE(saved, 4);
  EXPECT_LT(saved, 24);
  EXPECT_FALSE(fs::exists(pretrain / "stage.json"));

  // 2. Half way through writing the next checkpoint: model and optimizer are in the staging
  //    folder, the EMA is not; the checkpoint in place is still the previous one.
  KillOnRename(out, "*/pretrain-*/checkpoint.staging/ema.safetensors");
  EXPECT_TRUE(fs::exists(pretrain / "checkpoint.staging" / "model.safetensors"));
  EXPECT_FALSE(fs::exists(pretrain / "checkpoint.staging" / "ema.safetensors"));
  EXPECT_EQ(ReadJson(pretrain / "checkpoint" / "trainer_state.json")["step"], saved);

  // 3. With the next checkpoint complete in its staging folder, right before the swap.
  KillOnRename(out, "*/pretrain-*/checkpoint");
  EXPECT_TRUE(fs::exists(pretrain / "checkpoint.staging" / "trainer_state.json"));
  EXPECT_EQ(ReadJson(pretrain / "checkpoint" / "trainer_state.json")["step"], saved);

  // 4. Growing: the grown checkpoint (weights, optimizer state and growth report, one commit)
  //    is in place but the stage is not recorded as done.
  KillOnRename(out, "*/grow-*/stage.json");
  const fs::path grow = StageDir(out, "grow");
  EXPECT_TRUE(fs::exists(pretrain / "stage.json"));
  EXPECT_TRUE(fs::exists(grow / "checkpoint" / "model.safetensors"));
  EXPECT_TRUE(fs::exists(grow / "checkpoint" / "optimizer.safetensors"));
  EXPECT_TRUE(fs::exists(grow / "checkpoint" / "growth_report.json"));
  EXPECT_FALSE(fs::exists(grow / "stage.json"));

  // 5. Continual training, from outside, mid-way.
  KillWhen(out, true, [&] {
    std::vector<fs::path> dirs = testing::StageDirs(out, "continue");
    return !dirs.empty() && LastLoggedStep(dirs[0] / "metrics.jsonl") >= 6;
  });
  const fs::path cont = StageDir(out, "continue");
  EXPECT_FALSE(fs::exists(cont / "stage.json"));

  // 6.-8. Evaluating: between the classifier's weights and its record; between two GIFs; with
  //        the results written but the stage not recorded.
  KillOnRename(out, "*/classifier-*/classifier.json");
  EXPECT_TRUE(fs::exists(cont / "stage.json"));
  KillOnRename(out, "*/samples/*.gif", 2);
  KillOnRename(out, "*/evaluate-*/results.json");
  const fs::path evaluate = StageDir(out, "evaluate");
  EXPECT_FALSE(fs::exists(evaluate / "stage.json"));

  // 9. The last resume runs to the end.
  ASSERT_EQ(testing::RunModelgrow(Args(out, true), log_), 0) << Log();

  // Pre-training resumed from a checkpoint rather than starting over.
  EXPECT_GT(ReadJson(pretrain / "stage.json")["resumed_from"].get<int64_t>(), 0);
  EXPECT_GT(ReadJson(cont / "stage.json")["resumed_from"].get<int64_t>(), 0);
  // And their time is the whole training's, the killed runs' included. A stage's wall time
  // holds its training's, so a stage that forgot the killed runs' time would read less than
  // train_seconds, however long its own part ran.
  for (const fs::path& stage : {pretrain, cont}) {
    json info = ReadJson(stage / "stage.json");
    EXPECT_GT(info["seconds_before_resume"].get<double>(), 0) << stage;
    EXPECT_GE(info["train_seconds"].get<double>(), info["seconds_before_resume"].get<double>())
        << stage;
    EXPECT_GE(info["seconds"].get<double>(), info["train_seconds"].get<double>()) << stage;
  }

  // Everything a later stage or a reader uses is byte-identical to the uninterrupted run.
  for (const char* stage : {"pretrain", "continue"}) {
    fs::path a = StageDir(out, stage) / "checkpoint", b = StageDir(reference, stage) / "checkpoint";
    for (const char* file : {"model.safetensors", "ema.safetensors", "optimizer.safetensors",
                             "rng.safetensors", "trainer_state.json"}) {
      SCOPED_TRACE(std::string(stage) + "/" + file);
      ExpectSameFile(a / file, b / file);
    }
    // Each logged step once, with the same loss.
    std::ifstream killed_lines(StageDir(out, stage) / "metrics.jsonl");
    std::ifstream reference_lines(StageDir(reference, stage) / "metrics.jsonl");
    std::string x, y;
    int lines = 0;
    while (std::getline(reference_lines, y)) {
      ASSERT_TRUE(std::getline(killed_lines, x)) << stage << " metrics end early";
      json jx = json::parse(x), jy = json::parse(y);
      EXPECT_EQ(jx["step"], jy["step"]);
      EXPECT_EQ(jx["loss"], jy["loss"]) << stage << " step " << jy["step"];
      EXPECT_EQ(jx["grad_norm"], jy["grad_norm"]) << stage << " step " << jy["step"];
      ++lines;
    }
    EXPECT_FALSE(std::getline(killed_lines, x)) << stage << " has extra metrics: " << x;
    EXPECT_EQ(lines, stage == std::string("pretrain") ? 12 : 8);
  }
  for (const char* file : {"model.safetensors", "optimizer.safetensors"})
    ExpectSameFile(grow / "checkpoint" / file, StageDir(reference, "grow") / "checkpoint" / file);
  // The evaluation: every number (metrics, the base model's, growth preservation) is the same;
  // only wall-clock timings differ.
  json results = ReadJson(out / "runs" / "seed=0" / "results.json");
  json expected = ReadJson(reference / "runs" / "seed=0" / "results.json");
  const json& metrics = results["evaluations"]["evaluate"]["metrics"];
  EXPECT_GT(metrics.size(), 10u) << results.dump(2);
  EXPECT_EQ(metrics, expected["evaluations"]["evaluate"]["metrics"]);
  EXPECT_EQ(testing::WithoutTimings(results), testing::WithoutTimings(expected));
  int gifs = 0;
  for (const auto& entry : fs::directory_iterator(StageDir(reference, "evaluate") / "samples")) {
    if (entry.path().extension() != ".gif") continue;
    ExpectSameFile(evaluate / "samples" / entry.path().filename(), entry.path());
    ++gifs;
  }
  EXPECT_EQ(gifs, 6);  // 2 prompts x 2 kinds generated, 2 real
}

// Without --resume, a killed training stage is not silently restarted: the run stops and says
// how to continue or start over; started over, the stage still ends the same.
TEST_F(ResumeTest, RerunWithoutResumeRefusesAPartlyTrainedStage) {
  std::string text = kManifest;
  testing::Replace(text, "steps = 24", "steps = 8");
  size_t stages_end = text.find("[stages.grow]");
  text = text.substr(0, stages_end);  // pretrain only
  manifest_ = testing::WriteText(dir_ / "short.toml", text);
  const fs::path reference = dir_ / "reference", out = dir_ / "killed";
  ASSERT_EQ(testing::RunModelgrow(Args(reference, false), log_), 0) << Log();
  KillOnRename(out, "*/pretrain-*/checkpoint", 2);  // after the first checkpoint, at the second
  EXPECT_EQ(testing::RunModelgrow(Args(out, false), log_), 2) << Log();
  EXPECT_NE(Log().find("was interrupted at step 4"), std::string::npos) << Log();
  EXPECT_NE(Log().find("continue it with --resume, or delete that folder"), std::string::npos);
  const fs::path pretrain = StageDir(out, "pretrain");
  EXPECT_TRUE(fs::exists(pretrain / "checkpoint" / "model.safetensors"));  // nothing was lost
  fs::remove_all(pretrain);
  ASSERT_EQ(testing::RunModelgrow(Args(out, false), log_), 0) << Log();
  EXPECT_EQ(ReadJson(StageDir(out, "pretrain") / "stage.json")["resumed_from"], 0);
  EXPECT_EQ(LastLoggedStep(pretrain / "metrics.jsonl"), 8);
  ExpectSameFile(pretrain / "checkpoint" / "model.safetensors",
                 StageDir(reference, "pretrain") / "checkpoint" / "model.safetensors");
}

// Masked structural growth acts during the continue stage (its training hook ramps the new
// blocks in over 6 steps): killed mid-ramp and resumed, the stage ends as if never interrupted,
// and once the ramp is over the checkpoint is a plain model again.
TEST_F(ResumeTest, AMaskRampKilledMidWayResumesBitIdentical) {
  manifest_ = testing::WriteText(
      dir_ / "msg.toml",
      testing::TinyManifest("msg")
          .SyntheticData(32)
          .Table("stages.grow",
                 "kind = \"grow\"\nfrom = \"pretrain\"\n"
                 "ops = [{plugin = \"msg\", new_blocks = 1, mlp_hidden = 160, ramp_steps = 6}]\n")
          .Table("stages.continue",
                 "kind = \"continue\"\nfrom = \"grow\"\ndata = \"train\"\nsteps = 10\n"
                 "batch_size = 4\ncheckpoint_every = 2\nlog_every = 1\nworkers = 1\n"
                 "optimizer_state = \"carry\"\n")
          .Text());
  const fs::path reference = dir_ / "reference", out = dir_ / "killed";
  ASSERT_EQ(testing::RunModelgrow(Args(reference, false), log_), 0) << Log();
  const fs::path grown = StageDir(reference, "grow") / "checkpoint";
  json hook = ReadJson(grown / "training_hook.json");
  EXPECT_EQ(hook["op"], "msg");
  EXPECT_EQ(hook["state"], (json{{"ramp_steps", 6}, {"steps_done", 0}}));
  EXPECT_EQ(ReadJson(grown / "config.json")["modelgrow_growth_masks"].size(), 2u + 4u);
  const fs::path done = StageDir(reference, "continue") / "checkpoint";
  EXPECT_FALSE(fs::exists(done / "training_hook.json"));
  EXPECT_FALSE(ReadJson(done / "config.json").contains("modelgrow_growth_masks"));

  // Killed as the step-4 checkpoint goes into place: resumed from step 2, mid-ramp.
  KillOnRename(out, "*/continue-*/checkpoint", 2);
  const fs::path cont = StageDir(out, "continue") / "checkpoint";
  EXPECT_EQ(ReadJson(cont / "training_hook.json")["state"]["steps_done"], 2);
  EXPECT_DOUBLE_EQ(
      ReadJson(cont / "config.json")["modelgrow_growth_masks"][0]["value"].get<double>(), 1.0 / 6);
  ASSERT_EQ(testing::RunModelgrow(Args(out, true), log_), 0) << Log();
  EXPECT_EQ(ReadJson(StageDir(out, "continue") / "stage.json")["resumed_from"], 2);
  for (const char* file :
       {"model.safetensors", "ema.safetensors", "optimizer.safetensors", "trainer_state.json"}) {
    SCOPED_TRACE(file);
    ExpectSameFile(cont / file, done / file);
  }
  // The config the same too, but for the record of when and how it was written.
  json killed_config = ReadJson(cont / "config.json"),
       reference_config = ReadJson(done / "config.json");
  killed_config.erase("modelgrow");
  reference_config.erase("modelgrow");
  EXPECT_EQ(killed_config, reference_config);
}

}  // namespace
}  // namespace modelgrow
