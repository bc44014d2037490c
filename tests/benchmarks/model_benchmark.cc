// STDiT3 speed: forward and forward+backward (a training step's compute) per preset, in tokens/s.
// CPU runs the small presets; with CUDA, XL/2 too (fp32 and bf16).
//   build/bin/model_benchmark --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include "modelgrow/base/threads.h"
#include "modelgrow/diffusion/rectified_flow.h"
#include "modelgrow/model/precision.h"
#include "modelgrow/model/stdit3.h"

namespace modelgrow {
namespace {

struct Setup {
  STDiT3 model{nullptr};
  ModelInput input;
  torch::Tensor noise, t;
  int64_t tokens = 0;
};

// A batch shaped like the experiments': `frames` x `height` x `width` videos (pixels or
// latents).
Setup Make(const std::string& preset, int64_t batch, int64_t frames, int64_t height, int64_t width,
           c10::Device device) {
  ConfigureThreads(0);
  torch::manual_seed(0);
  Setup s;
  STDiT3Config c = PresetConfig(preset);
  s.model = STDiT3(c);
  s.model->to(device);
  s.input.x = torch::randn({batch, c.in_channels, frames, height, width}, device);
  s.input.timestep = torch::full({batch}, 500.0f, device);
  s.input.fps = torch::full({batch}, 24.0f, device);
  s.input.text = {
      {torch::randn({batch, c.model_max_length, c.caption_channels}, device),
       torch::ones({batch, c.model_max_length}, torch::TensorOptions(device).dtype(torch::kBool))}};
  s.noise = torch::randn_like(s.input.x);
  s.t = s.input.timestep;
  s.tokens = batch * frames * ((height + c.patch_size[1] - 1) / c.patch_size[1]) *
             ((width + c.patch_size[2] - 1) / c.patch_size[2]);
  return s;
}

void Sync(c10::Device device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

void Forward(benchmark::State& state, const std::string& preset, int64_t batch, int64_t frames,
             int64_t height, int64_t width, bool cuda, bool bf16) {
  c10::Device device =
      cuda ? c10::Device(c10::DeviceType::CUDA, 0) : c10::Device(c10::DeviceType::CPU);
  if (cuda && !torch::cuda::is_available()) {
    state.SkipWithError("no CUDA device");
    return;
  }
  Setup s = Make(preset, batch, frames, height, width, device);
  s.model->eval();
  torch::NoGradGuard no_grad;
  PrecisionScope precision(bf16 ? torch::kBFloat16 : torch::kFloat);
  for (auto _ : state) {
    benchmark::DoNotOptimize(s.model->forward(s.input));
    Sync(device);
  }
  state.counters["tokens/s"] = benchmark::Counter(
      static_cast<double>(s.tokens * state.iterations()), benchmark::Counter::kIsRate);
  state.counters["params"] = static_cast<double>(s.model->NumParameters());
}

void TrainStep(benchmark::State& state, const std::string& preset, int64_t batch, int64_t frames,
               int64_t height, int64_t width, bool cuda, bool bf16) {
  c10::Device device =
      cuda ? c10::Device(c10::DeviceType::CUDA, 0) : c10::Device(c10::DeviceType::CPU);
  if (cuda && !torch::cuda::is_available()) {
    state.SkipWithError("no CUDA device");
    return;
  }
  Setup s = Make(preset, batch, frames, height, width, device);
  s.model->set_activation_checkpointing(cuda && preset == "STDiT3-XL/2");
  RectifiedFlow flow;
  PrecisionScope precision(bf16 ? torch::kBFloat16 : torch::kFloat);
  for (auto _ : state) {
    s.model->zero_grad();
    torch::Tensor loss = flow.TrainingLoss(*s.model, s.input, s.noise, s.t).mean();
    loss.backward();
    Sync(device);
  }
  state.counters["tokens/s"] = benchmark::Counter(
      static_cast<double>(s.tokens * state.iterations()), benchmark::Counter::kIsRate);
  state.counters["samples/s"] = benchmark::Counter(static_cast<double>(batch * state.iterations()),
                                                   benchmark::Counter::kIsRate);
}

// The quickstart's shape: batch 16 of 3x8x16x16 pixel videos.
BENCHMARK_CAPTURE(Forward, T2_quickstart, "STDiT3-T/2", 16, 8, 16, 16, false, false)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(TrainStep, T2_quickstart, "STDiT3-T/2", 16, 8, 16, 16, false, false)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(TrainStep, T2_32px, "STDiT3-T/2", 8, 8, 32, 32, false, false)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(Forward, S2_32px, "STDiT3-S/2", 8, 8, 32, 32, false, false)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(TrainStep, S2_32px, "STDiT3-S/2", 8, 8, 32, 32, false, false)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(TrainStep, M2_32px, "STDiT3-M/2", 4, 8, 32, 32, false, false)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(TrainStep, S2_32px_bf16_cpu, "STDiT3-S/2", 8, 8, 32, 32, false, true)
    ->Unit(benchmark::kMillisecond);
// Open-Sora 1.2's training shape on a GPU: 51 frames of 240p -> 15 x 30 x 53 latents.
BENCHMARK_CAPTURE(Forward, XL2_cuda_fp32, "STDiT3-XL/2", 2, 15, 30, 53, true, false)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(TrainStep, XL2_cuda_fp32, "STDiT3-XL/2", 2, 15, 30, 53, true, false)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(TrainStep, XL2_cuda_bf16, "STDiT3-XL/2", 2, 15, 30, 53, true, true)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace modelgrow

BENCHMARK_MAIN();
