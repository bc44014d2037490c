// Content-hashed stages: runs that share a prefix run it once; a key changes the hash of its stage
// and of every stage after it, and nothing else; a seed changes every stage; a second run of the
// same manifest reuses everything. Runs the engine in-process on the cheap test plugins.
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "experiment/engine_util.h"
#include "experiment/tiny_manifest.h"
#include "modelgrow/experiment/manifest.h"
#include "modelgrow/experiment/runner.h"
#include "modelgrow/host/plugin_registry.h"
#include "test_paths.h"
#include "test_util.h"

namespace modelgrow {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using testing::ReadJson;
using testing::StageDirs;
using testing::TempDir;

// Two data sets, so a change to the continue stage's data leaves pretraining cached.
const std::string kManifest =
    testing::TinyManifest("cache")
        .Table("data.more", "plugin = \"test_frames\"\nsize = 16\nseed = 3\n")
        .Table("stages.grow.probe", "seed = 1\n")
        .Table("stages.continue",
               "kind = \"continue\"\nfrom = \"grow\"\ndata = \"more\"\nsteps = 2\n"
               "batch_size = 4\nworkers = 1\n")
        .LrSweep("high", "low")
        .Text();

class StageCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_.LoadFrom({EXPERIMENT_TEST_PLUGINS});
    manifest_ = testing::WriteText(dir_ / "m.toml", kManifest);
  }
  // Runs the manifest (with `sets`) into `out`, without a report.
  void Run(const fs::path& out, const std::vector<std::string>& sets = {}) {
    RunnerOptions options;
    options.out = out;
    options.report = false;
    ExperimentRunner runner(registry_, Manifest::Load(manifest_, sets, &registry_), options);
    runner.Run();
  }
  // stage -> {"hash", "reused", "dir"} of one run.
  json Stages(const fs::path& out, const std::string& run = "lr=high,seed=0") {
    return ReadJson(out / "runs" / run / "stages.json");
  }
  std::map<std::string, std::string> Hashes(const fs::path& out,
                                            const std::string& run = "lr=high,seed=0") {
    std::map<std::string, std::string> hashes;
    json stages = Stages(out, run);
    for (const auto& [stage, info] : stages.items()) hashes[stage] = info["hash"];
    return hashes;
  }
  // Which stages have another hash in `b` than in `a`.
  static std::set<std::string> Changed(const std::map<std::string, std::string>& a,
                                       const std::map<std::string, std::string>& b) {
    std::set<std::string> changed;
    for (const auto& [stage, hash] : a)
      if (b.at(stage) != hash) changed.insert(stage);
    return changed;
  }

  PluginRegistry registry_;
  TempDir dir_;
  fs::path manifest_;
};

using Names = std::set<std::string>;

TEST_F(StageCacheTest, RunsSharingAPrefixRunItOnce) {
  const fs::path out = dir_ / "out";
  Run(out);
  EXPECT_EQ(StageDirs(out, "pretrain").size(), 1u);
  EXPECT_EQ(StageDirs(out, "grow").size(), 1u);
  EXPECT_EQ(StageDirs(out, "continue").size(), 2u);

  json high = Stages(out, "lr=high,seed=0"), low = Stages(out, "lr=low,seed=0");
  for (const char* stage : {"pretrain", "grow", "continue"}) {
    EXPECT_FALSE(high[stage]["reused"].get<bool>()) << stage;  // the first run made them all
  }
  for (const char* stage : {"pretrain", "grow"}) {
    EXPECT_TRUE(low[stage]["reused"].get<bool>()) << stage;
    EXPECT_EQ(low[stage]["hash"], high[stage]["hash"]) << stage;
    EXPECT_EQ(low[stage]["dir"], high[stage]["dir"]) << stage;
  }
  EXPECT_FALSE(low["continue"]["reused"].get<bool>());
  EXPECT_NE(low["continue"]["hash"], high["continue"]["hash"]);
  // Each run's record points at its own stage folders, named <stage>-<hash>.
  for (const char* run : {"lr=high,seed=0", "lr=low,seed=0"}) {
    json stages = Stages(out, run);
    for (const auto& [stage, info] : stages.items()) {
      fs::path folder = out / "runs" / run / info["dir"].get<std::string>();
      EXPECT_EQ(fs::weakly_canonical(folder).filename().string(),
                stage + "-" + info["hash"].get<std::string>());
      EXPECT_EQ(ReadJson(folder / "stage.json")["status"], "done") << folder;
    }
  }
  // The continue stages really trained with their own learning rates.
  json record = ReadJson(fs::weakly_canonical(out / "runs" / "lr=low,seed=0" /
                                              low["continue"]["dir"].get<std::string>()) /
                         "stage.json");
  EXPECT_EQ(record["steps"], 2);
  EXPECT_EQ(record["kind"], "continue");
}

TEST_F(StageCacheTest, ASecondRunOfTheSameManifestReusesEverything) {
  const fs::path out = dir_ / "out";
  Run(out);
  fs::path model = StageDirs(out, "pretrain")[0] / "checkpoint" / "model.safetensors";
  auto written = fs::last_write_time(model);
  std::string bytes = ReadFile(model);
  size_t folders = std::distance(fs::directory_iterator(out / "cache"), fs::directory_iterator());

  Run(out);
  for (const char* run : {"lr=high,seed=0", "lr=low,seed=0"}) {
    json stages = Stages(out, run);
    for (const auto& [stage, info] : stages.items())
      EXPECT_TRUE(info["reused"].get<bool>()) << run << " " << stage;
  }
  EXPECT_EQ(std::distance(fs::directory_iterator(out / "cache"), fs::directory_iterator()),
            static_cast<std::ptrdiff_t>(folders));
  EXPECT_EQ(fs::last_write_time(model), written);
  EXPECT_EQ(ReadFile(model), bytes);

  // What does not determine a stage's result (a description) does not invalidate it either.
  auto before = Hashes(out);
  Run(out, {"experiment.description=\"reworded\""});
  EXPECT_EQ(Hashes(out), before);
  EXPECT_TRUE(Stages(out)["continue"]["reused"].get<bool>());
}

TEST_F(StageCacheTest, AKeyChangesTheHashOfItsStageAndLaterOnesOnly) {
  const fs::path out = dir_ / "out";
  Run(out);
  auto base = Hashes(out);
  ASSERT_EQ(base.size(), 3u);

  struct Case {
    std::string set;
    Names changed;
  };
  for (const Case& c : {Case{"stages.continue.steps=3", {"continue"}},
                        Case{"data.more.size=12", {"continue"}},  // data only continue reads
                        Case{"stages.grow.probe.seed=2", {"grow", "continue"}},
                        Case{"stages.pretrain.steps=4", {"pretrain", "grow", "continue"}},
                        Case{"model.hidden_size=16", {"pretrain", "grow", "continue"}},
                        Case{"text.words.dim=8", {"pretrain", "grow", "continue"}}}) {
    SCOPED_TRACE(c.set);
    const fs::path variant = dir_ / ("v" + std::to_string(std::hash<std::string>{}(c.set)));
    Run(variant, {c.set});
    auto hashes = Hashes(variant);
    EXPECT_EQ(Changed(base, hashes), c.changed);
  }
}

TEST_F(StageCacheTest, TheSeedChangesEveryStage) {
  const fs::path out = dir_ / "out";
  Run(out, {"experiment.seeds=[0, 1]"});
  auto zero = Hashes(out, "lr=high,seed=0"), one = Hashes(out, "lr=high,seed=1");
  EXPECT_EQ(Changed(zero, one), (Names{"pretrain", "grow", "continue"}));
  EXPECT_EQ(StageDirs(out, "pretrain").size(), 2u);
  EXPECT_EQ(StageDirs(out, "continue").size(), 4u);
  // Different seeds train differently.
  EXPECT_NE(ReadFile(StageDirs(out, "pretrain")[0] / "checkpoint" / "model.safetensors"),
            ReadFile(StageDirs(out, "pretrain")[1] / "checkpoint" / "model.safetensors"));
}

// How a run is watched and scheduled never changes what it computes, so changing it reuses every
// stage instead of rerunning the pipeline.
TEST_F(StageCacheTest, LoggingWorkersAndCheckpointCadenceReuseEveryStage) {
  const fs::path out = dir_ / "out";
  Run(out);
  std::map<std::string, std::string> before = Hashes(out);
  Run(out, {"stages.pretrain.log_every=1", "stages.pretrain.workers=3",
            "stages.pretrain.checkpoint_every=1", "stages.continue.log_every=2"});
  EXPECT_EQ(Hashes(out), before);
  const json stages = Stages(out);
  EXPECT_EQ(stages.size(), 3u);
  for (const auto& [stage, info] : stages.items()) {
    EXPECT_TRUE(info["reused"].get<bool>()) << stage;
  }
  // What does change results still changes the key.
  Run(out, {"stages.pretrain.steps=4"});
  EXPECT_EQ(Changed(before, Hashes(out)), (Names{"pretrain", "grow", "continue"}));
}

// A stage key covers what the stage reads, not only the manifest's words: the files behind a
// data table, and the `init` checkpoint a pretrain stage starts from.
TEST_F(StageCacheTest, WhatAStageReadsChangingUnderTheSamePathIsNotReused) {
  const fs::path out = dir_ / "out";
  const fs::path source = testing::WriteText(dir_ / "frames.bin", "first version");
  const std::string data = "data.more.source_file=\"" + source.string() + "\"";
  Run(out, {data});
  auto before = Hashes(out);
  Run(out, {data});
  EXPECT_EQ(Hashes(out), before);
  EXPECT_TRUE(Stages(out)["continue"]["reused"].get<bool>());
  testing::WriteText(source, "second version");  // the same path, other bytes
  Run(out, {data});
  EXPECT_EQ(Changed(before, Hashes(out)), (Names{"continue"}));
  EXPECT_FALSE(Stages(out)["continue"]["reused"].get<bool>());

  // Pre-training from a checkpoint: other weights under the same folder name, another stage.
  const fs::path init = dir_ / "init";
  fs::copy(StageDirs(out, "pretrain")[0] / "checkpoint", init);
  const std::string from_init = "stages.pretrain.init=\"" + init.string() + "\"";
  Run(out, {data, from_init});
  auto with_init = Hashes(out);
  EXPECT_NE(with_init.at("pretrain"), before.at("pretrain"));
  fs::copy_file(StageDirs(out, "continue")[0] / "checkpoint" / "model.safetensors",
                init / "model.safetensors", fs::copy_options::overwrite_existing);
  fs::copy_file(StageDirs(out, "continue")[0] / "checkpoint" / "config.json", init / "config.json",
                fs::copy_options::overwrite_existing);
  Run(out, {data, from_init});
  EXPECT_EQ(Changed(with_init, Hashes(out)), (Names{"pretrain", "grow", "continue"}));
}

// A finished stage folder records its files; one that no longer matches (a truncated
// checkpoint, a deleted file, a record without a file list) is never used: it is moved aside
// with a warning and computed again, to the same bytes.
TEST_F(StageCacheTest, ADamagedStageFolderIsSetAsideAndComputedAgain) {
  const fs::path out = dir_ / "out";
  Run(out);
  const fs::path stage = StageDirs(out, "pretrain")[0];
  const fs::path model = stage / "checkpoint" / "model.safetensors";
  const std::string bytes = ReadFile(model);
  json record = ReadJson(stage / "stage.json");
  ASSERT_TRUE(record["files"].contains("checkpoint/model.safetensors")) << record.dump(2);
  EXPECT_FALSE(record["code_version"].get<std::string>().empty());

  testing::WriteText(model, bytes.substr(0, bytes.size() / 2));  // truncated
  ::testing::internal::CaptureStderr();
  Run(out);
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("does not match its record (checkpoint/model.safetensors changed"),
            std::string::npos)
      << log;
  EXPECT_FALSE(Stages(out)["pretrain"]["reused"].get<bool>());
  EXPECT_EQ(ReadFile(model), bytes);
  std::vector<fs::path> aside;
  for (const auto& entry : fs::directory_iterator(out / "cache")) {
    if (entry.path().filename().string().find(".mismatch-") != std::string::npos)
      aside.push_back(entry.path());
  }
  ASSERT_EQ(aside.size(), 1u);
  EXPECT_EQ(fs::file_size(aside[0] / "checkpoint" / "model.safetensors"), bytes.size() / 2);
  // The stages after it read the recomputed checkpoint, which is the same: they stay reused.
  EXPECT_TRUE(Stages(out)["continue"]["reused"].get<bool>());

  // A record that lists no files cannot vouch for its folder either.
  record = ReadJson(stage / "stage.json");
  record.erase("files");
  testing::WriteText(stage / "stage.json", record.dump(2));
  Run(out);
  EXPECT_FALSE(Stages(out)["pretrain"]["reused"].get<bool>());
  EXPECT_EQ(ReadFile(model), bytes);
}

}  // namespace
}  // namespace modelgrow
