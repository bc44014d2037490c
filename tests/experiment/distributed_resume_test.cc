// Multi-process runs interrupted and resumed, and sweep tasks that run at once:
//   - a checkpoint of two workers resumes on one process and the other way round, on the same
//     curve;
//   - SIGKILL of one worker: the launcher stops the other and names the dead rank; --resume on
//     the same world size ends with the bytes of a run never interrupted;
//   - two array tasks of one sweep at once compute each shared stage once (the other waits and
//     reuses it), and a second process on the same run is refused, naming the first.
#include <signal.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "experiment/distributed_util.h"
#include "experiment/engine_util.h"
#include "experiment/tiny_manifest.h"
#include "modelgrow/experiment/folder_lock.h"
#include "test_paths.h"
#include "test_util.h"

namespace modelgrow {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using testing::Child;
using testing::ExpectCloseTensors;
using testing::ExpectSameBytes;
using testing::ExpectSameCurve;
using testing::ReadJson;
using testing::StageDir;
using testing::StageDirs;
using testing::TempDir;
using testing::WriteText;

class DistributedResume : public ::testing::Test {
 protected:
  std::vector<std::string> Run(const fs::path& manifest, const fs::path& out, int workers,
                               bool resume, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{
        "--plugin-path", EXPERIMENT_TEST_PLUGINS, "run", manifest.string(), "--out", out.string(),
        "--no-report"};
    if (workers > 1) {
      args.push_back("--nproc-per-node");
      args.push_back(std::to_string(workers));
    }
    if (resume) args.push_back("--resume");
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  // A launch that dies right before the `count`-th checkpoint of pre-training is swapped in (rank
  // 0 writes checkpoints, so with several workers rank 0 is the one that dies).
  void KillAtCheckpoint(const fs::path& manifest, const fs::path& out, int workers, int count) {
    Child child(Run(manifest, out, workers, false), log_,
                {{"LD_PRELOAD", KILL_SHIM},
                 {"MODELGROW_TEST_KILL_ON_RENAME", "*/pretrain-*/checkpoint"},
                 {"MODELGROW_TEST_KILL_ON_RENAME_COUNT", std::to_string(count)}});
    if (workers > 1) {
      EXPECT_EQ(child.ExitCode(), 1) << Log();
      EXPECT_NE(Log().find("worker rank 0 (pid"), std::string::npos) << Log();
      EXPECT_NE(Log().find("was killed by signal 9"), std::string::npos) << Log();
    } else {
      EXPECT_TRUE(child.KilledBySigkill()) << Log();
    }
  }
  std::string Log() { return testing::ReadIfExists(log_); }

  TempDir dir_;
  fs::path log_ = dir_ / "log.txt";
};

TEST_F(DistributedResume, ACheckpointResumesOnAnotherWorldSize) {
  fs::path manifest = WriteText(dir_ / "m.toml", testing::DistributedPretrain(8).Text());
  const fs::path reference = dir_ / "reference";
  ASSERT_EQ(testing::RunModelgrow(Run(manifest, reference, 1, false), log_), 0) << Log();
  const fs::path expected = StageDir(reference, "pretrain");
  for (int first : {2, 1}) {
    const int second = 3 - first;
    SCOPED_TRACE(std::to_string(first) + " -> " + std::to_string(second));
    const fs::path out = dir_ / ("from" + std::to_string(first));
    KillAtCheckpoint(manifest, out, first, 3);  // steps 2 and 4 saved, 6 not
    const fs::path pretrain = StageDir(out, "pretrain");
    json state = ReadJson(pretrain / "checkpoint" / "trainer_state.json");
    EXPECT_EQ(state["step"], 4);
    EXPECT_EQ(state["world_size"], first);
    ASSERT_EQ(testing::RunModelgrow(Run(manifest, out, second, true), log_), 0) << Log();
    json info = ReadJson(pretrain / "stage.json");
    EXPECT_EQ(info["resumed_from"], 4);
    EXPECT_EQ(info["world_size"], second);
    // The same curve, step for step, and the same model.
    ExpectSameCurve(pretrain / "metrics.jsonl", expected / "metrics.jsonl", 1e-5);
    for (const char* file : {"model.safetensors", "ema.safetensors", "optimizer.safetensors"}) {
      ExpectCloseTensors(pretrain / "checkpoint" / file, expected / "checkpoint" / file, 1e-5);
    }
  }
}

TEST_F(DistributedResume, AKilledWorkerStopsTheOthersAndResumeIsBitIdentical) {
  fs::path manifest = WriteText(dir_ / "m.toml", testing::DistributedPretrain(24).Text());
  const fs::path reference = dir_ / "reference", out = dir_ / "killed";
  ASSERT_EQ(testing::RunModelgrow(Run(manifest, reference, 2, false), log_), 0) << Log();

  fs::remove(log_);
  Child launcher(Run(manifest, out, 2, false), log_);
  ASSERT_TRUE(launcher.WaitFor([&] {
    std::vector<fs::path> dirs = StageDirs(out, "pretrain");
    return !dirs.empty() && testing::LastLoggedStep(dirs[0] / "metrics.jsonl") >= 3;
  })) << Log();
  std::map<int, pid_t> pids = testing::WorkerPids(Log());
  ASSERT_EQ(pids.size(), 2u) << Log();
  ASSERT_EQ(::kill(pids[1], SIGKILL), 0);
  EXPECT_EQ(launcher.ExitCode(), 1) << Log();
  std::string log = Log();
  EXPECT_NE(log.find("worker rank 1 (pid " + std::to_string(pids[1]) + ") was killed by signal 9"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("stopped the other 1 worker(s)"), std::string::npos) << log;
  EXPECT_FALSE(testing::ProcessExists(pids[0]));
  const fs::path pretrain = StageDir(out, "pretrain");
  EXPECT_FALSE(fs::exists(pretrain / "stage.json"));
  int64_t saved = ReadJson(pretrain / "checkpoint" / "trainer_state.json")["step"];
  EXPECT_GE(saved, 2);
  EXPECT_LT(saved, 24);

  ASSERT_EQ(testing::RunModelgrow(Run(manifest, out, 2, true), log_), 0) << Log();
  EXPECT_EQ(ReadJson(pretrain / "stage.json")["resumed_from"], saved);
  const fs::path expected = StageDir(reference, "pretrain");
  for (const char* file : {"model.safetensors", "ema.safetensors", "optimizer.safetensors",
                           "rng.safetensors", "trainer_state.json"}) {
    SCOPED_TRACE(file);
    ExpectSameBytes(pretrain / "checkpoint" / file, expected / "checkpoint" / file);
  }
  std::vector<json> got = testing::MetricsLines(pretrain / "metrics.jsonl");
  std::vector<json> want = testing::MetricsLines(expected / "metrics.jsonl");
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i]["loss"], want[i]["loss"]) << "step " << i + 1;
    EXPECT_EQ(got[i]["grad_norm"], want[i]["grad_norm"]) << "step " << i + 1;
  }
}

// Two array tasks of one sweep (learning rates of `continue`) started together: pre-training
// and growth are shared, so exactly one task computes each while the other waits, then reuses.
TEST_F(DistributedResume, ConcurrentSweepTasksComputeEachSharedStageOnce) {
  std::string text = testing::TinyManifest("sweep")
                         .SyntheticData(32)
                         .Table("stages.pretrain",
                                "kind = \"pretrain\"\ndata = \"train\"\nsteps = 40\n"
                                "batch_size = 4\nworkers = 1\nlog_every = 5\n")
                         .LrSweep("high", "low")
                         .Text();
  fs::path manifest = WriteText(dir_ / "m.toml", text);
  const fs::path out = dir_ / "out";
  std::vector<std::unique_ptr<Child>> tasks;
  for (int i = 0; i < 2; ++i) {
    tasks.push_back(
        std::make_unique<Child>(Run(manifest, out, 1, false, {"--only", std::to_string(i)}),
                                dir_ / ("task" + std::to_string(i) + ".log")));
  }
  std::string logs[2];
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(tasks[i]->ExitCode(), 0);
    logs[i] = testing::ReadIfExists(dir_ / ("task" + std::to_string(i) + ".log"));
  }
  SCOPED_TRACE("task 0:\n" + logs[0] + "\ntask 1:\n" + logs[1]);
  for (const char* stage : {"pretrain", "grow"}) {
    int computed = 0, reused = 0;
    for (const std::string& log : logs) {
      computed +=
          log.find(std::string("| stage ") + stage + " (" + stage + ") -> ") != std::string::npos;
      reused += log.find(std::string("| stage ") + stage + " (" + stage + ") reused from") !=
                std::string::npos;
    }
    EXPECT_EQ(computed, 1) << stage;
    EXPECT_EQ(reused, 1) << stage;
    ASSERT_EQ(StageDirs(out, stage).size(), 1u) << stage;
    EXPECT_EQ(ReadJson(StageDir(out, stage) / "stage.json")["status"], "done");
  }
  EXPECT_EQ(StageDirs(out, "continue").size(), 2u);
  EXPECT_TRUE(fs::exists(out / "runs" / "lr=high,seed=0" / "results.json"));
  EXPECT_TRUE(fs::exists(out / "runs" / "lr=low,seed=0" / "results.json"));
  // Pre-training takes long enough that the second task found it being computed.
  EXPECT_NE((logs[0] + logs[1]).find("== waiting for stage pretrain of run"), std::string::npos);
}

TEST_F(DistributedResume, ASecondProcessOnTheSameRunIsRefusedNamingTheFirst) {
  fs::path manifest = WriteText(dir_ / "m.toml", testing::DistributedPretrain(200).Text());
  const fs::path out = dir_ / "out";
  Child first(Run(manifest, out, 2, false), dir_ / "first.log");
  const fs::path lock = out / "runs" / "seed=0" / "run.lock";
  ASSERT_TRUE(first.WaitFor([&] { return FolderLock::ReadHolder(lock).is_object(); }))
      << testing::ReadIfExists(dir_ / "first.log");
  json holder = FolderLock::ReadHolder(lock);
  fs::remove(log_);
  // The same run as an array task would start it (--only: the experiment's folder is shared).
  EXPECT_EQ(testing::RunModelgrow(Run(manifest, out, 1, true, {"--only", "0"}), log_), 2) << Log();
  EXPECT_NE(
      Log().find("run 'seed=0' is already being run by host " + holder["host"].get<std::string>() +
                 ", pid " + std::to_string(holder["pid"].get<int64_t>())),
      std::string::npos)
      << Log();
  EXPECT_NE(Log().find(lock.string()), std::string::npos) << Log();
  first.Kill();
}

// A whole experiment (no --only) claims its output folder: a second `modelgrow run` of it refuses,
// naming the first, before it writes anything — the first's manifest.toml stays as it was.
TEST_F(DistributedResume, ASecondRunOfAWholeExperimentIsRefusedBeforeWritingAnything) {
  fs::path manifest = WriteText(
      dir_ / "m.toml", testing::DistributedPretrain(200)
                           .Table("experiment", "name = \"dist\"\nthreads = 1\nseeds = [0, 1]\n")
                           .Text());
  const fs::path out = dir_ / "out";
  Child first(Run(manifest, out, 1, false), dir_ / "first.log");
  const fs::path lock = out / "experiment.lock";
  ASSERT_TRUE(first.WaitFor([&] {
    return FolderLock::ReadHolder(lock).is_object() && fs::exists(out / "runs");
  })) << testing::ReadIfExists(dir_ / "first.log");
  const std::string written = testing::ReadIfExists(out / "manifest.toml");
  json holder = FolderLock::ReadHolder(lock);
  EXPECT_EQ(testing::RunModelgrow(
                Run(manifest, out, 1, false, {"--set", "stages.pretrain.steps=7"}), log_),
            2)
      << Log();
  EXPECT_NE(Log().find("is already being run by host " + holder["host"].get<std::string>() +
                       ", pid " + std::to_string(holder["pid"].get<int64_t>())),
            std::string::npos)
      << Log();
  EXPECT_EQ(testing::ReadIfExists(out / "manifest.toml"), written);
  // Array tasks (--only) of the same sweep run side by side; they coordinate per run and stage.
  first.Kill();
}

}  // namespace
}  // namespace modelgrow
