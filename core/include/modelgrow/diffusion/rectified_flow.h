// Rectified flow as Open-Sora 1.2 trains and samples it (opensora/schedulers/rf).
//
// Training: t ~ logit-normal (or uniform) in [0, 1000], optionally shifted by resolution and
// length; x_t = (1 - t/1000) x0 + (t/1000) noise; the model predicts v = x0 - noise; MSE.
// Sampling: Euler steps from t = 1000 down, classifier-free guidance over every text condition.
//
// One deliberate difference: upstream's length term uses num_frames // 17 * 5 latent frames,
// which is 0 for clips of 2 to 16 frames and turns every t into 0. Here the length term is the
// model input's own frame count (latent frames): identical for the 17k-frame clips Open-Sora
// uses, and never 0.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <nlohmann/json.hpp>

#include "modelgrow/model/stdit3.h"

namespace modelgrow {

class Options;

struct RectifiedFlowConfig {
  int64_t num_timesteps = 1000;
  std::string sample_method = "logit-normal";  // or "uniform"
  double loc = 0.0;                            // logit-normal location and scale
  double scale = 1.0;
  bool use_timestep_transform = false;  // the resolution/length shift
  double transform_scale = 1.0;
  double base_resolution = 512.0 * 512.0;
  int64_t num_sampling_steps = 30;
  double cfg_scale = 7.0;

  static RectifiedFlowConfig FromOptions(const Options& table);
  // The form checkpoints record it in (what sampling must use to match training).
  nlohmann::json ToJson() const;
  // Missing fields keep their defaults; InputError for fields of the wrong type.
  static RectifiedFlowConfig FromJson(const nlohmann::json& j);
};

class RectifiedFlow {
 public:
  explicit RectifiedFlow(RectifiedFlowConfig config = {});
  const RectifiedFlowConfig& config() const { return config_; }

  // The shift t' = r t / (1 + (r - 1) t) on t/1000, r = sqrt(H W / base) * sqrt(frames) * scale.
  at::Tensor TransformTimesteps(const at::Tensor& t, double height, double width,
                                int64_t latent_frames) const;

  // [B] training timesteps in [0, num_timesteps], shifted when configured.
  at::Tensor SampleTimesteps(int64_t batch, double height, double width, int64_t latent_frames,
                             at::Generator& generator) const;

  // (1 - t/N) x0 + (t/N) noise, t broadcast over [B, C, T, H, W].
  at::Tensor AddNoise(const at::Tensor& x0, const at::Tensor& noise, const at::Tensor& t) const;

  // Per-sample loss [B]: mean squared error of the predicted velocity against x0 - noise. With a
  // frame mask [B, T] (true = frame to predict), unmasked frames are given clean (timestep 0)
  // and left out of the mean. `input.x` holds x0; its timestep is replaced by `t`.
  at::Tensor TrainingLoss(STDiT3Impl& model, ModelInput input, const at::Tensor& noise,
                          const at::Tensor& t, const at::Tensor& frame_mask = {}) const;

  // The sampling schedule: num_sampling_steps timesteps from num_timesteps down (shifted).
  std::vector<at::Tensor> SamplingTimesteps(int64_t batch, double height, double width,
                                            int64_t latent_frames) const;

  // Euler sampling with classifier-free guidance over all conditions. `noise` is z_T; `text` the
  // conditions (one per model condition); the null caption of condition k is the model's
  // NullCaption(k) with the prompt's mask, as Open-Sora does. Returns z_0 (velocity channels).
  using StepCallback = std::function<void(int64_t step, int64_t total)>;
  at::Tensor Sample(STDiT3Impl& model, const at::Tensor& noise, const std::vector<TextInput>& text,
                    const at::Tensor& fps, double height, double width,
                    const StepCallback& on_step = nullptr) const;

  // The velocity part of a model output (the first in_channels channels).
  static at::Tensor Velocity(const at::Tensor& output, int64_t in_channels);

 private:
  RectifiedFlowConfig config_;
};

}  // namespace modelgrow
