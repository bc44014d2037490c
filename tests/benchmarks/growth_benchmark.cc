// Growing a model to twice its depth (stack, insert, zero init) on CPU: wall time and memory,
// against one copy of all the model's parameter bytes, both into fresh memory (malloc + memcpy
// per tensor, page faults included) and into memory already touched (the bandwidth floor). The
// preservation probe is off here (on STDiT3-XL it is a dozen full forward passes); tests measure
// it.
//
//   growth_benchmark --benchmark_filter=S2      # STDiT3-S/2, ~2.3M parameters
//   growth_benchmark --benchmark_filter=XL      # STDiT3-XL/2, 1.2e9 parameters: ~10 GB of RAM
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <vector>

#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "modelgrow/growth/grow.h"
#include "modelgrow/host/plugin_registry.h"
#include "modelgrow/model/stdit3.h"
#include "test_paths.h"

namespace modelgrow {
namespace {

const PluginRegistry& Registry() {
  static PluginRegistry* registry = [] {
    auto* r = new PluginRegistry();
    r->LoadFile(std::filesystem::path(MODELGROW_PLUGIN_DIR) / "growth_stack.so");
    return r;
  }();
  return *registry;
}

double PeakRssGb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / (1024.0 * 1024.0);  // ru_maxrss is in KiB
}

double CurrentRssGb() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / 1e9 /
         1.073741824;
}

// One copy of every parameter's bytes into a buffer already in memory: pure memory bandwidth, the
// floor under any growth that writes that many bytes.
double CopyAllBytesPrefaultedSeconds(const std::vector<torch::Tensor>& params) {
  constexpr size_t kBuffer = size_t{256} << 20;
  std::vector<char> buffer(kBuffer, 1);  // touched, so no page faults below
  auto start = std::chrono::steady_clock::now();
  for (const auto& p : params) {
    const char* src = static_cast<const char*>(p.data_ptr());
    size_t bytes = static_cast<size_t>(p.numel()) * p.element_size();
    for (size_t done = 0; done < bytes; done += kBuffer) {
      std::memcpy(buffer.data(), src + done, std::min(kBuffer, bytes - done));
    }
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  benchmark::DoNotOptimize(buffer.data());
  return seconds;
}

// What LibTorch's block constructor costs for `count` new blocks (its random init included),
// which STDiT3BlockImpl::Copy() pays before copying values in. One block at a time, so the
// memory is reused and this is the constructor's work without page faults.
double ConstructBlocksSeconds(const BlockSpec& spatial, const BlockSpec& temporal, int64_t count) {
  auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < count; ++i) {
    STDiT3Block block(i % 2 == 0 ? spatial : temporal);
    benchmark::DoNotOptimize(block.get());
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// One copy of every parameter into fresh memory (malloc + memcpy per tensor): what cloning the
// model's bytes costs including the page faults of new memory.
double CopyAllBytesSeconds(const std::vector<torch::Tensor>& params) {
  std::vector<void*> copies;
  auto start = std::chrono::steady_clock::now();
  for (const auto& p : params) {
    size_t bytes = static_cast<size_t>(p.numel()) * p.element_size();
    void* dst = std::malloc(bytes);
    std::memcpy(dst, p.data_ptr(), bytes);
    copies.push_back(dst);
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  benchmark::DoNotOptimize(copies.data());
  for (void* p : copies) std::free(p);
  return seconds;
}

void GrowToTwiceTheDepth(benchmark::State& state, const std::string& preset) {
  torch::NoGradGuard no_grad;
  ProbeOptions probe;
  probe.enabled = false;
  double grow_seconds = 0, copy_seconds = 0, floor_seconds = 0, construct_seconds = 0;
  double rss_before = 0, rss_after = 0, peak_rss = 0;
  int64_t params = 0, grown_params = 0;
  for (auto _ : state) {
    state.PauseTiming();
    STDiT3 model(PresetConfig(preset));
    std::vector<torch::Tensor> base_params = model->parameters();
    params = model->NumParameters();
    BlockSpec spatial = model->MakeBlockSpec(false), temporal = model->MakeBlockSpec(true);
    const int64_t new_blocks = model->config().spatial_count() + model->config().temporal_count();
    // A fresh operator each time, constructed as the host does (options only).
    std::vector<GrowthStep> steps = MakeGrowthSteps(
        Registry(),
        {{"stack", Options::ParseString("placement = \"insert\"\ninit = \"zero\"\n", "benchmark")}},
        model->device());
    rss_before = CurrentRssGb();
    state.ResumeTiming();

    // Growth first, so no baseline below has left freed pages for it to reuse.
    auto start = std::chrono::steady_clock::now();
    GrowModel(*model, steps, nullptr, 0, probe);
    grow_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    state.PauseTiming();
    rss_after = CurrentRssGb();
    peak_rss = PeakRssGb();
    grown_params = model->NumParameters();
    floor_seconds += CopyAllBytesPrefaultedSeconds(base_params);
    copy_seconds += CopyAllBytesSeconds(base_params);
    construct_seconds += ConstructBlocksSeconds(spatial, temporal, new_blocks);
    base_params.clear();
    model = nullptr;
    state.ResumeTiming();
  }
  const double n = static_cast<double>(state.iterations());
  state.counters["params"] = static_cast<double>(params);
  state.counters["params_after"] = static_cast<double>(grown_params);
  state.counters["param_GB"] = static_cast<double>(params) * 4 / 1e9;
  state.counters["grow_s"] = grow_seconds / n;
  state.counters["copy_fresh_s"] = copy_seconds / n;
  state.counters["copy_prefaulted_s"] = floor_seconds / n;
  state.counters["construct_new_blocks_s"] = construct_seconds / n;
  state.counters["ratio_to_copy_fresh"] = grow_seconds / copy_seconds;
  state.counters["ratio_to_copy_prefaulted"] = grow_seconds / floor_seconds;
  state.counters["rss_before_GiB"] = rss_before;
  state.counters["rss_after_GiB"] = rss_after;
  state.counters["peak_rss_GiB"] = peak_rss;  // at the end of growth
}

BENCHMARK_CAPTURE(GrowToTwiceTheDepth, S2, std::string("STDiT3-S/2"))
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(GrowToTwiceTheDepth, XL, std::string("STDiT3-XL/2"))
    ->Unit(benchmark::kSecond)
    ->Iterations(1)
    ->UseRealTime();

}  // namespace
}  // namespace modelgrow

BENCHMARK_MAIN();
