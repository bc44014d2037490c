// The function-preservation probe: the same fixed inputs through the model before and after a
// growth step, compared in fp32.
#include <algorithm>
#include <cmath>

#include <ATen/CPUGeneratorImpl.h>

#include "modelgrow/growth/grow.h"
#include "modelgrow/model/precision.h"
#include "modelgrow/sdk/errors.h"

namespace modelgrow {

namespace {

// Condition k's draw gets its own stream, so adding a condition never changes the others'.
at::Generator ProbeGenerator(uint64_t seed, uint64_t stream) {
  return at::detail::createCPUGenerator(seed * 1000003ULL + stream);
}

torch::Tensor Randn(at::IntArrayRef shape, at::Generator& generator, c10::Device device) {
  return at::randn(shape, generator, torch::TensorOptions().dtype(torch::kFloat)).to(device);
}

}  // namespace

std::vector<ModelInput> ProbeInputs(const STDiT3Config& config, const ProbeOptions& probe,
                                    c10::Device device) {
  if (probe.batch <= 0 || probe.frames <= 0 || probe.height <= 0 || probe.width <= 0 ||
      probe.timesteps.empty()) {
    throw InputError(
        "the preservation probe needs a positive batch, frames, height, width and at least one "
        "timestep");
  }
  const int64_t b = probe.batch;
  at::Generator x_gen = ProbeGenerator(probe.seed, 0);
  torch::Tensor x =
      Randn({b, config.in_channels, probe.frames, probe.height, probe.width}, x_gen, device);

  std::vector<TextInput> text;
  for (int64_t k = 0; k < config.num_conditions(); ++k) {
    int64_t tokens = k == 0 ? config.model_max_length : config.extra_conditions[k - 1].token_num;
    int64_t channels =
        k == 0 ? config.caption_channels : config.extra_conditions[k - 1].caption_channels;
    at::Generator gen = ProbeGenerator(probe.seed, 1 + static_cast<uint64_t>(k));
    // Sample 0 uses every token, the others a shrinking prefix: padding masks are part of the
    // function being preserved.
    torch::Tensor mask = torch::ones({b, tokens}, torch::kBool);
    for (int64_t i = 1; i < b; ++i) {
      int64_t valid = std::max<int64_t>(1, tokens / (i + 1));
      mask.index_put_({i, torch::indexing::Slice(valid, torch::indexing::None)}, false);
    }
    text.push_back({Randn({b, tokens, channels}, gen, device), mask.to(device)});
  }

  // Frame 0 kept as conditioning (timestep 0), as image-to-video and extension training do.
  torch::Tensor x_mask = torch::ones({b, probe.frames}, torch::kBool);
  x_mask.index_put_({torch::indexing::Slice(), 0}, false);
  x_mask = x_mask.to(device);

  std::vector<ModelInput> inputs;
  for (int masked = 0; masked < (probe.with_frame_mask ? 2 : 1); ++masked) {
    for (double t : probe.timesteps) {
      ModelInput in;
      in.x = x;
      in.timestep = torch::full({b}, t, torch::TensorOptions().dtype(torch::kFloat)).to(device);
      in.text = text;
      in.fps = torch::full({b}, 24.0, torch::TensorOptions().dtype(torch::kFloat)).to(device);
      if (masked) in.x_mask = x_mask;
      inputs.push_back(std::move(in));
    }
  }
  return inputs;
}

ProbeOutputs RunProbe(STDiT3Impl& model, const ProbeOptions& probe) {
  ProbeOutputs out;
  if (!probe.enabled) return out;
  std::vector<ModelInput> inputs = ProbeInputs(model.config(), probe, model.device());
  const bool was_training = model.is_training();
  model.eval();
  torch::NoGradGuard no_grad;
  try {
    {
      PrecisionScope fp32(torch::kFloat);
      for (const ModelInput& in : inputs) out.fp32.push_back(model.forward(in).to(torch::kCPU));
    }
    if (probe.measure_bf16) {
      PrecisionScope bf16(torch::kBFloat16);
      for (const ModelInput& in : inputs) out.bf16.push_back(model.forward(in).to(torch::kCPU));
    }
  } catch (...) {
    model.train(was_training);
    throw;
  }
  model.train(was_training);
  return out;
}

PreservationError ComparePreservation(const ProbeOutputs& base, const ProbeOutputs& grown,
                                      const ProbeOptions& probe) {
  PreservationError error;
  if (base.fp32.empty() || grown.fp32.empty()) return error;
  if (base.fp32.size() != grown.fp32.size()) {
    throw RunError("preservation probe: the two runs made different numbers of passes");
  }
  auto max_diff = [](const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
    double worst = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      if (!a[i].sizes().equals(b[i].sizes())) {
        throw RunError("preservation probe: the grown model's output has another shape");
      }
      double d = (a[i].to(torch::kDouble) - b[i].to(torch::kDouble)).abs().max().item<double>();
      // NaN must not hide behind std::max.
      if (std::isnan(d)) return d;
      worst = std::max(worst, d);
    }
    return worst;
  };
  double scale = 0;
  for (const at::Tensor& t : base.fp32) scale = std::max(scale, t.abs().max().item<double>());
  error.max_abs = max_diff(grown.fp32, base.fp32);
  error.max_rel = error.max_abs / std::max(scale, 1e-30);
  if (!base.bf16.empty() && base.bf16.size() == grown.bf16.size()) {
    error.max_abs_bf16 = max_diff(grown.bf16, base.bf16);
  }
  error.probe_samples = probe.batch;
  error.timesteps = probe.timesteps;
  error.with_frame_mask = probe.with_frame_mask;
  return error;
}

PreservationError MeasurePreservation(STDiT3Impl& base, STDiT3Impl& grown,
                                      const ProbeOptions& probe) {
  return ComparePreservation(RunProbe(base, probe), RunProbe(grown, probe), probe);
}

}  // namespace modelgrow
