// Samples per second of the data pipelines, read directly and through the host's loader with
// 0, 1 and 2 prefetching workers (items_per_second = samples/s). Videos for video_csv are made
// with the ffmpeg CLI at start, in a temporary folder.
#include <cstdlib>
#include <filesystem>
#include <memory>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "modelgrow/data/export.h"
#include "modelgrow/data/loader.h"
#include "modelgrow/host/plugin_registry.h"
#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/sdk/data_pipeline.h"
#include "modelgrow/sdk/options.h"

namespace modelgrow {
namespace {

namespace fs = std::filesystem;

const PluginRegistry& Plugins() {
  static const PluginRegistry* registry = [] {
    auto* r = new PluginRegistry();
    r->LoadFrom(PluginRegistry::SearchPath({}));
    return r;
  }();
  return *registry;
}

// Constructed from its options and opened, as a run does.
std::shared_ptr<DataPipeline> Make(const std::string& plugin, const std::string& toml) {
  PluginContext context{Options::ParseString(toml, plugin)};
  std::shared_ptr<DataPipeline> pipeline = Plugins().MakeDataPipeline(plugin, context);
  pipeline->Open();
  return pipeline;
}

// A scratch folder removed at exit.
const fs::path& Scratch() {
  static const fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / fmt::format("modelgrow-data-bench-{}", ::getpid());
    fs::create_directories(d);
    std::atexit([] {
      fs::remove_all(fs::temp_directory_path() /
                     fmt::format("modelgrow-data-bench-{}", ::getpid()));
    });
    return d;
  }();
  return dir;
}

const char kSyntheticSmall[] = "domain = \"continual\"\nsize = 4096";
const char kSyntheticLarge[] =
    "domain = \"continual\"\nsize = 4096\nframes = 16\nheight = 128\nwidth = 128";

void BM_SyntheticGet(benchmark::State& state) {
  auto p = Make("synthetic", state.range(0) ? kSyntheticLarge : kSyntheticSmall);
  int64_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(p->Get(i++ % p->size()));
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(state.range(0) ? "3x16x128x128" : "3x8x32x32");
}
BENCHMARK(BM_SyntheticGet)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();

// Batches of 8 through the loader; workers = range(1).
void RunLoader(benchmark::State& state, std::shared_ptr<DataPipeline> p, const std::string& label) {
  LoaderOptions o;
  o.batch_size = 8;
  o.workers = static_cast<int>(state.range(1));
  o.prefetch_batches = 4;
  DataLoader loader(p, o);
  for (auto _ : state) benchmark::DoNotOptimize(loader.Next());
  state.SetItemsProcessed(state.iterations() * o.batch_size);
  state.SetLabel(fmt::format("{}, {} workers", label, o.workers));
}

void BM_SyntheticLoader(benchmark::State& state) {
  RunLoader(state, Make("synthetic", state.range(0) ? kSyntheticLarge : kSyntheticSmall),
            state.range(0) ? "3x16x128x128" : "3x8x32x32");
}
BENCHMARK(BM_SyntheticLoader)
    ->ArgsProduct({{0, 1}, {0, 1, 2}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// 512 synthetic samples exported once (3x16x128x128: 3 MB each), then read back.
const fs::path& Shards() {
  static const fs::path dir = [] {
    fs::path d = Scratch() / "shards";
    auto source = Make(
        "synthetic", "domain = \"continual\"\nsize = 256\nframes = 16\nheight = 128\nwidth = 128");
    ExportDataset(*source, d, 64);
    return d;
  }();
  return dir;
}

void BM_Hdf5Get(benchmark::State& state) {
  auto p = Make("hdf5", fmt::format("path = \"{}\"", Shards().string()));
  int64_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(p->Get((i++ * 37) % p->size()));
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * 3 * 16 * 128 * 128 * 4);
  state.SetLabel("3x16x128x128 float32");
}
BENCHMARK(BM_Hdf5Get)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_Hdf5Loader(benchmark::State& state) {
  RunLoader(state, Make("hdf5", fmt::format("path = \"{}\"", Shards().string())), "3x16x128x128");
}
BENCHMARK(BM_Hdf5Loader)
    ->ArgsProduct({{0}, {0, 1, 2}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_Export(benchmark::State& state) {
  auto source = Make("synthetic",
                     "domain = \"continual\"\nsize = 64\nframes = 16\nheight = 128\nwidth = 128");
  ExportOptions o;
  o.compression = static_cast<int>(state.range(0));
  o.overwrite = true;
  for (auto _ : state) ExportDataset(*source, Scratch() / "export", 32, o);
  state.SetItemsProcessed(state.iterations() * 64);
  state.SetLabel(fmt::format("synthetic 3x16x128x128 -> shards, gzip {}", o.compression));
}
BENCHMARK(BM_Export)->Arg(0)->Arg(4)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

// Eight 2-second 320x240 clips at 25 fps (H.264 if the ffmpeg CLI has it, else MPEG-4).
std::string VideoCsv() {
  static const std::string csv = [] {
    fs::path d = Scratch() / "videos";
    fs::create_directories(d);
    std::string codec =
        std::system(
            "ffmpeg -v error -hide_banner -h encoder=libx264 2>/dev/null | grep -q libx264") == 0
            ? "-c:v libx264 -preset veryfast"
            : "-c:v mpeg4 -q:v 4";
    std::string rows = "path,text,num_frames,height,width,aspect_ratio,fps\n";
    for (int k = 0; k < 8; ++k) {
      std::string file = fmt::format("clip{}.mp4", k);
      std::string command = fmt::format(
          "ffmpeg -v error -y -f lavfi -i testsrc=size=320x240:rate=25 -frames:v 50 {} "
          "-pix_fmt yuv420p {}",
          codec, (d / file).string());
      if (std::system(command.c_str()) != 0) return std::string();
      rows += fmt::format("{},clip {},50,240,320,0.75,25\n", file, k);
    }
    WriteFileAtomic(d / "clips.csv", rows);
    return (d / "clips.csv").string();
  }();
  return csv;
}

const char kVideoOptions[] = "num_frames = 16\nframe_interval = 2\nheight = 128\nwidth = 128";

void BM_VideoCsvGet(benchmark::State& state) {
  std::string csv = VideoCsv();
  if (csv.empty()) {
    state.SkipWithError("the ffmpeg CLI could not make test videos");
    return;
  }
  auto p = Make("video_csv", fmt::format("csv = \"{}\"\n{}", csv, kVideoOptions));
  int64_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(p->Get(i++ % p->size()));
  state.SetItemsProcessed(state.iterations());
  state.SetLabel("320x240 25 fps -> 3x16x128x128, interval 2");
}

void BM_VideoCsvLoader(benchmark::State& state) {
  std::string csv = VideoCsv();
  if (csv.empty()) {
    state.SkipWithError("the ffmpeg CLI could not make test videos");
    return;
  }
  RunLoader(state, Make("video_csv", fmt::format("csv = \"{}\"\n{}", csv, kVideoOptions)),
            "320x240 -> 3x16x128x128");
}

// Registered only when the plugin was built.
const bool kVideoRegistered = [] {
  for (const PluginInfo& info : Plugins().List(PluginKind::kData)) {
    if (info.name != "video_csv") continue;
    benchmark::RegisterBenchmark("BM_VideoCsvGet", BM_VideoCsvGet)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
    benchmark::RegisterBenchmark("BM_VideoCsvLoader", BM_VideoCsvLoader)
        ->ArgsProduct({{0}, {0, 1, 2}})
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  }
  return true;
}();

}  // namespace
}  // namespace modelgrow

BENCHMARK_MAIN();
