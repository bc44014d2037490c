// Growing a model to twice its depth (stack, insert, zero init) on CPU: wall time and memory,
// against the floor any growth must pay, one copy of all the model's parameter bytes into fresh
// memory (malloc + memcpy per tensor). The preservation probe is off here (on STDiT3-XL it is a
// dozen full forward passes); tests measure it.
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

namespace modelgrow {
namespace {

const PluginRegistry& Registry() {
  static PluginRegistry* registry = [] {
    auto* r = new PluginRegistry();
    r->LoadFile(std::filesystem::path(MODELGROW_BUILD_DIR) /
                "lib/modelgrow/plugins/growth_stack.so");
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

// One copy of every parameter into fresh memory: the least any depth doubling can cost.
double CopyAllBytesSeconds(const STDiT3Impl& model) {
  std::vector<void*> copies;
  auto start = std::chrono::steady_clock::now();
  for (const auto& p : model.parameters()) {
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
  GrowthStep step{"stack",
                  Options::ParseString("placement = \"insert\"\ninit = \"zero\"\n", "benchmark")};
  double grow_seconds = 0, copy_seconds = 0, rss_before = 0, rss_after = 0;
  int64_t params = 0, grown_params = 0;
  for (auto _ : state) {
    state.PauseTiming();
    STDiT3 model(PresetConfig(preset));
    params = model->NumParameters();
    copy_seconds += CopyAllBytesSeconds(*model);
    rss_before = CurrentRssGb();
    // Fresh options each time: the host marks keys as read.
    step.options = Options::ParseString("placement = \"insert\"\ninit = \"zero\"\n", "benchmark");
    state.ResumeTiming();

    auto start = std::chrono::steady_clock::now();
    GrowModel(Registry(), *model, {step}, nullptr, 0, probe);
    grow_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    state.PauseTiming();
    rss_after = CurrentRssGb();
    grown_params = model->NumParameters();
    model = nullptr;
    state.ResumeTiming();
  }
  const double n = static_cast<double>(state.iterations());
  state.counters["params"] = static_cast<double>(params);
  state.counters["params_after"] = static_cast<double>(grown_params);
  state.counters["param_GB"] = static_cast<double>(params) * 4 / 1e9;
  state.counters["grow_s"] = grow_seconds / n;
  state.counters["copy_all_bytes_s"] = copy_seconds / n;
  state.counters["ratio_to_copy"] = grow_seconds / copy_seconds;
  state.counters["rss_before_GiB"] = rss_before;
  state.counters["rss_after_GiB"] = rss_after;
  state.counters["peak_rss_GiB"] = PeakRssGb();
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
