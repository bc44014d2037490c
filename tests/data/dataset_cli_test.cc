// `modelgrow dataset ...` and `modelgrow plugins --kind data`, run as a user runs them.
#include <sys/wait.h>

#include <cstdio>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "data_test_util.h"
#include "modelgrow/sdk/atomic_file.h"
#include "test_paths.h"
#include "test_util.h"

namespace modelgrow {
namespace {

namespace fs = std::filesystem;
using testing::MakePipeline;
using testing::TempDir;

struct CliRun {
  int code = -1;
  std::string output;  // stdout and stderr
};

CliRun Modelgrow(const std::string& args) {
  std::string command = fmt::format("{}/bin/modelgrow {} 2>&1", MODELGROW_BUILD_DIR, args);
  CliRun r;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return r;
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof(buffer), pipe)) > 0;) r.output.append(buffer, n);
  int status = pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(DatasetCli, ListsTheDataPlugins) {
  CliRun r = Modelgrow("plugins --kind data");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(Has(r.output, "synthetic")) << r.output;
  EXPECT_TRUE(Has(r.output, "hdf5")) << r.output;
#ifdef MODELGROW_TEST_WITH_FFMPEG
  EXPECT_TRUE(Has(r.output, "video_csv")) << r.output;
#endif
}

TEST(DatasetCli, ExportsAnyPipelineAndDescribesTheShards) {
  TempDir dir;
  CliRun r = Modelgrow(fmt::format(
      "dataset export --plugin synthetic --set domain=continual --set size=7 --set seed=2 "
      "--out {} --samples-per-shard 3 --compression 1",
      (dir / "out").string()));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(Has(r.output, "export: 3/7 samples, 1 shard")) << r.output;
  EXPECT_TRUE(Has(r.output, "exported 7 samples into 3 shards")) << r.output;
  auto exported = MakePipeline("hdf5", fmt::format("path = \"{}\"", (dir / "out").string()));
  auto source = MakePipeline("synthetic", "domain = \"continual\"\nsize = 7\nseed = 2");
  ASSERT_EQ(exported->size(), 7);
  EXPECT_TRUE(torch::equal(exported->Get(6).video, source->Get(6).video));
  nlohmann::json manifest = nlohmann::json::parse(ReadFile(dir / "out/export.json"));
  EXPECT_EQ(manifest["source"]["plugin"], "synthetic");
  EXPECT_EQ(manifest["source"]["options"]["domain"], "continual");

  CliRun info = Modelgrow(fmt::format("dataset info {}", (dir / "out").string()));
  ASSERT_EQ(info.code, 0) << info.output;
  EXPECT_TRUE(Has(info.output, "7 samples in 3 shards")) << info.output;
  EXPECT_TRUE(Has(info.output, "captions: detailed, short")) << info.output;
  EXPECT_TRUE(Has(info.output, "7 samples of shape [3, 8, 32, 32]")) << info.output;

  // Options from a TOML table, then a --set on top; the shards are re-exported from hdf5.
  WriteFileAtomic(dir / "exp.toml", fmt::format("[data.again]\nplugin = \"hdf5\"\npath = \"{}\"\n"
                                                "labels = true\n",
                                                (dir / "out").string()));
  CliRun again = Modelgrow(
      fmt::format("dataset export --options {} --table data.again --set labels=false --out {} "
                  "--samples-per-shard 10",
                  (dir / "exp.toml").string(), (dir / "again").string()));
  ASSERT_EQ(again.code, 0) << again.output;
  auto reexported = MakePipeline("hdf5", fmt::format("path = \"{}\"", (dir / "again").string()));
  EXPECT_EQ(reexported->size(), 7);
  EXPECT_TRUE(reexported->Get(3).labels.is_null());
  EXPECT_TRUE(torch::equal(reexported->Get(3).video, source->Get(3).video));

  CliRun show =
      Modelgrow("dataset show --plugin synthetic --set domain=continual --index 1 --count 2");
  ASSERT_EQ(show.code, 0) << show.output;
  EXPECT_TRUE(Has(show.output, "\"index\":1")) << show.output;
  EXPECT_TRUE(Has(show.output, "\"index\":2")) << show.output;
  EXPECT_TRUE(Has(show.output, "\"detailed\":\"A video of")) << show.output;
}

TEST(DatasetCli, BadUsageAndBadOptionsExitWithTwoAndSayWhy) {
  TempDir dir;
  std::string out = (dir / "o").string();
  CliRun unknown =
      Modelgrow(fmt::format("dataset export --plugin synthetic --set colour=red --out {}", out));
  EXPECT_EQ(unknown.code, 2) << unknown.output;
  EXPECT_TRUE(Has(unknown.output, "unknown key 'colour'")) << unknown.output;
  CliRun no_plugin = Modelgrow(fmt::format("dataset export --out {}", out));
  EXPECT_EQ(no_plugin.code, 2);
  EXPECT_TRUE(Has(no_plugin.output, "--plugin NAME")) << no_plugin.output;
  CliRun no_out = Modelgrow("dataset export --plugin synthetic");
  EXPECT_EQ(no_out.code, 2);
  EXPECT_TRUE(Has(no_out.output, "needs --out")) << no_out.output;
  CliRun bad_set =
      Modelgrow(fmt::format("dataset export --plugin synthetic --set size --out {}", out));
  EXPECT_EQ(bad_set.code, 2);
  EXPECT_TRUE(Has(bad_set.output, "--set expects KEY=VALUE")) << bad_set.output;
}

TEST(DatasetCli, UnknownPluginsAndEncodersExitWithTwoAndSayWhy) {
  TempDir dir;
  std::string out = (dir / "o").string();
  CliRun no_such = Modelgrow(fmt::format("dataset export --plugin nosuch --out {}", out));
  EXPECT_EQ(no_such.code, 2);
  EXPECT_TRUE(Has(no_such.output, "no data plugin named 'nosuch'")) << no_such.output;
  CliRun bad_encoder = Modelgrow(fmt::format(
      "dataset export --plugin synthetic --set size=2 --encode nosuch:detailed --out {}", out));
  EXPECT_EQ(bad_encoder.code, 2);
  EXPECT_TRUE(Has(bad_encoder.output, "no text plugin named 'nosuch'")) << bad_encoder.output;
  CliRun twice = Modelgrow(fmt::format(
      "dataset export --plugin synthetic --set size=2 --encode a --encode a:detailed --out {}",
      out));
  EXPECT_EQ(twice.code, 2);
  EXPECT_TRUE(Has(twice.output, "two --encode entries store as 'a'")) << twice.output;
}

TEST(DatasetCli, UnknownActionsAndPathsExitWithTwo) {
  TempDir dir;
  CliRun action = Modelgrow("dataset import");
  EXPECT_EQ(action.code, 2);
  EXPECT_TRUE(Has(action.output, "unknown dataset action 'import'")) << action.output;
  CliRun info = Modelgrow(fmt::format("dataset info {}/missing", dir.path().string()));
  EXPECT_EQ(info.code, 2);
  EXPECT_TRUE(Has(info.output, "does not exist")) << info.output;
}

// Every plugin is constructed from its options before any opens or loads: an encoder's option
// problem is reported although the pipeline's shards do not exist; alone, the missing shards are
// named when the pipeline opens.
TEST(DatasetCli, OptionsAreCheckedBeforeAnythingOpens) {
  TempDir dir;
  std::string shards = (dir / "no_shards").string();
  CliRun encoder = Modelgrow(
      fmt::format("dataset export --plugin hdf5 --set path={} --encode precomputed --out {}",
                  shards, (dir / "o").string()));
  EXPECT_EQ(encoder.code, 2) << encoder.output;
  EXPECT_TRUE(Has(encoder.output, "missing required key")) << encoder.output;
  EXPECT_FALSE(Has(encoder.output, "does not exist")) << encoder.output;
  CliRun open = Modelgrow(fmt::format("dataset export --plugin hdf5 --set path={} --out {}", shards,
                                      (dir / "o").string()));
  EXPECT_EQ(open.code, 2) << open.output;
  EXPECT_TRUE(Has(open.output, shards)) << open.output;
  EXPECT_TRUE(Has(open.output, "does not exist")) << open.output;
  EXPECT_FALSE(fs::exists(dir / "o/export.json"));
}

// A manifest's data table can be exported as it is, `inherit` included (as docs/formats.md shows).
TEST(DatasetCli, ExportsAManifestDataTableThatInherits) {
  TempDir dir;
  WriteFileAtomic(dir / "m.toml",
                  "[data.base]\nplugin = \"synthetic\"\nsize = 5\nframes = 2\nheight = 16\n"
                  "width = 16\n\n[data.continual]\ninherit = \"base\"\ndomain = \"continual\"\n");
  CliRun r = Modelgrow(fmt::format("dataset export --options {} --table data.continual --out {}",
                                   (dir / "m.toml").string(), (dir / "out").string()));
  ASSERT_EQ(r.code, 0) << r.output;
  auto exported = MakePipeline("hdf5", fmt::format("path = \"{}\"", (dir / "out").string()));
  ASSERT_EQ(exported->size(), 5);  // the parent's size
  auto source = MakePipeline(
      "synthetic", "size = 5\nframes = 2\nheight = 16\nwidth = 16\ndomain = \"continual\"");
  EXPECT_TRUE(torch::equal(exported->Get(3).video, source->Get(3).video));
  CliRun bad = Modelgrow(fmt::format("dataset export --options {} --table data.nope --out {}",
                                     (dir / "m.toml").string(), (dir / "out2").string()));
  EXPECT_EQ(bad.code, 2) << bad.output;
}

}  // namespace
}  // namespace modelgrow
