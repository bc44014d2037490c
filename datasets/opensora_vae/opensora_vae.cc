#include "opensora_vae.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "modelgrow/sdk/content_hash.h"
#include "modelgrow/sdk/deterministic_random.h"
#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/safetensors.h"

namespace modelgrow::vae {

namespace {

// Open-Sora's VideoAutoencoderKL scales by this constant, not by the config's scaling_factor
// (0.13025 for SDXL's VAE).
constexpr double kOpenSoraSpatialScale = 0.18215;

std::string ShapeText(at::IntArrayRef shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

torch::Tensor ChannelVector(const std::vector<double>& values, int64_t channels) {
  std::vector<float> v(values.begin(), values.end());
  if (v.size() == 1) v.assign(channels, v[0]);
  return torch::tensor(v, torch::kFloat).view({1, channels, 1, 1, 1});
}

}  // namespace

OpenSoraVae::OpenSoraVae(const PluginContext& context) : device_(context.device) {
  const Options& o = context.options;
  path_ = o.RequireString("path");
  if (o.Has("micro_batch_size"))
    micro_batch_size_ = o.Int("micro_batch_size", 4, {.min = 1, .max = 1 << 20});
  if (o.Has("scaling_factor")) {
    scaling_factor_ = o.Double("scaling_factor", 0.18215, {.min = 1e-6, .max = 1e6});
  }
  dtype_ = o.Choice("dtype", "float32", {"float32", "bfloat16"}) == "bfloat16" ? torch::kBFloat16
                                                                               : torch::kFloat;
}

void OpenSoraVae::Load() {
  if (folder_) return;
  VaeFolder f = VaeFolder::Read(path_);
  if (scaling_factor_ && f.pipeline)
    throw InputError(fmt::format(
        "{}: scaling_factor applies to a plain AutoencoderKL folder; Open-Sora's pipeline scales "
        "by 0.18215 and its own shift/scale",
        path_.string()));
  TensorStore store = TensorStore::Open(f.folder, f.weights_base);
  std::vector<std::string> problems;
  AutoencoderKL spatial(f.spatial);
  LoadTensors(*spatial, f.spatial_prefix, store, problems);
  TemporalVae temporal{nullptr};
  torch::Tensor shift, scale;
  if (f.pipeline) {
    temporal = TemporalVae(*f.temporal);
    LoadTensors(*temporal, f.temporal_prefix, store, problems);
    const int64_t c = f.temporal->embed_dim;
    shift = ChannelVector(f.shift, c);
    scale = ChannelVector(f.scale, c);
    // The checkpoint's buffers win over the config's numbers, as load_checkpoint does.
    for (auto [name, tensor] : {std::pair{"shift", &shift}, std::pair{"scale", &scale}}) {
      if (!store.Has(name)) continue;
      torch::Tensor stored = store.Get(name, torch::kFloat);
      if (stored.numel() != c && stored.numel() != 1) {
        problems.push_back(fmt::format("{}: {} in the file, {} values expected", name,
                                       ShapeText(stored.sizes()), c));
        continue;
      }
      *tensor = stored.reshape({-1}).expand({c}).reshape({1, c, 1, 1, 1}).clone();
    }
  }
  if (!problems.empty()) {
    const size_t shown = std::min<size_t>(problems.size(), 40);
    throw InputError(fmt::format(
        "{}: {} tensor{} of the weights ({}) do not fit the architecture its config.json "
        "describes:\n  {}{}",
        f.folder.string(), problems.size(), problems.size() == 1 ? "" : "s",
        (f.folder / (f.weights_base + ".safetensors")).string(),
        fmt::join(problems.begin(), problems.begin() + shown, "\n  "),
        problems.size() > shown ? fmt::format("\n  ... and {} more", problems.size() - shown)
                                : ""));
  }
  std::set<std::string> used;
  for (const auto& p : spatial->named_parameters()) used.insert(f.spatial_prefix + p.key());
  if (temporal) {
    for (const auto& p : temporal->named_parameters()) used.insert(f.temporal_prefix + p.key());
    used.insert("shift");
    used.insert("scale");
  }
  for (const std::string& k : store.Keys()) unused_tensors_ += used.count(k) == 0;

  spatial->eval();
  spatial->to(device_, dtype_);
  if (temporal) {
    temporal->eval();
    temporal->to(device_, dtype_);
    shift_ = shift.to(device_);
    scale_ = scale.to(device_);
  }
  micro_batch_ = micro_batch_size_.value_or(f.micro_batch_size);
  spatial_scaling_ =
      f.pipeline ? kOpenSoraSpatialScale : scaling_factor_.value_or(f.spatial.scaling_factor);
  spatial_shift_ = f.pipeline ? 0 : f.spatial.shift_factor;
  key_ = ContentHash("vae.opensora/1")
             .Add("folder", FolderFingerprint(f.folder))
             .Add("dtype", dtype_ == torch::kBFloat16 ? "bfloat16" : "float32")
             .Add("micro_batch", micro_batch_)
             .Add("scaling", fmt::format("{}", spatial_scaling_))
             .Hex();
  spatial_ = spatial;
  temporal_ = temporal;
  folder_ = std::move(f);
}

void OpenSoraVae::CheckLoaded(const char* what) const {
  if (!folder_) throw RunError(fmt::format("VAE {}: {} before Load()", path_.string(), what));
}

int64_t OpenSoraVae::latent_channels() const {
  CheckLoaded("latent_channels");
  return temporal_ ? folder_->temporal->embed_dim : folder_->spatial.latent_channels;
}

int64_t OpenSoraVae::spatial_factor() const {
  CheckLoaded("spatial_factor");
  return folder_->spatial.downsample_factor();
}

int64_t OpenSoraVae::LatentFrames(int64_t frames) const {
  CheckLoaded("LatentFrames");
  if (!temporal_ || frames <= 0) return std::max<int64_t>(frames, 0);
  const int64_t f = folder_->temporal->time_factor();
  auto chunk = [&](int64_t t) { return (t + f - 1) / f; };
  const int64_t m = folder_->micro_frame_size;
  if (m == 0) return chunk(frames);
  return frames / m * chunk(m) + (frames % m ? chunk(frames % m) : 0);
}

torch::Tensor OpenSoraVae::Posterior(const torch::Tensor& moments, const char* stage, int64_t draw,
                                     const VaeEncodeOptions& options) {
  const int64_t c = moments.size(1) / 2;
  torch::Tensor mean = moments.slice(1, 0, c);
  if (!options.sample) return mean;
  torch::Tensor logvar = moments.slice(1, c).clamp(-30.0, 20.0);
  torch::Tensor std = torch::exp(0.5 * logvar);
  std::vector<int64_t> shape = mean.sizes().vec();
  torch::Tensor noise;
  if (options.noise) {
    noise = options.noise({stage, draw, shape});
    if (!noise.defined() || noise.sizes().vec() != shape)
      throw InputError(fmt::format("VAE noise source gave {} for {} draw {} of shape {}",
                                   noise.defined() ? ShapeText(noise.sizes()) : "nothing", stage,
                                   draw, ShapeText(shape)));
  } else {
    // One generator per draw: the same seed gives the same latents whatever else ran before.
    const uint64_t stage_id = std::string(stage) == "spatial" ? 1 : 2;
    at::Generator g = at::detail::createCPUGenerator(
        DeriveSeed(options.seed, {0x7661650000ull + stage_id, static_cast<uint64_t>(draw)}));
    noise = at::randn(shape, g, torch::TensorOptions().dtype(torch::kFloat));
  }
  return mean + std * noise.to(mean.device(), mean.scalar_type());
}

torch::Tensor OpenSoraVae::SpatialEncode(const torch::Tensor& video, Draws& draws) {
  const int64_t b = video.size(0), t = video.size(2);
  // B C T H W -> (B T) C H W, as the reference rearranges.
  torch::Tensor frames =
      video.permute({0, 2, 1, 3, 4}).reshape({b * t, video.size(1), video.size(3), video.size(4)});
  const int64_t step = micro_batch_ > 0 ? micro_batch_ : b * t;
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < b * t; i += step) {
    torch::Tensor moments = spatial_->EncodeMoments(frames.slice(0, i, std::min(b * t, i + step)));
    torch::Tensor z = Posterior(moments, "spatial", draws.spatial++, *draws.options);
    if (spatial_shift_ != 0) z = z - spatial_shift_;
    out.push_back(z * spatial_scaling_);
  }
  torch::Tensor z = torch::cat(out);
  return z.view({b, t, z.size(1), z.size(2), z.size(3)}).permute({0, 2, 1, 3, 4});
}

torch::Tensor OpenSoraVae::SpatialDecode(const torch::Tensor& latents) {
  const int64_t b = latents.size(0), t = latents.size(2);
  torch::Tensor frames = latents.permute({0, 2, 1, 3, 4})
                             .reshape({b * t, latents.size(1), latents.size(3), latents.size(4)});
  const int64_t step = micro_batch_ > 0 ? micro_batch_ : b * t;
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < b * t; i += step) {
    torch::Tensor z = frames.slice(0, i, std::min(b * t, i + step)) / spatial_scaling_;
    if (spatial_shift_ != 0) z = z + spatial_shift_;
    out.push_back(spatial_->Decode(z));
  }
  torch::Tensor x = torch::cat(out);
  return x.view({b, t, x.size(1), x.size(2), x.size(3)}).permute({0, 2, 1, 3, 4});
}

torch::Tensor OpenSoraVae::TemporalEncode(const torch::Tensor& x, Draws& draws) {
  return Posterior(temporal_->EncodeMoments(x), "temporal", draws.temporal++, *draws.options);
}

torch::Tensor OpenSoraVae::TemporalDecode(const torch::Tensor& z, int64_t num_frames) {
  return temporal_->Decode(z, num_frames);
}

torch::Tensor OpenSoraVae::Encode(const torch::Tensor& video, const VaeEncodeOptions& options) {
  CheckLoaded("Encode");
  const int64_t f = spatial_factor();
  if (video.dim() != 5 || video.size(1) != folder_->spatial.in_channels || video.size(2) < 1 ||
      video.size(3) < f || video.size(4) < f)
    throw InputError(fmt::format(
        "VAE {}: cannot encode a video of shape {}: expected [B, {}, T >= 1, H, W] with H and W "
        ">= {}",
        path_.string(), ShapeText(video.sizes()), folder_->spatial.in_channels, f));
  if (video.size(3) % f != 0 || video.size(4) % f != 0)
    throw InputError(fmt::format(
        "VAE {}: frames of {}x{} (HxW) are not divisible by {}; crop or pad them first (the "
        "CLI and export do: --fit crop|pad)",
        path_.string(), video.size(3), video.size(4), f));
  torch::NoGradGuard no_grad;
  const torch::Device out_device = video.device();
  Draws draws{&options};
  torch::Tensor x_z = SpatialEncode(video.to(device_, dtype_), draws);
  torch::Tensor z;
  if (!temporal_) {
    z = x_z;
  } else {
    const int64_t t = x_z.size(2);
    const int64_t m = folder_->micro_frame_size > 0 ? folder_->micro_frame_size : t;
    std::vector<torch::Tensor> chunks;
    // Every chunk is encoded on its own: its own front padding, no state from the one before.
    for (int64_t i = 0; i < t; i += m)
      chunks.push_back(TemporalEncode(x_z.slice(2, i, std::min(t, i + m)), draws));
    z = (torch::cat(chunks, 2) - shift_.to(dtype_)) / scale_.to(dtype_);
  }
  return z.to(out_device, torch::kFloat);
}

torch::Tensor OpenSoraVae::Decode(const torch::Tensor& latents, int64_t num_frames) {
  CheckLoaded("Decode");
  const int64_t c = latent_channels();
  if (latents.dim() != 5 || latents.size(1) != c || latents.size(2) < 1)
    throw InputError(fmt::format(
        "VAE {}: cannot decode latents of shape {}: expected [B, {}, T', h, w] with T' >= 1",
        path_.string(), ShapeText(latents.sizes()), c));
  if (num_frames < 1 || LatentFrames(num_frames) != latents.size(2)) {
    // Which clip lengths these latents can stand for.
    int64_t lo = 0, hi = 0;
    for (int64_t n = 1; n <= 64 * latents.size(2) + 64; ++n) {
      if (LatentFrames(n) == latents.size(2)) {
        if (lo == 0) lo = n;
        hi = n;
      }
    }
    throw InputError(fmt::format(
        "VAE {}: {} latent frames do not decode to {} frames (they come from clips of {}-{} "
        "frames; give the clip's length as num_frames)",
        path_.string(), latents.size(2), num_frames, lo, hi));
  }
  torch::NoGradGuard no_grad;
  const torch::Device out_device = latents.device();
  torch::Tensor z = latents.to(device_, dtype_);
  torch::Tensor x_z;
  if (!temporal_) {
    x_z = z;
  } else {
    z = z * scale_.to(dtype_) + shift_.to(dtype_);
    const int64_t m = folder_->micro_frame_size > 0 ? folder_->micro_frame_size : num_frames;
    const int64_t chunk = LatentFrames(m);
    std::vector<torch::Tensor> parts;
    int64_t remaining = num_frames;
    for (int64_t i = 0; i < z.size(2); i += chunk) {
      parts.push_back(
          TemporalDecode(z.slice(2, i, std::min(z.size(2), i + chunk)), std::min(m, remaining)));
      remaining -= m;
    }
    x_z = torch::cat(parts, 2);
  }
  return SpatialDecode(x_z).to(out_device, torch::kFloat);
}

std::string OpenSoraVae::CacheKey() const {
  CheckLoaded("CacheKey");
  return key_;
}

nlohmann::json OpenSoraVae::Describe() const {
  CheckLoaded("Describe");
  const VaeFolder& f = *folder_;
  nlohmann::json j = {{"folder", f.folder.string()},
                      {"layout", f.pipeline ? "VideoAutoencoderPipeline" : "AutoencoderKL"},
                      {"latent_channels", latent_channels()},
                      {"spatial_factor", spatial_factor()},
                      {"spatial", f.spatial.ToJson()},
                      {"micro_batch_size", micro_batch_},
                      {"dtype", dtype_ == torch::kBFloat16 ? "bfloat16" : "float32"},
                      {"spatial_scaling", spatial_scaling_},
                      {"unused_tensors", unused_tensors_}};
  if (f.pipeline) {
    j["temporal"] = f.temporal->ToJson();
    j["micro_frame_size"] = f.micro_frame_size;
    j["time_factor"] = f.temporal->time_factor();
    for (const auto& [name, tensor] : {std::pair{"shift", &shift_}, std::pair{"scale", &scale_}}) {
      torch::Tensor values = tensor->reshape({-1}).to(torch::kCPU, torch::kDouble).contiguous();
      j[name] = std::vector<double>(values.data_ptr<double>(),
                                    values.data_ptr<double>() + values.numel());
    }
  }
  return j;
}

}  // namespace modelgrow::vae
