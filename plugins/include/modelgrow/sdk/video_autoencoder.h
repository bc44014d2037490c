// The video-autoencoder (VAE) interface: pixel clips in, latents out, and back. Latent diffusion
// models such as Open-Sora's STDiT3 are trained on a VAE's latents; the host encodes data sets
// through a VAE (`modelgrow dataset export --vae`), and decodes what a model generates into
// videos (`modelgrow sample`, evaluation, reports, `modelgrow vae`).
//
// Like every plugin, a VAE is constructed from its options alone (the folder is `path`) and reads
// its weights in Load().
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "modelgrow/sdk/plugin.h"

namespace modelgrow {

// One posterior draw a VAE is about to make: which stage draws it (a VAE's own names, e.g.
// "spatial" and "temporal"), its position among that stage's draws for this Encode call, and the
// shape of the standard-normal noise it needs.
struct VaeNoiseRequest {
  std::string stage;
  int64_t draw = 0;
  std::vector<int64_t> shape;
};

struct VaeEncodeOptions {
  // false: the posterior mean (deterministic; what data sets are built from by default).
  // true: mean + std * noise, as the reference implementations encode.
  bool sample = false;
  // The noise of a sampled encoding comes from this seed: the same seed, the same latents.
  uint64_t seed = 0;
  // When set, replaces the seeded noise: the VAE asks it for every draw (tests inject the noise a
  // reference implementation drew). It must return float32 standard-normal noise of the shape.
  std::function<at::Tensor(const VaeNoiseRequest&)> noise;
};

class VideoAutoencoder {
 public:
  virtual ~VideoAutoencoder() = default;
  // The heavy part: config and weights. InputError naming the folder and every missing or
  // misshapen tensor. Everything below is called only after Load().
  virtual void Load() = 0;

  virtual int64_t latent_channels() const = 0;
  // Pixels per latent pixel along height and width (8 for Open-Sora's VAE). Encode needs heights
  // and widths divisible by it; the host crops or pads clips to fit (docs/vae.md).
  virtual int64_t spatial_factor() const = 0;
  // Latent frames of a clip of `frames` pixel frames (frames >= 1).
  virtual int64_t LatentFrames(int64_t frames) const = 0;

  // video: [B, 3, T, H, W] in [-1, 1] on any device, H and W divisible by spatial_factor().
  // Returns [B, latent_channels(), LatentFrames(T), H / f, W / f] float32 on the video's device.
  // Deterministic for the same options. InputError for a shape it cannot encode.
  virtual at::Tensor Encode(const at::Tensor& video, const VaeEncodeOptions& options) = 0;
  // latents: [B, latent_channels(), T', h, w]; `num_frames` is the clip length they were encoded
  // from (LatentFrames(num_frames) must be T'). Returns [B, 3, num_frames, h * f, w * f] float32,
  // nominally in [-1, 1] (not clamped).
  virtual at::Tensor Decode(const at::Tensor& latents, int64_t num_frames) = 0;

  // Identifies the weights and settings (for cache keys and records), built with ContentHash.
  virtual std::string CacheKey() const = 0;
  // Facts for records and reports (folder, architecture, normalisation, ...).
  virtual nlohmann::json Describe() const { return nlohmann::json::object(); }
};

}  // namespace modelgrow
