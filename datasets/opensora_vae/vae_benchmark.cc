// Speed of Open-Sora 1.2's VAE at full size (random weights): encode and decode of 240p clips,
// 17 frames of 240x424 (Open-Sora's 240p 9:16 bucket, 240x426, cropped to multiples of 8), in
// frames/s. CPU always; CUDA too when built with it and a GPU is present.
//   build/bin/vae_benchmark --benchmark_counters_tabular=true
// The weights folder (~1 GB, the real checkpoint's layout and config.json) is written once into
// the working directory's vae_benchmark_weights/. docs/vae.md puts the reference's speed beside it.
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <fstream>

#include "modelgrow/sdk/safetensors.h"
#include "opensora_vae.h"

namespace modelgrow::vae {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kFrames = 17, kHeight = 240, kWidth = 424;

// Open-Sora's own config.json for hpcai-tech/OpenSora-VAE-v1.2, with random weights.
fs::path Weights() {
  fs::path folder = fs::current_path() / "vae_benchmark_weights";
  if (fs::exists(folder / "model.safetensors")) return folder;
  fs::create_directories(folder);
  torch::manual_seed(0);
  AutoencoderKL spatial(AutoencoderKLConfig::Sdxl());
  TemporalVae temporal(TemporalVaeConfig::Sd());
  NamedTensors tensors;
  for (const auto& p : spatial->named_parameters())
    tensors.emplace_back("spatial_vae.module." + p.key(), p.value().detach());
  for (const auto& p : temporal->named_parameters())
    tensors.emplace_back("temporal_vae." + p.key(), p.value().detach());
  tensors.emplace_back("scale", torch::tensor({3.85, 2.32, 2.33, 3.06}).view({1, 4, 1, 1, 1}));
  tensors.emplace_back("shift", torch::tensor({-0.10, 0.34, 0.27, 0.98}).view({1, 4, 1, 1, 1}));
  WriteSafetensors(folder / "model.safetensors", tensors);
  std::ofstream(folder / "config.json") << R"({
  "architectures": ["VideoAutoencoderPipeline"], "model_type": "VideoAutoencoderPipeline",
  "cal_loss": false, "freeze_vae_2d": false, "from_pretrained": null, "micro_frame_size": 17,
  "scale": [3.85, 2.32, 2.33, 3.06], "shift": [-0.1, 0.34, 0.27, 0.98],
  "vae_2d": {"type": "VideoAutoencoderKL", "micro_batch_size": 4, "subfolder": "vae",
             "from_pretrained": "PixArt-alpha/pixart_sigma_sdxlvae_T5_diffusers",
             "local_files_only": true},
  "vae_temporal": {"type": "VAE_Temporal_SD", "from_pretrained": null}
})";
  return folder;
}

std::unique_ptr<OpenSoraVae> Load(c10::Device device, const std::string& dtype) {
  PluginContext context;
  context.options = Options::ParseString(
      fmt::format("path = \"{}\"\ndtype = \"{}\"", Weights().string(), dtype), "benchmark");
  context.device = device;
  auto vae = std::make_unique<OpenSoraVae>(context);
  vae->Load();
  return vae;
}

void Run(benchmark::State& state, c10::Device device, const std::string& dtype, bool encode) {
  if (device.is_cuda() && !torch::cuda::is_available()) {
    state.SkipWithError("no CUDA device");
    return;
  }
  auto vae = Load(device, dtype);
  torch::Tensor clip = torch::rand({1, 3, kFrames, kHeight, kWidth}).to(device) * 2 - 1;
  torch::Tensor z = vae->Encode(clip, {});
  for (auto _ : state) {
    torch::Tensor out = encode ? vae->Encode(clip, {}) : vae->Decode(z, kFrames);
    if (device.is_cuda()) torch::cuda::synchronize();
    benchmark::DoNotOptimize(out.data_ptr());
  }
  state.counters["frames/s"] = benchmark::Counter(static_cast<double>(kFrames),
                                                  benchmark::Counter::kIsIterationInvariantRate);
}

const c10::Device kCpu(c10::DeviceType::CPU);
const c10::Device kCuda(c10::DeviceType::CUDA, 0);

BENCHMARK_CAPTURE(Run, encode_240p_cpu, kCpu, "float32", true)
    ->Unit(benchmark::kSecond)
    ->Iterations(1);
BENCHMARK_CAPTURE(Run, decode_240p_cpu, kCpu, "float32", false)
    ->Unit(benchmark::kSecond)
    ->Iterations(1);
BENCHMARK_CAPTURE(Run, encode_240p_cuda, kCuda, "float32", true)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(Run, decode_240p_cuda, kCuda, "float32", false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(Run, encode_240p_cuda_bf16, kCuda, "bfloat16", true)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(Run, decode_240p_cuda_bf16, kCuda, "bfloat16", false)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace modelgrow::vae

BENCHMARK_MAIN();
