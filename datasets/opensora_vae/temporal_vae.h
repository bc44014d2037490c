// Open-Sora 1.2's temporal VAE (`VAE_Temporal` in opensora/models/vae/vae_temporal.py, v1.2.0):
// causal 3D convolutions over the spatial VAE's latents, 4x down in time. Parameters carry the
// reference's state-dict names (encoder.block_res_blocks.1.0.conv1.conv.weight).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

namespace modelgrow::vae {

struct TemporalVaeConfig {
  int64_t in_out_channels = 4;
  int64_t latent_embed_dim = 4;
  int64_t embed_dim = 4;
  int64_t filters = 128;
  int64_t num_res_blocks = 4;
  std::vector<int64_t> channel_multipliers{1, 2, 2, 4};
  std::vector<bool> temporal_downsample{false, true, true};
  int64_t num_groups = 32;

  // VAE_Temporal_SD: what Open-Sora 1.2's checkpoint holds.
  static TemporalVaeConfig Sd() { return {}; }
  // VAE_Temporal's constructor arguments (only activation_fn = "swish" is supported).
  static TemporalVaeConfig FromJson(const nlohmann::json& j, const std::string& where);
  nlohmann::json ToJson() const;
  // 2 ** (number of temporal downsamples).
  int64_t time_factor() const;
};

// Zero padding (kw//2, kw//2, kh//2, kh//2, time_pad, 0), then an unpadded Conv3d; time_pad =
// (kt - 1) + (1 - stride_t): past frames only.
class CausalConv3dImpl : public torch::nn::Module {
 public:
  CausalConv3dImpl(int64_t in, int64_t out, int64_t kernel, bool bias, int64_t time_stride = 1);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  int64_t time_pad_, space_pad_;
  torch::nn::Conv3d conv_{nullptr};
};
TORCH_MODULE(CausalConv3d);

class TemporalResBlockImpl : public torch::nn::Module {
 public:
  TemporalResBlockImpl(int64_t in, int64_t out, int64_t groups);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::GroupNorm norm1_{nullptr}, norm2_{nullptr};
  CausalConv3d conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr};
};
TORCH_MODULE(TemporalResBlock);

class TemporalEncoderImpl : public torch::nn::Module {
 public:
  explicit TemporalEncoderImpl(const TemporalVaeConfig& config);
  torch::Tensor forward(torch::Tensor x);

 private:
  TemporalVaeConfig config_;
  CausalConv3d conv_in_{nullptr}, conv2_{nullptr};
  torch::nn::ModuleList block_res_blocks_, conv_blocks_, res_blocks_;
  torch::nn::GroupNorm norm1_{nullptr};
};
TORCH_MODULE(TemporalEncoder);

class TemporalDecoderImpl : public torch::nn::Module {
 public:
  explicit TemporalDecoderImpl(const TemporalVaeConfig& config);
  torch::Tensor forward(torch::Tensor z);

 private:
  TemporalVaeConfig config_;
  CausalConv3d conv1_{nullptr}, conv_out_{nullptr};
  torch::nn::ModuleList res_blocks_, block_res_blocks_, conv_blocks_;
  torch::nn::GroupNorm norm1_{nullptr};
};
TORCH_MODULE(TemporalDecoder);

class TemporalVaeImpl : public torch::nn::Module {
 public:
  explicit TemporalVaeImpl(TemporalVaeConfig config);
  const TemporalVaeConfig& config() const { return config_; }
  // x [B, C, T, h, w] -> moments [B, 2 * embed_dim, ceil(T / f), h, w] (mean, then log-variance),
  // after prepending (f - T % f) % f zero frames.
  torch::Tensor EncodeMoments(const torch::Tensor& x);
  // z [B, embed_dim, T', h, w] -> [B, C, num_frames, h, w]: f * T' frames, the first
  // (f - num_frames % f) % f dropped.
  torch::Tensor Decode(const torch::Tensor& z, int64_t num_frames);

 private:
  TemporalVaeConfig config_;
  TemporalEncoder encoder_{nullptr};
  TemporalDecoder decoder_{nullptr};
  CausalConv3d quant_conv_{nullptr}, post_quant_conv_{nullptr};
};
TORCH_MODULE(TemporalVae);

}  // namespace modelgrow::vae
