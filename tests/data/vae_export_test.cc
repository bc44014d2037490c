// Real clips in, latent shards out: video_csv (bucketed) through the tiny Open-Sora VAE into HDF5
// shards; a killed export resumed; corrupt videos counted; the loader over mixed latent shapes.
#include <fstream>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "modelgrow/data/export.h"
#include "modelgrow/data/fit_frames.h"
#include "modelgrow/data/loader.h"
#include "modelgrow/data/video_shard_reader.h"
#include "modelgrow/host/plugin_registry.h"
#include "modelgrow/host/vae_loading.h"
#include "modelgrow/sdk/atomic_file.h"
#include "test_paths.h"
#include "test_util.h"

namespace modelgrow {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using testing::TempDir;

const fs::path kPlugins = MODELGROW_PLUGIN_DIR;

const PluginRegistry& Registry() {
  static PluginRegistry* registry = [] {
    auto* r = new PluginRegistry();
    r->LoadFrom({kPlugins});
    return r;
  }();
  return *registry;
}

std::shared_ptr<VideoAutoencoder> TinyVae() {
  static std::shared_ptr<VideoAutoencoder> vae =
      LoadVae(Registry(), "opensora_vae",
              Options::ParseString(
                  fmt::format("path = \"{}\"",
                              (kPlugins / "vae_opensora.data" / "opensora_vae_tiny").string()),
                  "test"),
              c10::Device(c10::DeviceType::CPU));
  return vae;
}

// `rows` rows cycling over the two example clips (10 frames 24x32, 8 frames 32x24); row
// `corrupt` names a file that is not a video.
fs::path WriteCsv(const TempDir& dir, int rows, int corrupt) {
  const fs::path examples = kPlugins / "data_video_csv.data";
  fs::copy_file(examples / "landscape.mp4", dir / "landscape.mp4");
  fs::copy_file(examples / "portrait.mp4", dir / "portrait.mp4");
  std::ofstream(dir / "broken.mp4") << "not a video at all";
  std::ofstream csv(dir / "clips.csv");
  csv << "path,text,num_frames,height,width\n";
  for (int i = 0; i < rows; ++i) {
    if (i == corrupt) {
      csv << "broken.mp4,a broken file,10,24,32\n";
    } else if (i % 2 == 0) {
      csv << "landscape.mp4,landscape " << i << ",10,24,32\n";
    } else {
      csv << "portrait.mp4,portrait " << i << ",8,32,24\n";
    }
  }
  return dir / "clips.csv";
}

std::shared_ptr<DataPipeline> Clips(const fs::path& csv) {
  PluginContext context;
  context.options = Options::ParseString(fmt::format(R"(csv = "{}"
clip_start = "start"
buckets = {{ tiny = {{ "1" = 1.0, "4" = 1.0, "8" = 1.0 }} }}
resolutions = {{ tiny = {{ area = 512, "0.50" = [16, 32], "2.00" = [32, 16] }} }}
)",
                                                     csv.string()),
                                         "clips");
  std::shared_ptr<DataPipeline> pipeline = Registry().MakeDataPipeline("video_csv", context);
  pipeline->Open();
  return pipeline;
}

ExportOptions ThroughVae() {
  ExportOptions options;
  options.vae = TinyVae();
  options.vae_record = {{"plugin", "opensora_vae"}};
  options.workers = 2;
  options.source = {{"plugin", "video_csv"}};
  return options;
}

std::vector<Sample> ReadAll(const fs::path& folder) {
  std::vector<Sample> out;
  std::vector<fs::path> files;
  for (const auto& f : fs::directory_iterator(folder)) {
    if (f.path().extension() == ".h5") files.push_back(f.path());
  }
  std::sort(files.begin(), files.end());
  for (const fs::path& f : files) {
    auto shard = VideoShardReader::Open(f);
    EXPECT_TRUE(shard->latent()) << f;
    for (int64_t i = 0; i < shard->size(); ++i) out.push_back(shard->Read(i));
  }
  return out;
}

TEST(VaeExport, WritesEachClipsLatentsAtItsBucketsSize) {
  TempDir dir;
  ExportResult result = ExportDataset(*Clips(WriteCsv(dir, 2, -1)), dir / "out", 8, ThroughVae());
  EXPECT_EQ(result.written, 2);
  std::vector<Sample> samples = ReadAll(dir / "out");
  ASSERT_EQ(samples.size(), 2u);
  // 8-frame buckets: 2 latent frames; 16x32 and 32x16 pixels: 2x4 and 4x2 latents.
  EXPECT_EQ(samples[0].video.sizes().vec(), (std::vector<int64_t>{4, 2, 2, 4}));
  EXPECT_EQ(samples[1].video.sizes().vec(), (std::vector<int64_t>{4, 2, 4, 2}));
  EXPECT_EQ(samples[0].height, 16);
  EXPECT_EQ(samples[0].width, 32);
  EXPECT_EQ(samples[0].captions.at("short"), "landscape 0");
  EXPECT_EQ(samples[1].labels["bucket"], "tiny/8/2.00");
  json manifest = json::parse(ReadFile(dir / "out" / "export.json"));
  EXPECT_TRUE(manifest["latent"].get<bool>());
  EXPECT_EQ(manifest["vae"]["latent_channels"], 4);
  EXPECT_EQ(manifest["vae"]["posterior"]["sample"], false);
  EXPECT_EQ(manifest["shapes"]["[4, 2, 2, 4]"], 1);
  EXPECT_EQ(manifest["pipeline_summary"]["buckets"]["tiny/8/0.50"], 1);
  EXPECT_FALSE(fs::exists(dir / "out" / "export.progress.json"));
  // The latents are the VAE's own encoding of the decoded clip.
  Sample clip = Clips(dir / "clips.csv")->Get(0);
  torch::Tensor z = TinyVae()->Encode(clip.video.unsqueeze(0), {})[0];
  EXPECT_TRUE(torch::equal(z, samples[0].video));
}

TEST(VaeExport, AKilledExportResumesToTheSameShardsAndCountsTheCorruptVideo) {
  TempDir dir;
  fs::path csv = WriteCsv(dir, 7, 3);
  ExportOptions options = ThroughVae();
  options.vae_options.sample = true;  // sampled latents: the resumed run must draw the same noise
  options.vae_options.seed = 5;
  ExportResult whole = ExportDataset(*Clips(csv), dir / "whole", 2, options);
  EXPECT_EQ(whole.written, 6);
  EXPECT_EQ(whole.skipped, 1);
  EXPECT_EQ(whole.skipped_indices, std::vector<int64_t>{3});

  // Killed after its second shard.
  ExportOptions killed = options;
  killed.progress = [](const ExportProgress& p) {
    if (p.shards == 2) throw std::runtime_error("killed");
  };
  EXPECT_THROW(ExportDataset(*Clips(csv), dir / "resumed", 2, killed), std::runtime_error);
  EXPECT_TRUE(fs::exists(dir / "resumed" / "export.progress.json"));
  EXPECT_FALSE(fs::exists(dir / "resumed" / "export.json"));
  // Without --resume the folder is refused, and says how to go on.
  EXPECT_THROW_WITH(ExportDataset(*Clips(csv), dir / "resumed", 2, options), InputError,
                    "--resume");
  ExportOptions resume = options;
  resume.resume = true;
  ExportResult rest = ExportDataset(*Clips(csv), dir / "resumed", 2, resume);
  EXPECT_GT(rest.resumed_at, 0);
  EXPECT_EQ(rest.written, whole.written);
  EXPECT_EQ(rest.skipped_indices, whole.skipped_indices);
  EXPECT_EQ(rest.shards.size(), whole.shards.size());

  std::vector<Sample> a = ReadAll(dir / "whole"), b = ReadAll(dir / "resumed");
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(torch::equal(a[i].video, b[i].video)) << "sample " << i;
    EXPECT_EQ(a[i].captions, b[i].captions);
    EXPECT_EQ(a[i].labels, b[i].labels);
  }
  json ma = json::parse(ReadFile(dir / "whole" / "export.json"));
  json mb = json::parse(ReadFile(dir / "resumed" / "export.json"));
  for (const char* key : {"samples", "skipped", "skipped_indices", "shards", "shapes", "vae"})
    EXPECT_EQ(ma[key], mb[key]) << key;

  // Another VAE seed is another export: resuming with it is refused.
  resume.vae_options.seed = 6;
  killed.vae_options.seed = 6;
  EXPECT_THROW(ExportDataset(*Clips(csv), dir / "other", 2, killed), std::runtime_error);
  resume.vae_options.seed = 5;
  EXPECT_THROW_WITH(ExportDataset(*Clips(csv), dir / "other", 2, resume), InputError,
                    "other options");
}

TEST(VaeExport, TheLoaderBatchesEachLatentShapeAloneAndResumesExactly) {
  TempDir dir;
  ExportDataset(*Clips(WriteCsv(dir, 12, -1)), dir / "out", 4, ThroughVae());
  PluginContext context;
  context.options =
      Options::ParseString(fmt::format("path = \"{}\"", (dir / "out").string()), "shards");
  std::shared_ptr<DataPipeline> shards = Registry().MakeDataPipeline("hdf5", context);
  shards->Open();
  LoaderOptions lo;
  lo.batch_size = 2;
  lo.seed = 3;
  lo.workers = 2;
  DataLoader loader(shards, lo);
  EXPECT_EQ(loader.batches_per_epoch(), 6);
  std::set<std::vector<int64_t>> shapes;
  std::vector<Batch> first;
  for (int i = 0; i < 6; ++i) {
    Batch b = loader.Next();
    shapes.insert(b.video.sizes().vec());
    EXPECT_EQ(b.video.size(0), 2);
    for (int64_t index : b.indices) EXPECT_EQ(index % 2, b.indices[0] % 2) << "one shape a batch";
    first.push_back(std::move(b));
  }
  EXPECT_EQ(shapes.size(), 2u);  // both buckets were trained on
  LoaderPosition saved = loader.position();
  Batch next = loader.Next();
  DataLoader resumed(shards, lo);
  resumed.Restore(saved);
  Batch again = resumed.Next();
  EXPECT_EQ(again.indices, next.indices);
  EXPECT_TRUE(torch::equal(again.video, next.video));
}

TEST(FitFrames, CropsCentredOrPadsWithTheEdges) {
  torch::Tensor v = torch::arange(20 * 26, torch::kFloat).view({1, 1, 20, 26});
  torch::Tensor cropped = FitFrames(v, 8, FitMode::kCrop);
  EXPECT_EQ(cropped.sizes().vec(), (std::vector<int64_t>{1, 1, 16, 24}));
  EXPECT_EQ(cropped[0][0][0][0].item<float>(), v[0][0][2][1].item<float>());
  torch::Tensor padded = FitFrames(v, 8, FitMode::kPad);
  EXPECT_EQ(padded.sizes().vec(), (std::vector<int64_t>{1, 1, 24, 32}));
  EXPECT_EQ(padded[0][0][23][31].item<float>(), v[0][0][19][25].item<float>());
  EXPECT_TRUE(torch::equal(FitFrames(cropped, 8, FitMode::kPad), cropped));
  EXPECT_THROW_WITH(FitFrames(torch::zeros({1, 5, 30}), 8, FitMode::kCrop), InputError, "5x30",
                    "--fit pad");
  EXPECT_THROW_WITH(ParseFitMode("stretch"), InputError, "\"crop\" or \"pad\"");
}

}  // namespace
}  // namespace modelgrow
