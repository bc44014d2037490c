// Open-Sora 1.2's video VAE (`OpenSoraVAE_V1_2`, opensora/models/vae/vae.py, v1.2.0) as a
// VideoAutoencoder: every frame through the spatial AutoencoderKL in micro-batches (x 0.18215),
// the result cut into chunks of micro_frame_size frames, each chunk through the temporal VAE on
// its own, then (z - shift) / scale. Decoding inverts it chunk by chunk. A plain diffusers
// AutoencoderKL folder runs frame by frame only, with its config's scaling (and shift) factor.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <torch/torch.h>

#include "autoencoder_kl.h"
#include "modelgrow/sdk/plugin.h"
#include "modelgrow/sdk/video_autoencoder.h"
#include "temporal_vae.h"
#include "vae_folder.h"

namespace modelgrow::vae {

class OpenSoraVae : public VideoAutoencoder {
 public:
  // The conformance suite runs each (the tiny folders are random weights at small widths, made by
  // scripts/goldens/make_vae_goldens.py).
  static constexpr const char* kExamples = R"toml(
[[example]]  # Open-Sora 1.2's folder layout (spatial + temporal VAE, shift/scale), tiny widths
path = "${data}/opensora_vae_tiny"
micro_batch_size = 3

[[example]]  # a plain diffusers AutoencoderKL folder, frame by frame
path = "${data}/autoencoder_kl_tiny"

[[example]]
micro_batch_size = 0
test_options_error = "missing required key"
)toml";

  explicit OpenSoraVae(const PluginContext& context);

  void Load() override;
  int64_t latent_channels() const override;
  int64_t spatial_factor() const override;
  int64_t LatentFrames(int64_t frames) const override;
  torch::Tensor Encode(const torch::Tensor& video, const VaeEncodeOptions& options) override;
  torch::Tensor Decode(const torch::Tensor& latents, int64_t num_frames) override;
  std::string CacheKey() const override;
  nlohmann::json Describe() const override;

  // The stages on their own, as the reference's modules compute them (parity tests use them).
  // Posterior draws are counted per stage in `draws`.
  struct Draws {
    const VaeEncodeOptions* options = nullptr;
    int64_t spatial = 0, temporal = 0;
  };
  // VideoAutoencoderKL.encode: [B, 3, T, H, W] -> [B, C, T, h, w], the latents times 0.18215
  // (times the config's scaling factor, after its shift, for a plain AutoencoderKL).
  torch::Tensor SpatialEncode(const torch::Tensor& video, Draws& draws);
  // VideoAutoencoderKL.decode: the inverse scaling, then every frame decoded.
  torch::Tensor SpatialDecode(const torch::Tensor& latents);
  // VAE_Temporal.encode(x).sample() (or .mean) for one chunk, and VAE_Temporal.decode.
  torch::Tensor TemporalEncode(const torch::Tensor& x, Draws& draws);
  torch::Tensor TemporalDecode(const torch::Tensor& z, int64_t num_frames);
  const VaeFolder& folder() const { return *folder_; }

 private:
  void CheckLoaded(const char* what) const;
  // mean + std * noise (or the mean) of moments [N, 2C, ...].
  torch::Tensor Posterior(const torch::Tensor& moments, const char* stage, int64_t draw,
                          const VaeEncodeOptions& options);

  // Options.
  std::filesystem::path path_;
  std::optional<int64_t> micro_batch_size_;
  std::optional<double> scaling_factor_;
  torch::ScalarType dtype_ = torch::kFloat;
  c10::Device device_;
  // What Load() read.
  std::optional<VaeFolder> folder_;
  AutoencoderKL spatial_{nullptr};
  TemporalVae temporal_{nullptr};
  torch::Tensor shift_, scale_;  // [1, C, 1, 1, 1]
  int64_t micro_batch_ = 4;
  double spatial_scaling_ = 0.18215, spatial_shift_ = 0;
  std::string key_;
  int64_t unused_tensors_ = 0;
};

}  // namespace modelgrow::vae
