#include "modelgrow/diffusion/rectified_flow.h"

#include <cmath>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/options.h"

namespace modelgrow {

RectifiedFlowConfig RectifiedFlowConfig::FromOptions(const Options& t) {
  RectifiedFlowConfig c;
  c.num_timesteps = t.Int("num_timesteps", c.num_timesteps, {.min = 1});
  c.sample_method = t.Choice("sample_method", c.sample_method, {"logit-normal", "uniform"});
  c.loc = t.Double("loc", c.loc);
  c.scale = t.Double("scale", c.scale, {.min = 0, .min_exclusive = true});
  c.use_timestep_transform = t.Bool("use_timestep_transform", c.use_timestep_transform);
  c.transform_scale =
      t.Double("transform_scale", c.transform_scale, {.min = 0, .min_exclusive = true});
  c.base_resolution = t.Double("base_resolution", c.base_resolution, {.min = 1});
  c.num_sampling_steps =
      t.Int("num_sampling_steps", c.num_sampling_steps, {.min = 1, .max = 10000});
  c.cfg_scale = t.Double("cfg_scale", c.cfg_scale, {.min = 0});
  return c;
}

nlohmann::json RectifiedFlowConfig::ToJson() const {
  return {{"num_timesteps", num_timesteps},
          {"sample_method", sample_method},
          {"loc", loc},
          {"scale", scale},
          {"use_timestep_transform", use_timestep_transform},
          {"transform_scale", transform_scale},
          {"base_resolution", base_resolution},
          {"num_sampling_steps", num_sampling_steps},
          {"cfg_scale", cfg_scale}};
}

RectifiedFlowConfig RectifiedFlowConfig::FromJson(const nlohmann::json& j) {
  RectifiedFlowConfig c;
  if (!j.is_object()) return c;
  try {
    c.num_timesteps = j.value("num_timesteps", c.num_timesteps);
    c.sample_method = j.value("sample_method", c.sample_method);
    c.loc = j.value("loc", c.loc);
    c.scale = j.value("scale", c.scale);
    c.use_timestep_transform = j.value("use_timestep_transform", c.use_timestep_transform);
    c.transform_scale = j.value("transform_scale", c.transform_scale);
    c.base_resolution = j.value("base_resolution", c.base_resolution);
    c.num_sampling_steps = j.value("num_sampling_steps", c.num_sampling_steps);
    c.cfg_scale = j.value("cfg_scale", c.cfg_scale);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(fmt::format("malformed rectified-flow record: {}", e.what()));
  }
  return c;
}

RectifiedFlow::RectifiedFlow(RectifiedFlowConfig config) : config_(std::move(config)) {}

at::Tensor RectifiedFlow::TransformTimesteps(const at::Tensor& t, double height, double width,
                                             int64_t latent_frames) const {
  const double n = static_cast<double>(config_.num_timesteps);
  double ratio_space = std::sqrt(height * width / config_.base_resolution);
  double ratio_time = std::sqrt(static_cast<double>(std::max<int64_t>(latent_frames, 1)));
  double ratio = ratio_space * ratio_time * config_.transform_scale;
  at::Tensor u = t / n;
  return ratio * u / (1 + (ratio - 1) * u) * n;
}

at::Tensor RectifiedFlow::SampleTimesteps(int64_t batch, double height, double width,
                                          int64_t latent_frames, at::Generator& generator) const {
  at::Tensor t;
  if (config_.sample_method == "uniform") {
    t = at::rand({batch}, generator, at::TensorOptions().dtype(at::kFloat)) * config_.num_timesteps;
  } else {
    // LogisticNormal with one dimension is the sigmoid of a normal sample.
    at::Tensor z = at::randn({batch}, generator, at::TensorOptions().dtype(at::kFloat));
    t = at::sigmoid(z * config_.scale + config_.loc) * config_.num_timesteps;
  }
  if (config_.use_timestep_transform) t = TransformTimesteps(t, height, width, latent_frames);
  return t;
}

at::Tensor RectifiedFlow::AddNoise(const at::Tensor& x0, const at::Tensor& noise,
                                   const at::Tensor& t) const {
  at::Tensor keep =
      (1 - t.to(at::kFloat) / static_cast<double>(config_.num_timesteps)).view({-1, 1, 1, 1, 1});
  return keep * x0 + (1 - keep) * noise;
}

at::Tensor RectifiedFlow::Velocity(const at::Tensor& output, int64_t in_channels) {
  return output.size(1) == in_channels ? output : output.slice(1, 0, in_channels);
}

at::Tensor RectifiedFlow::TrainingLoss(STDiT3Impl& model, ModelInput input, const at::Tensor& noise,
                                       const at::Tensor& t, const at::Tensor& frame_mask) const {
  const at::Tensor x0 = input.x;
  at::Tensor x_t = AddNoise(x0, noise, t);
  if (frame_mask.defined()) {
    at::Tensor keep = frame_mask.to(at::kBool).view({x0.size(0), 1, x0.size(2), 1, 1});
    x_t = at::where(keep, x_t, AddNoise(x0, noise, at::zeros_like(t)));
    input.x_mask = frame_mask.to(at::kBool);
  }
  input.x = x_t;
  input.timestep = t;
  at::Tensor v = Velocity(model.forward(input), x0.size(1));
  at::Tensor err = (v - (x0 - noise)).pow(2);
  if (!frame_mask.defined()) return err.mean({1, 2, 3, 4});
  // Mean over masked frames only, as Open-Sora's mean_flat(mask=...).
  at::Tensor m = frame_mask.to(at::kFloat).view({x0.size(0), 1, x0.size(2), 1, 1});
  double per_frame = static_cast<double>(x0.size(1) * x0.size(3) * x0.size(4));
  return (err * m).sum({1, 2, 3, 4}) / (frame_mask.to(at::kFloat).sum(1) * per_frame);
}

std::vector<at::Tensor> RectifiedFlow::SamplingTimesteps(int64_t batch, double height, double width,
                                                         int64_t latent_frames) const {
  std::vector<at::Tensor> out;
  const int64_t steps = config_.num_sampling_steps;
  for (int64_t i = 0; i < steps; ++i) {
    double t = (1.0 - static_cast<double>(i) / static_cast<double>(steps)) * config_.num_timesteps;
    at::Tensor ts = at::full({batch}, t, at::TensorOptions().dtype(at::kFloat));
    if (config_.use_timestep_transform) ts = TransformTimesteps(ts, height, width, latent_frames);
    out.push_back(ts);
  }
  return out;
}

at::Tensor RectifiedFlow::Sample(STDiT3Impl& model, const at::Tensor& noise,
                                 const std::vector<TextInput>& text, const at::Tensor& fps,
                                 double height, double width, const StepCallback& on_step) const {
  const int64_t b = noise.size(0);
  const auto device = noise.device();
  if (static_cast<int64_t>(text.size()) != model.config().num_conditions()) {
    throw InputError(fmt::format("sampling needs {} text condition(s), got {}",
                                 model.config().num_conditions(), text.size()));
  }
  // Conditional and unconditional halves in one batch.
  std::vector<TextInput> both;
  for (size_t k = 0; k < text.size(); ++k) {
    at::Tensor null = model.NullCaption(static_cast<int64_t>(k));
    if (text[k].embedding.size(1) != null.size(0)) {
      throw InputError(fmt::format(
          "condition {} has {} tokens but the model's null caption has {}: guidance needs the "
          "encoder's max length to equal the condition's token count",
          k, text[k].embedding.size(1), null.size(0)));
    }
    TextInput t;
    t.embedding = at::cat({text[k].embedding.to(device, at::kFloat),
                           null.unsqueeze(0).expand({b, -1, -1}).to(device)});
    if (text[k].mask.defined()) t.mask = at::cat({text[k].mask, text[k].mask}).to(device);
    both.push_back(t);
  }
  const int64_t frames = noise.size(2);
  std::vector<at::Tensor> timesteps = SamplingTimesteps(b, height, width, frames);
  at::Tensor z = noise;
  at::Tensor fps2 = at::cat({fps, fps}).to(device);
  for (size_t i = 0; i < timesteps.size(); ++i) {
    at::Tensor t = timesteps[i].to(device);
    ModelInput in;
    in.x = at::cat({z, z});
    in.timestep = at::cat({t, t});
    in.text = both;
    in.fps = fps2;
    in.height = height;
    in.width = width;
    at::Tensor v = Velocity(model.forward(in), model.config().in_channels);
    at::Tensor v_cond = v.slice(0, 0, b), v_uncond = v.slice(0, b, 2 * b);
    at::Tensor v_pred = v_uncond + config_.cfg_scale * (v_cond - v_uncond);
    at::Tensor dt = (i + 1 < timesteps.size() ? timesteps[i] - timesteps[i + 1] : timesteps[i]) /
                    static_cast<double>(config_.num_timesteps);
    z = z + v_pred * dt.to(device).view({-1, 1, 1, 1, 1});
    if (on_step) on_step(static_cast<int64_t>(i) + 1, static_cast<int64_t>(timesteps.size()));
  }
  return z;
}

}  // namespace modelgrow
