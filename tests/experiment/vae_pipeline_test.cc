// Real videos in, real videos out, through the real binary and the tiny random-weight Open-Sora
// VAE: export clips to latent shards -> train a latent STDiT3 on them (the manifest names the VAE)
// -> sample an MP4 decoded by the VAE the checkpoint records; and `modelgrow vae` on a user's clip.
#include <fstream>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "modelgrow/data/video_shard_reader.h"
#include "modelgrow/io/video_reader.h"
#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/sdk/safetensors.h"
#include "test_paths.h"
#include "test_util.h"

namespace modelgrow {
namespace {

namespace fs = std::filesystem;
using testing::RunCli;
using testing::TempDir;

const fs::path kPlugins = MODELGROW_PLUGIN_DIR;
const fs::path kTinyVae = kPlugins / "vae_opensora.data" / "opensora_vae_tiny";
const fs::path kClips = kPlugins / "data_video_csv.data";

std::string Cli(const std::string& args) {
  return fmt::format("--plugin-path {} {}", EXPERIMENT_TEST_PLUGINS, args);
}

std::string Manifest(const fs::path& shards, int in_channels) {
  return fmt::format(R"([experiment]
name = "latent"
threads = 1

[model]
preset = "STDiT3-T/2"
hidden_size = 32
depth = 1
num_heads = 2
in_channels = {}
text = "words"

[vae]
plugin = "opensora_vae"
path = "{}"

[text.words]
plugin = "test_words"
dim = 16

[data.clips]
plugin = "hdf5"
path = "{}"

[stages.pretrain]
kind = "pretrain"
data = "clips"
steps = 3
batch_size = 1
workers = 1

[stages.evaluate]
kind = "evaluate"
from = "pretrain"
domains = {{ clips = "clips" }}
prompts = ["short"]
samples = 2
sampling_steps = 1
loss_samples = 2
loss_timesteps = [500]
grid_prompts = 2
)",
                     in_channels, kTinyVae.string(), shards.string());
}

fs::path Checkpoint(const fs::path& run_out, const std::string& stage) {
  for (const auto& entry : fs::directory_iterator(run_out / "cache")) {
    if (entry.path().filename().string().rfind(stage + "-", 0) == 0)
      return entry.path() / "checkpoint";
  }
  return {};
}

TEST(VaePipeline, ExportTrainAndSampleThroughTheVae) {
  TempDir dir;
  std::ofstream(dir / "data.toml") << fmt::format(R"([clips]
plugin = "video_csv"
csv = "{}"
clip_start = "start"
buckets = {{ tiny = {{ "1" = 1.0, "8" = 1.0 }} }}
resolutions = {{ tiny = {{ area = 512, "0.50" = [16, 32], "2.00" = [32, 16] }} }}
)",
                                                  (kClips / "clips.csv").string());
  // The captions' text embeddings go into the same shards as the latents.
  auto exported = RunCli(Cli(fmt::format(
      "dataset export --options {} --table clips --vae {} --out {} --samples-per-shard 4 "
      "--encode words=test_words --text-set test_words.dim=16",
      (dir / "data.toml").string(), kTinyVae.string(), (dir / "shards").string())));
  ASSERT_EQ(exported.exit_code, 0) << exported.output;
  EXPECT_NE(exported.output.find("exported 2 samples"), std::string::npos) << exported.output;
  EXPECT_NE(exported.output.find("left"), std::string::npos) << exported.output;
  auto export_json = nlohmann::json::parse(ReadFile(dir / "shards" / "export.json"));
  EXPECT_EQ(export_json["vae"]["plugin"], "opensora_vae") << export_json.dump();
  EXPECT_EQ(export_json["vae"]["posterior"]["sample"], false) << export_json.dump();
  EXPECT_EQ(export_json["shapes"].size(), 2u) << export_json.dump();  // two buckets
  EXPECT_TRUE(export_json["text_embeddings"].contains("words")) << export_json.dump();
  auto shard = VideoShardReader::Open(dir / "shards" / "shard-00000.h5");
  ASSERT_TRUE(shard->latent());
  Sample first = shard->Read(0);
  EXPECT_EQ(first.video.size(0), 4);
  ASSERT_TRUE(first.text_embeddings.count("words"));
  EXPECT_EQ(first.text_embeddings.at("words").embedding.size(-1), 16);

  std::ofstream(dir / "latent.toml") << Manifest(dir / "shards", 4);
  auto run = RunCli(
      Cli(fmt::format("run {} --out {}", (dir / "latent.toml").string(), (dir / "runs").string())));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  fs::path checkpoint = Checkpoint(dir / "runs", "pretrain");
  ASSERT_FALSE(checkpoint.empty());
  auto config = nlohmann::json::parse(ReadFile(checkpoint / "config.json"));
  EXPECT_EQ(config["modelgrow"]["provenance"]["vae"]["plugin"], "opensora_vae") << config.dump();

  // Evaluation decoded the grid's latents (two buckets: 16x32 and 32x16) through the VAE.
  fs::path samples = Checkpoint(dir / "runs", "evaluate").parent_path() / "samples";
  EXPECT_TRUE(fs::exists(samples / "clips_short_0.gif")) << samples;
  EXPECT_EQ(ReadVideo(samples / "clips_short_0.mp4").video.sizes().vec(),
            (std::vector<int64_t>{3, 8, 16, 32}));
  EXPECT_EQ(ReadVideo(samples / "clips_short_1.mp4").video.sizes().vec(),
            (std::vector<int64_t>{3, 8, 32, 16}));
  EXPECT_TRUE(fs::exists(samples / "real_clips_1.gif"));
  auto results = nlohmann::json::parse(
      ReadFile(Checkpoint(dir / "runs", "evaluate").parent_path() / "results.json"));
  EXPECT_TRUE(results["metrics"].contains("loss/clips/short")) << results.dump();

  // The checkpoint names its VAE: the sample is decoded without being told which.
  auto sample = RunCli(Cli(fmt::format(
      "sample --checkpoint {} --prompt \"a tall test pattern\" --frames 2 --height 4 --width 2 "
      "--steps 2 --out {}",
      checkpoint.string(), (dir / "video.mp4").string())));
  ASSERT_EQ(sample.exit_code, 0) << sample.output;
  EXPECT_NE(sample.output.find("decoded by the VAE"), std::string::npos) << sample.output;
  VideoFile video = ReadVideo(dir / "video.mp4");
  EXPECT_EQ(video.video.sizes().vec(), (std::vector<int64_t>{3, 8, 32, 16}));

  auto gif = RunCli(Cli(fmt::format(
      "sample --checkpoint {} --prompt \"a pattern\" --frames 1 --height 2 --width 4 --steps 1 "
      "--out {}",
      checkpoint.string(), (dir / "image.gif").string())));
  ASSERT_EQ(gif.exit_code, 0) << gif.output;
  EXPECT_NE(gif.output.find("4 frames of 16x32"), std::string::npos) << gif.output;
}

TEST(VaePipeline, AVaeWhoseLatentsTheModelCannotTakeIsAClearError) {
  TempDir dir;
  auto exported = RunCli(Cli(fmt::format(
      "dataset export --plugin video_csv --set csv={} --set num_frames=4 --set height=16 "
      "--set width=16 --vae {} --out {}",
      (kClips / "clips.csv").string(), kTinyVae.string(), (dir / "shards").string())));
  ASSERT_EQ(exported.exit_code, 0) << exported.output;
  std::ofstream(dir / "pixels.toml") << Manifest(dir / "shards", 3);
  auto run = RunCli(
      Cli(fmt::format("run {} --out {}", (dir / "pixels.toml").string(), (dir / "runs").string())));
  EXPECT_EQ(run.exit_code, 2) << run.output;
  EXPECT_NE(run.output.find("makes 4-channel latents but the model"), std::string::npos)
      << run.output;
  EXPECT_NE(run.output.find("takes 3 input channels"), std::string::npos) << run.output;
}

TEST(VaeCli, EncodesAClipAndDecodesItToVideosAndTensors) {
  TempDir dir;
  const std::string vae = "--vae " + kTinyVae.string();
  auto encoded = RunCli(
      Cli(fmt::format("vae encode {} --in {} --out {}", vae, (kClips / "landscape.mp4").string(),
                      (dir / "z.safetensors").string())));
  ASSERT_EQ(encoded.exit_code, 0) << encoded.output;
  // 10 frames of 24x32: 5 + ... latent frames, 3x4 latents.
  SafetensorsFile z = SafetensorsFile::Open(dir / "z.safetensors");
  EXPECT_EQ(z.Shape("z"), (std::vector<int64_t>{1, 4, 3, 3, 4}));
  EXPECT_EQ(z.metadata().at("num_frames"), "10");
  EXPECT_EQ(z.metadata().at("posterior"), "mean");

  auto mp4 = RunCli(Cli(fmt::format("vae decode {} --in {} --out {}", vae,
                                    (dir / "z.safetensors").string(), (dir / "x.mp4").string())));
  ASSERT_EQ(mp4.exit_code, 0) << mp4.output;
  EXPECT_NE(mp4.output.find("h264"), std::string::npos) << mp4.output;
  EXPECT_EQ(ReadVideo(dir / "x.mp4").video.sizes().vec(), (std::vector<int64_t>{3, 10, 24, 32}));
  auto gif = RunCli(Cli(fmt::format("vae decode {} --in {} --out {}", vae,
                                    (dir / "z.safetensors").string(), (dir / "x.gif").string())));
  ASSERT_EQ(gif.exit_code, 0) << gif.output;
  EXPECT_TRUE(fs::exists(dir / "x.gif"));
  auto tensors =
      RunCli(Cli(fmt::format("vae decode {} --in {} --out {}", vae,
                             (dir / "z.safetensors").string(), (dir / "x.safetensors").string())));
  ASSERT_EQ(tensors.exit_code, 0) << tensors.output;
  EXPECT_EQ(SafetensorsFile::Open(dir / "x.safetensors").Shape("x"),
            (std::vector<int64_t>{1, 3, 10, 24, 32}));

  // Sampled encodings: one seed, one result.
  for (const char* name : {"s1", "s2"}) {
    auto s = RunCli(Cli(fmt::format("vae encode {} --in {} --seed 4 --out {}", vae,
                                    (kClips / "portrait.mp4").string(),
                                    (dir / (std::string(name) + ".safetensors")).string())));
    ASSERT_EQ(s.exit_code, 0) << s.output;
  }
  EXPECT_EQ(ReadFile(dir / "s1.safetensors"), ReadFile(dir / "s2.safetensors"));

  auto info = RunCli(Cli(fmt::format("vae info {}", vae)));
  ASSERT_EQ(info.exit_code, 0) << info.output;
  EXPECT_NE(info.output.find("\"latent_channels\": 4"), std::string::npos) << info.output;
}

TEST(VaeCli, OddSizesAreFittedAndBadInputIsExplained) {
  TempDir dir;
  const std::string vae = "--vae " + kTinyVae.string();
  WriteSafetensors(dir / "odd.safetensors",
                   {{"pixels", torch::rand({3, 5, 20, 30}) * 2 - 1}, {"y", torch::zeros({1})}});
  auto cropped = RunCli(
      Cli(fmt::format("vae encode {} --in {} --key pixels --out {}", vae,
                      (dir / "odd.safetensors").string(), (dir / "c.safetensors").string())));
  ASSERT_EQ(cropped.exit_code, 0) << cropped.output;
  EXPECT_NE(cropped.output.find("20x30 frames cropped to 16x24"), std::string::npos)
      << cropped.output;
  auto padded = RunCli(
      Cli(fmt::format("vae encode {} --in {} --key pixels --fit pad --out {}", vae,
                      (dir / "odd.safetensors").string(), (dir / "p.safetensors").string())));
  ASSERT_EQ(padded.exit_code, 0) << padded.output;
  EXPECT_EQ(SafetensorsFile::Open(dir / "p.safetensors").Shape("z"),
            (std::vector<int64_t>{1, 4, 2, 3, 4}));

  // Two tensors, neither named x: which one is meant?
  auto no_key = RunCli(
      Cli(fmt::format("vae encode {} --in {} --out {}", vae, (dir / "odd.safetensors").string(),
                      (dir / "n.safetensors").string())));
  EXPECT_EQ(no_key.exit_code, 2);
  EXPECT_NE(no_key.output.find("name one with --key"), std::string::npos) << no_key.output;
  auto frames =
      RunCli(Cli(fmt::format("vae decode {} --in {} --num-frames 17 --out {}", vae,
                             (dir / "c.safetensors").string(), (dir / "x.gif").string())));
  EXPECT_EQ(frames.exit_code, 2);
  EXPECT_NE(frames.output.find("do not decode to 17 frames"), std::string::npos) << frames.output;
  auto missing = RunCli(Cli("vae info --vae /nonexistent/vae"));
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.output.find("/nonexistent/vae"), std::string::npos) << missing.output;
  auto extension =
      RunCli(Cli(fmt::format("vae decode {} --in {} --out {}", vae,
                             (dir / "c.safetensors").string(), (dir / "x.webp").string())));
  EXPECT_EQ(extension.exit_code, 2);
}

}  // namespace
}  // namespace modelgrow
