// Every write point of `grow`, `dataset export`, the grow and evaluate stages of a run, `report`
// and the text cache, hit by SIGKILL or by a failing disk.
//
// SIGKILL at every write point of `grow`, `dataset export`, the grow and evaluate stages of a run,
// and `report`. Every file the toolkit writes becomes visible through one rename (atomic files)
// or renameat2 (folders swapped whole), so the kill shim stops a launch right before its k-th
// rename, for k = 1, 2, ... until a launch finishes without reaching a k-th one. After each kill
// the command is run again as a user would (`--resume` where it has one, `--overwrite` where it
// asks for it) and must end with the results of a launch never interrupted.
#include <functional>
#include <iostream>
#include <set>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "experiment/engine_util.h"
#include "experiment/tiny_manifest.h"
#include "modelgrow/data/video_shard_reader.h"
#include "test_paths.h"
#include "test_util.h"

namespace modelgrow {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using testing::Child;
using testing::ReadJson;
using testing::StageDir;
using testing::TempDir;

class KillSweep : public ::testing::Test {
 protected:
  void SetUp() override { log_ = dir_ / "log.txt"; }

  std::vector<std::string> Cli(std::vector<std::string> args) {
    args.insert(args.begin(), {"--plugin-path", EXPERIMENT_TEST_PLUGINS});
    return args;
  }
  int Run(const std::vector<std::string>& args) { return testing::RunModelgrow(Cli(args), log_); }

  // Launches `args`, to be SIGKILLed right before its k-th rename onto a path matching `glob`.
  // True when it was; false when it finished first (then it must have succeeded).
  bool KilledAt(const std::vector<std::string>& args, const std::string& glob, int k) {
    Child child(Cli(args), log_,
                {{"LD_PRELOAD", KILL_SHIM},
                 {"MODELGROW_TEST_KILL_ON_RENAME", glob},
                 {"MODELGROW_TEST_KILL_ON_RENAME_COUNT", std::to_string(k)}});
    if (child.KilledBySigkill()) return true;
    EXPECT_EQ(child.ExitCode(), 0) << Log();
    return false;
  }

  // For k = 1, 2, ...: `prepare`, kill `args` at its k-th matching rename, `after_kill`, then
  // `finish` (which reruns and compares). Returns how many kill points there were.
  int Sweep(const std::vector<std::string>& args, const std::string& glob,
            const std::function<void()>& prepare, const std::function<void()>& after_kill,
            const std::function<void()>& finish) {
    for (int k = 1; k < 200; ++k) {
      SCOPED_TRACE(fmt::format("killed before rename {} matching {}", k, glob));
      prepare();
      if (!KilledAt(args, glob, k)) {
        std::cout << fmt::format("{} kill points\n", k - 1);
        return k - 1;
      }
      after_kill();
      finish();
      if (::testing::Test::HasFailure()) return k;
    }
    ADD_FAILURE() << "more than 200 renames";
    return 200;
  }

  // Runs `args` with writes to files matching `glob` failing with `error` (ENOSPC, EIO).
  int RunOnFailingDisk(const std::vector<std::string>& args, const std::string& glob,
                       const std::string& error = "ENOSPC") {
    return testing::RunModelgrow(Cli(args), log_,
                                 {{"LD_PRELOAD", WRITE_FAULT_SHIM},
                                  {"MODELGROW_TEST_FAIL_WRITES", glob},
                                  {"MODELGROW_TEST_FAIL_ERRNO", error}});
  }
  bool Logged(const std::string& text) { return Log().find(text) != std::string::npos; }

  std::string Log() { return testing::ReadIfExists(log_); }

  TempDir dir_;
  fs::path log_;
};

void ExpectSameFile(const fs::path& a, const fs::path& b) {
  ASSERT_TRUE(fs::exists(a)) << a;
  ASSERT_TRUE(fs::exists(b)) << b;
  EXPECT_TRUE(ReadFile(a) == ReadFile(b)) << a << " differs from " << b;
}

// `j` without what differs between any two launches: wall-clock timings, times ("created",
// "at") and the output folder's own path.
json Comparable(const json& j) {
  if (j.is_array()) {
    json out = json::array();
    for (const json& v : j) out.push_back(Comparable(v));
    return out;
  }
  if (!j.is_object()) return j;
  json out = json::object();
  const json without_timings = testing::WithoutTimings(j);
  for (const auto& [key, value] : without_timings.items()) {
    if (key != "created" && key != "at" && key != "output") out[key] = Comparable(value);
  }
  return out;
}

// Two checkpoint folders hold the same files with the same bytes; JSON files the same values
// (Comparable).
void ExpectSameCheckpoint(const fs::path& a, const fs::path& b) {
  std::set<std::string> names_a, names_b;
  for (const auto& f : fs::directory_iterator(a)) names_a.insert(f.path().filename().string());
  for (const auto& f : fs::directory_iterator(b)) names_b.insert(f.path().filename().string());
  EXPECT_EQ(names_a, names_b) << a << " vs " << b;
  for (const std::string& name : names_b) {
    SCOPED_TRACE(name);
    if (fs::path(name).extension() == ".json") {
      EXPECT_EQ(Comparable(ReadJson(a / name)), Comparable(ReadJson(b / name)));
    } else {
      ExpectSameFile(a / name, b / name);
    }
  }
}

std::vector<std::string> TemporaryFiles(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& f : fs::recursive_directory_iterator(dir)) {
    const std::string name = f.path().filename().string();
    if (name.find(".tmp-") != std::string::npos || name.ends_with(".staging"))
      out.push_back(f.path().string());
  }
  return out;
}

class GrowCommand : public KillSweep {
 protected:
  void SetUp() override {
    KillSweep::SetUp();
    ASSERT_EQ(Run({"init", "--preset", "STDiT3-T/2", "--set", "hidden_size=32", "--set", "depth=2",
                   "--out", ck.string()}),
              0)
        << Log();
  }
  std::vector<std::string> Grow(const fs::path& to, bool overwrite) {
    std::vector<std::string> args{
        "grow",  "--in",  ck.string(),        "--out", to.string(), "--op",
        "stack", "--set", "placement=insert", "--set", "init=zero"};
    if (overwrite) args.push_back("--overwrite");
    return args;
  }
  const fs::path ck = dir_ / "ck";
};

TEST_F(GrowCommand, KilledAnywhereEndsAsIfNeverKilled) {
  const fs::path reference = dir_ / "reference", out = dir_ / "grown";
  ASSERT_EQ(Run(Grow(reference, false)), 0) << Log();
  const int points = Sweep(
      Grow(out, false), "*", [&] { fs::remove_all(out); },
      [&] {
        // The folder appears whole in one step, or not at all.
        if (fs::exists(out)) ExpectSameCheckpoint(out, reference);
      },
      [&] {
        ASSERT_EQ(Run(Grow(out, true)), 0) << Log();
        ExpectSameCheckpoint(out, reference);
        EXPECT_FALSE(fs::exists(out.string() + ".staging"));
      });
  EXPECT_GE(points, 4);  // the folder's files, then the swap
}

TEST_F(GrowCommand, OnAFailingDiskNamesOutAndLeavesTheOldFolder) {
  const fs::path out = dir_ / "grown", reference = dir_ / "reference";
  ASSERT_EQ(Run(Grow(reference, false)), 0) << Log();
  for (const char* error : {"ENOSPC", "EIO"}) {
    SCOPED_TRACE(error);
    // Nothing there yet: nothing is left.
    EXPECT_EQ(RunOnFailingDisk(Grow(out, false), "*/grown.staging/model.safetensors.tmp-*", error),
              1)
        << Log();
    EXPECT_TRUE(Logged(out.string() + ": cannot write")) << Log();
    EXPECT_FALSE(fs::exists(out));
    EXPECT_TRUE(TemporaryFiles(dir_.path()).empty())
        << fmt::format("{}", TemporaryFiles(dir_.path()).front());
    // An earlier grow there: replacing it fails, it stays whole.
    ASSERT_EQ(Run(Grow(out, false)), 0) << Log();
    EXPECT_EQ(RunOnFailingDisk(Grow(out, true), "*/grown.staging/config.json.tmp-*", error), 1)
        << Log();
    ExpectSameCheckpoint(out, reference);
    EXPECT_TRUE(TemporaryFiles(dir_.path()).empty())
        << fmt::format("{}", TemporaryFiles(dir_.path()).front());
    fs::remove_all(out);
  }
}

TEST_F(KillSweep, DatasetExportResumesToTheSameShards) {
  const fs::path reference = dir_ / "reference", out = dir_ / "export";
  auto export_to = [&](const fs::path& to, bool resume) {
    std::vector<std::string> args{"dataset",
                                  "export",
                                  "--plugin",
                                  "synthetic",
                                  "--set",
                                  "domain=continual",
                                  "--set",
                                  "size=7",
                                  "--set",
                                  "seed=2",
                                  "--samples-per-shard",
                                  "3",
                                  "--out",
                                  to.string()};
    if (resume) args.push_back("--resume");
    return args;
  };
  ASSERT_EQ(Run(export_to(reference, false)), 0) << Log();
  const json expected = ReadJson(reference / "export.json");
  const int points = Sweep(
      export_to(out, false), "*", [&] { fs::remove_all(out); },
      [&] {
        // Killed before export.json: never mistaken for a finished export.
        EXPECT_FALSE(fs::exists(out / "export.json"));
        auto info = Run({"dataset", "info", out.string()});
        EXPECT_EQ(info, 2) << Log();
      },
      [&] {
        ASSERT_EQ(Run(export_to(out, true)), 0) << Log();
        json got = ReadJson(out / "export.json");
        EXPECT_EQ(got["samples"], expected["samples"]);
        EXPECT_EQ(got["shards"], expected["shards"]);
        for (const auto& f : fs::directory_iterator(out))
          EXPECT_EQ(f.path().filename().string().find(".tmp-"), std::string::npos) << f.path();
        for (const json& shard : expected["shards"]) {
          const std::string name = shard["file"];
          auto a = VideoShardReader::Open(out / name), b = VideoShardReader::Open(reference / name);
          ASSERT_EQ(a->size(), b->size()) << name;
          for (int64_t i = 0; i < a->size(); ++i) {
            Sample x = a->Read(i), y = b->Read(i);
            EXPECT_TRUE(torch::equal(x.video, y.video)) << name << " sample " << i;
            EXPECT_EQ(x.captions, y.captions) << name << " sample " << i;
            EXPECT_EQ(x.index, y.index) << name << " sample " << i;
          }
        }
      });
  EXPECT_GE(points, 5);  // 3 shards, their progress records, export.json
}

// A tiny run (pretrain, grow, continue, evaluate with a classifier) whose grow and evaluate stages
// are taken away and made again, killed at each of their renames.
class RunKillSweep : public KillSweep {
 protected:
  void SetUp() override {
    KillSweep::SetUp();
    manifest_ = testing::WriteText(
        dir_ / "m.toml", testing::TinyManifest("sweep").SyntheticData(16).Evaluation().Text());
    ASSERT_EQ(Run(Args(reference_)), 0) << Log();
  }
  std::vector<std::string> Args(const fs::path& out) {
    return {"run", manifest_.string(), "--out", out.string(), "--no-report", "--resume"};
  }
  // The reference run with the folders of `stages` removed.
  void Prepare(const std::vector<std::string>& stages) {
    fs::remove_all(out_);
    fs::copy(reference_, out_, fs::copy_options::recursive);
    for (const std::string& stage : stages) fs::remove_all(StageDir(out_, stage));
  }
  void ExpectSameResults() {
    json results = ReadJson(out_ / "runs" / "seed=0" / "results.json");
    json expected = ReadJson(reference_ / "runs" / "seed=0" / "results.json");
    EXPECT_EQ(testing::WithoutTimings(results), testing::WithoutTimings(expected));
    for (const char* file : {"model.safetensors", "optimizer.safetensors"})
      ExpectSameFile(StageDir(out_, "grow") / "checkpoint" / file,
                     StageDir(reference_, "grow") / "checkpoint" / file);
    int gifs = 0;
    for (const auto& entry : fs::directory_iterator(StageDir(reference_, "evaluate") / "samples")) {
      if (entry.path().extension() != ".gif") continue;
      ExpectSameFile(StageDir(out_, "evaluate") / "samples" / entry.path().filename(),
                     entry.path());
      ++gifs;
    }
    EXPECT_GT(gifs, 0);
  }

  fs::path manifest_, reference_ = dir_ / "reference", out_ = dir_ / "killed";
};

TEST_F(RunKillSweep, GrowStage) {
  const int points = Sweep(
      Args(out_), "*", [&] { Prepare({"grow"}); }, [] {},
      [&] {
        ASSERT_EQ(Run(Args(out_)), 0) << Log();
        ExpectSameResults();
      });
  EXPECT_GE(points, 3);  // the checkpoint's files, the swap, stage.json
}

TEST_F(RunKillSweep, EvaluateStageAndItsClassifier) {
  const int points = Sweep(
      Args(out_), "*",
      [&] {
        Prepare({"classifier", "evaluate"});
      },
      [] {},
      [&] {
        ASSERT_EQ(Run(Args(out_)), 0) << Log();
        ExpectSameResults();
      });
  EXPECT_GE(points, 6);  // classifier files, GIFs, results
}

// `report`: its three files are replaced together. Killed anywhere, the folder holds the previous
// report whole (here, a planted one) or the new one whole; run again, the new one.
TEST_F(RunKillSweep, ReportIsReplacedWhole) {
  ASSERT_EQ(Run({"report", reference_.string()}), 0) << Log();
  const std::string expected_csv = ReadFile(reference_ / "report" / "report.csv");
  auto is_old = [&](const char* name) {
    return ReadFile(out_ / "report" / name) == std::string("old ") + name;
  };
  const int points = Sweep(
      {"report", out_.string()}, "*",
      [&] {
        Prepare({});
        for (const char* name : {"report.md", "report.csv", "report.html"})
          WriteFileAtomic(out_ / "report" / name, std::string("old ") + name);
      },
      [&] {
        const bool old = is_old("report.md");
        EXPECT_EQ(is_old("report.csv"), old);
        EXPECT_EQ(is_old("report.html"), old);
        if (!old) EXPECT_EQ(ReadFile(out_ / "report" / "report.csv"), expected_csv);
      },
      [&] {
        ASSERT_EQ(Run({"report", out_.string()}), 0) << Log();
        EXPECT_EQ(ReadFile(out_ / "report" / "report.csv"), expected_csv);
        EXPECT_FALSE(is_old("report.md"));
        EXPECT_FALSE(fs::exists(out_ / "report.staging"));
        for (const auto& f : fs::directory_iterator(out_ / "report"))
          EXPECT_EQ(f.path().filename().string().find(".tmp-"), std::string::npos) << f.path();
      });
  EXPECT_GE(points, 4);  // three files, the swap
}

TEST_F(RunKillSweep, ReportOnAFailingDiskKeepsThePreviousOne) {
  ASSERT_EQ(Run({"report", reference_.string()}), 0) << Log();
  Prepare({});
  const std::string before = ReadFile(out_ / "report" / "report.md");
  for (const char* file : {"report.md", "report.csv", "report.html"}) {
    SCOPED_TRACE(file);
    EXPECT_EQ(
        RunOnFailingDisk({"report", out_.string()}, fmt::format("*/report.staging/{}.tmp-*", file)),
        1)
        << Log();
    EXPECT_TRUE(Logged((out_ / "report").string() + ": cannot write")) << Log();
    EXPECT_EQ(ReadFile(out_ / "report" / "report.md"), before);
    EXPECT_TRUE(TemporaryFiles(out_).empty()) << fmt::format("{}", TemporaryFiles(out_).front());
  }
}

// The disk text cache only saves time: a disk that fails under it costs a warning, not the run.
TEST_F(KillSweep, TextCacheOnAFailingDiskWarnsAndEncodesInMemory) {
  const fs::path cache = dir_ / "text-cache";
  auto encode = [&](const fs::path& out) {
    return std::vector<std::string>{"text",     "encode",      "--plugin",    "test_words",
                                    "--set",    "dim=16",      "--prompt",    "a red cube",
                                    "--prompt", "a blue ball", "--cache-dir", cache.string(),
                                    "--out",    out.string()};
  };
  ASSERT_EQ(Run(encode(dir_ / "expected.safetensors")), 0) << Log();
  fs::remove_all(cache);
  EXPECT_EQ(RunOnFailingDisk(encode(dir_ / "got.safetensors"), "*/text-cache/*"), 0) << Log();
  EXPECT_TRUE(Logged("warning: cannot write to the text cache")) << Log();
  EXPECT_TRUE(Logged("No space left on device")) << Log();
  EXPECT_EQ(ReadFile(dir_ / "got.safetensors"), ReadFile(dir_ / "expected.safetensors"));
  EXPECT_TRUE(TemporaryFiles(cache).empty()) << fmt::format("{}", TemporaryFiles(cache).front());
  for (const auto& f : fs::recursive_directory_iterator(cache))
    EXPECT_FALSE(f.is_regular_file()) << f.path() << " was written on a failing disk";
}

}  // namespace
}  // namespace modelgrow
