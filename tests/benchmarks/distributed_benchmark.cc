// What data parallelism costs on this machine: Gloo all-reduce over loopback between two ranks
// (two threads of this process, each with its own store client and process group, exactly as two
// processes would talk) against a memcpy of the same bytes. The all-reduce's "bytes/s" counts
// the buffer once per call, as `bytes_per_second` does for the copy, so the ratio says how many
// copies' worth of time one averaging of the gradients costs.
//
//   build/bin/distributed_benchmark [--benchmark_filter=...]
#include <cstring>
#include <memory>
#include <thread>

#include <ATen/ATen.h>
#include <benchmark/benchmark.h>

#include "dist/dist_test_util.h"
#include "modelgrow/dist/communicator.h"

namespace modelgrow {
namespace {

// Rank 1 runs the same number of all-reduces as the timed loop on rank 0 (the iteration count is
// fixed per size, so both know it in advance).
void BM_GlooAllReduce(benchmark::State& state) {
  const int64_t bytes = state.range(0);
  const int64_t iterations = static_cast<int64_t>(state.max_iterations);
  const int port = testing::UnusedPort();
  std::thread peer([&] {
    std::unique_ptr<Communicator> comm =
        Communicator::Join(testing::LocalWorld(1, 2, port), JoinOptions{});
    at::Tensor t = at::ones({bytes / 4}, at::kFloat);
    for (int64_t i = 0; i < iterations + 1; ++i) comm->AllReduceSum(t);
  });
  std::unique_ptr<Communicator> comm =
      Communicator::Join(testing::LocalWorld(0, 2, port), JoinOptions{});
  at::Tensor t = at::ones({bytes / 4}, at::kFloat);
  comm->AllReduceSum(t);  // warm-up: connections and buffers
  for (auto _ : state) {
    comm->AllReduceSum(t);
    benchmark::DoNotOptimize(t.data_ptr<float>());
  }
  peer.join();
  state.SetBytesProcessed(iterations * bytes);
}

void BM_Memcpy(benchmark::State& state) {
  const int64_t bytes = state.range(0);
  std::vector<char> from(bytes, 1), to(bytes, 0);
  for (auto _ : state) {
    std::memcpy(to.data(), from.data(), bytes);
    benchmark::DoNotOptimize(to.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * bytes);
}

// Sizes from one small bucket to DDP's default bucket (25 MB) and beyond.
constexpr int64_t kSizes[][2] = {
    {64 << 10, 400}, {1 << 20, 200}, {4 << 20, 60}, {25 << 20, 12}, {100 << 20, 4}};

int Register() {
  for (const auto& [bytes, iterations] : kSizes) {
    benchmark::RegisterBenchmark("BM_GlooAllReduce", BM_GlooAllReduce)
        ->Arg(bytes)
        ->Iterations(iterations)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("BM_Memcpy", BM_Memcpy)
        ->Arg(bytes)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  return 0;
}
[[maybe_unused]] const int registered = Register();

}  // namespace
}  // namespace modelgrow

BENCHMARK_MAIN();
