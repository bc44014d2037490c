// Hugging Face diffusers' AutoencoderKL (v0.27.2), the image VAE Open-Sora applies to every frame:
// encoder (conv_in, down blocks of ResnetBlock2D + Downsample2D, mid block resnet -> attention ->
// resnet, GroupNorm, SiLU, conv_out), quant_conv, post_quant_conv and the mirrored decoder.
// Parameters carry diffusers' state-dict names (encoder.down_blocks.0.resnets.1.conv2.weight), so
// a diffusers folder's tensors load by name.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

namespace modelgrow::vae {

// The fields of a diffusers AutoencoderKL config.json this implementation honours.
struct AutoencoderKLConfig {
  int64_t in_channels = 3;
  int64_t out_channels = 3;
  std::vector<int64_t> block_out_channels{128, 256, 512, 512};
  int64_t layers_per_block = 2;
  int64_t latent_channels = 4;
  int64_t norm_num_groups = 32;
  double scaling_factor = 0.18215;
  double shift_factor = 0;  // SD3's VAE: z = (z - shift_factor) * scaling_factor
  bool use_quant_conv = true;
  bool use_post_quant_conv = true;
  bool mid_block_add_attention = true;

  // SDXL's VAE, the spatial half of Open-Sora 1.2's (PixArt-Σ's sdxlvae folder).
  static AutoencoderKLConfig Sdxl();
  // Reads a diffusers config object; InputError naming `where` and the field for anything this
  // implementation cannot run (another block type or activation, groups that do not divide).
  static AutoencoderKLConfig FromJson(const nlohmann::json& j, const std::string& where);
  nlohmann::json ToJson() const;
  int64_t downsample_factor() const { return int64_t{1} << (block_out_channels.size() - 1); }
};

class ResnetBlock2DImpl : public torch::nn::Module {
 public:
  ResnetBlock2DImpl(int64_t in, int64_t out, int64_t groups);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::GroupNorm norm1_{nullptr}, norm2_{nullptr};
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, conv_shortcut_{nullptr};
};
TORCH_MODULE(ResnetBlock2D);

// The mid block's self-attention: one head as wide as the channels, over the H*W positions.
class SpatialAttentionImpl : public torch::nn::Module {
 public:
  SpatialAttentionImpl(int64_t channels, int64_t groups);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::GroupNorm group_norm_{nullptr};
  torch::nn::Linear to_q_{nullptr}, to_k_{nullptr}, to_v_{nullptr};
  torch::nn::ModuleList to_out_;
};
TORCH_MODULE(SpatialAttention);

class MidBlock2DImpl : public torch::nn::Module {
 public:
  MidBlock2DImpl(int64_t channels, int64_t groups, bool attention);
  torch::Tensor forward(torch::Tensor x);

 private:
  torch::nn::ModuleList resnets_, attentions_;
};
TORCH_MODULE(MidBlock2D);

class SpatialEncoderImpl : public torch::nn::Module {
 public:
  explicit SpatialEncoderImpl(const AutoencoderKLConfig& config);
  torch::Tensor forward(torch::Tensor x);

 private:
  torch::nn::Conv2d conv_in_{nullptr}, conv_out_{nullptr};
  torch::nn::ModuleList down_blocks_;
  MidBlock2D mid_block_{nullptr};
  torch::nn::GroupNorm conv_norm_out_{nullptr};
};
TORCH_MODULE(SpatialEncoder);

class SpatialDecoderImpl : public torch::nn::Module {
 public:
  explicit SpatialDecoderImpl(const AutoencoderKLConfig& config);
  torch::Tensor forward(torch::Tensor z);

 private:
  torch::nn::Conv2d conv_in_{nullptr}, conv_out_{nullptr};
  torch::nn::ModuleList up_blocks_;
  MidBlock2D mid_block_{nullptr};
  torch::nn::GroupNorm conv_norm_out_{nullptr};
};
TORCH_MODULE(SpatialDecoder);

class AutoencoderKLImpl : public torch::nn::Module {
 public:
  explicit AutoencoderKLImpl(AutoencoderKLConfig config);
  const AutoencoderKLConfig& config() const { return config_; }
  // images [N, in_channels, H, W] -> the posterior's moments [N, 2 * latent, H / f, W / f]
  // (mean first, then log-variance), as quant_conv leaves them.
  torch::Tensor EncodeMoments(const torch::Tensor& images);
  // latents [N, latent, h, w] -> images [N, out_channels, h * f, w * f].
  torch::Tensor Decode(const torch::Tensor& latents);

 private:
  AutoencoderKLConfig config_;
  SpatialEncoder encoder_{nullptr};
  SpatialDecoder decoder_{nullptr};
  torch::nn::Conv2d quant_conv_{nullptr}, post_quant_conv_{nullptr};
};
TORCH_MODULE(AutoencoderKL);

}  // namespace modelgrow::vae
