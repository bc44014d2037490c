// Stopping a run safely: Ctrl-C (SIGINT) or SIGTERM finishes the current training step, writes a
// checkpoint, says where it stopped and how to continue, and exits 130 / 143; a second Ctrl-C
// quits at once with the last checkpoint intact; a part-trained stage is never restarted or
// resumed silently. Every path ends, after --resume, with the same model as an uninterrupted run.
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "experiment/engine_util.h"
#include "experiment/tiny_manifest.h"
#include "test_paths.h"
#include "test_util.h"

namespace modelgrow {
namespace {

namespace fs = std::filesystem;
using testing::Child;
using testing::LastLoggedStep;
using testing::ReadIfExists;
using testing::ReadJson;
using testing::StageDir;
using testing::StageDirs;
using testing::TempDir;

// Pre-training long enough to be interrupted mid-way; a checkpoint every 5 steps.
const std::string kManifest =
    testing::TinyManifest("stop")
        .Table("stages.pretrain",
               "kind = \"pretrain\"\ndata = \"base\"\nsteps = 400\nbatch_size = 4\n"
               "checkpoint_every = 5\nlog_every = 1\nworkers = 1\n")
        .Text();

class InterruptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    manifest_ = testing::WriteText(dir_ / "m.toml", kManifest);
    log_ = dir_ / "log.txt";
  }
  std::vector<std::string> Args(const fs::path& out, bool resume) const {
    std::vector<std::string> a = {
        "--plugin-path", EXPERIMENT_TEST_PLUGINS, "run", manifest_.string(), "--out", out.string(),
        "--no-report"};
    if (resume) a.push_back("--resume");
    return a;
  }
  std::string Log() const { return ReadIfExists(log_); }
  // Waits until pre-training has logged `steps` steps.
  bool TrainedAtLeast(const fs::path& out, int64_t steps) const {
    std::vector<fs::path> dirs = StageDirs(out, "pretrain");
    return !dirs.empty() && LastLoggedStep(dirs[0] / "metrics.jsonl") >= steps;
  }
  // The pre-trained weights of an output folder.
  std::string Weights(const fs::path& out) const {
    return ReadIfExists(StageDir(out, "pretrain") / "checkpoint" / "model.safetensors");
  }
  void RunReference() {
    ASSERT_EQ(testing::RunModelgrow(Args(reference_, false), log_), 0) << Log();
  }

  TempDir dir_;
  fs::path manifest_, log_;
  const fs::path reference_ = dir_ / "reference";
};

TEST_F(InterruptionTest, CtrlCCheckpointsTheStepItIsOnAndResumeEndsTheSame) {
  RunReference();
  const fs::path out = dir_ / "stopped";
  {
    Child child(Args(out, false), log_);
    ASSERT_TRUE(child.WaitFor([&] { return TrainedAtLeast(out, 7); })) << Log();
    child.Signal(SIGINT);
    EXPECT_EQ(child.ExitCode(), 130) << Log();
  }
  const fs::path pretrain = StageDir(out, "pretrain");
  const int64_t step = ReadJson(pretrain / "checkpoint" / "trainer_state.json")["step"];
  EXPECT_GE(step, 7);
  EXPECT_LT(step, 400);
  EXPECT_EQ(LastLoggedStep(pretrain / "metrics.jsonl"), step);  // the step it was on, kept
  const std::string log = Log();
  EXPECT_NE(log.find("interrupted at step " + std::to_string(step) + " of 400 of stage"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("continue with `"), std::string::npos) << log;
  EXPECT_NE(log.find(" --resume`"), std::string::npos) << log;

  // Without --resume the part-trained stage is neither restarted nor resumed silently.
  EXPECT_EQ(testing::RunModelgrow(Args(out, false), log_), 2) << Log();
  EXPECT_NE(Log().find("was interrupted at step " + std::to_string(step)), std::string::npos)
      << Log();
  EXPECT_EQ(ReadJson(pretrain / "checkpoint" / "trainer_state.json")["step"], step);

  ASSERT_EQ(testing::RunModelgrow(Args(out, true), log_), 0) << Log();
  EXPECT_NE(Log().find("resumed from step " + std::to_string(step) + " of 400"), std::string::npos)
      << Log();
  EXPECT_EQ(Weights(out), Weights(reference_));
  EXPECT_EQ(ReadIfExists(out / "runs" / "seed=0" / "results.json"),
            ReadIfExists(reference_ / "runs" / "seed=0" / "results.json"));
}

// What Slurm sends at its time limit or before preemption.
TEST_F(InterruptionTest, SigtermStopsTheSameWayWithExitCode143) {
  const fs::path out = dir_ / "terminated";
  Child child(Args(out, false), log_);
  ASSERT_TRUE(child.WaitFor([&] { return TrainedAtLeast(out, 3); })) << Log();
  child.Signal(SIGTERM);
  EXPECT_EQ(child.ExitCode(), 143) << Log();
  const int64_t step =
      ReadJson(StageDir(out, "pretrain") / "checkpoint" / "trainer_state.json")["step"];
  EXPECT_GE(step, 3);
  EXPECT_NE(Log().find("interrupted at step " + std::to_string(step)), std::string::npos);
}

// A second Ctrl-C while a checkpoint is being written quits at once; the previous checkpoint is
// still whole, and --resume ends with the uninterrupted run's model.
TEST_F(InterruptionTest, ASecondCtrlCQuitsAtOnceLeavingTheLastCheckpointWhole) {
  RunReference();
  const fs::path out = dir_ / "quit";
  const fs::path hold = dir_ / "hold", paused = dir_ / "paused";
  {
    Child child(Args(out, false), log_,
                {{"LD_PRELOAD", KILL_SHIM},
                 {"MODELGROW_TEST_PAUSE_ON_RENAME", "*/pretrain-*/checkpoint"},
                 {"MODELGROW_TEST_PAUSE_WHILE", hold.string()},
                 {"MODELGROW_TEST_PAUSED", paused.string()}});
    // After the first checkpoint (step 5), hold the next commit of one in mid-write.
    ASSERT_TRUE(child.WaitFor([&] {
      std::vector<fs::path> dirs = StageDirs(out, "pretrain");
      return !dirs.empty() && fs::exists(dirs[0] / "checkpoint" / "trainer_state.json");
    })) << Log();
    // The next checkpoint (step 10) stops in mid-write; Ctrl-C there asks for a clean stop,
    // which cannot come while the write hangs, so the user presses it again.
    testing::WriteText(hold, "");
    ASSERT_TRUE(child.WaitFor([&] { return fs::exists(paused); })) << Log();
    child.Signal(SIGINT);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    child.Signal(SIGINT);
    EXPECT_TRUE(child.KilledBy(SIGINT)) << Log();
    fs::remove(hold);
  }
  const fs::path pretrain = StageDir(out, "pretrain");
  const int64_t step = ReadJson(pretrain / "checkpoint" / "trainer_state.json")["step"];
  EXPECT_EQ(step % 5, 0) << "only whole checkpoints under the real name";
  ASSERT_EQ(testing::RunModelgrow(Args(out, true), log_), 0) << Log();
  EXPECT_EQ(Weights(out), Weights(reference_));
}

}  // namespace
}  // namespace modelgrow
