// The non-block parts of STDiT3: patch, timestep/fps and caption embedders, the MLP, the 2-D
// sin/cos position embedding and the T2I final layer. Keys match Open-Sora's modules.
#pragma once

#include <array>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "modelgrow/model/linear.h"

namespace modelgrow {

// timm's Mlp with tanh-GELU (keys fc1, fc2).
class MlpImpl : public torch::nn::Module {
 public:
  MlpImpl(int64_t in, int64_t hidden, int64_t out);
  torch::Tensor forward(const torch::Tensor& x);
  Linear fc1{nullptr};
  Linear fc2{nullptr};
};
TORCH_MODULE(Mlp);

// Conv3d with kernel = stride = patch (key: proj.weight [C, in, pt, ph, pw], proj.bias), computed
// as one matrix product over patches. Pads T, H, W up to multiples of the patch.
class PatchEmbed3DImpl : public torch::nn::Module {
 public:
  PatchEmbed3DImpl(std::array<int64_t, 3> patch, int64_t in_channels, int64_t hidden);
  // [B, C_in, T, H, W] -> [B, T'·H'·W', hidden], tokens ordered t, h, w.
  torch::Tensor forward(const torch::Tensor& x);

 private:
  std::array<int64_t, 3> patch_;
  // Open-Sora's `proj` is a Conv3d; this holds its weight and bias under the same keys.
  struct Proj : torch::nn::Module {
    torch::Tensor weight, bias;
  };
  std::shared_ptr<Proj> proj_;
};
TORCH_MODULE(PatchEmbed3D);

// Sinusoid of a scalar (cat(cos, sin), 256 wide) then Linear, SiLU, Linear (keys mlp.0, mlp.2).
// Used for the diffusion timestep and, as Open-Sora's SizeEmbedder, for fps.
class TimestepEmbedderImpl : public torch::nn::Module {
 public:
  explicit TimestepEmbedderImpl(int64_t hidden, int64_t frequency_size = 256);
  torch::Tensor forward(const torch::Tensor& t);  // [B] -> [B, hidden]
  Linear mlp0{nullptr};
  Linear mlp2{nullptr};

 private:
  int64_t frequency_size_;
};
TORCH_MODULE(TimestepEmbedder);

torch::Tensor TimestepSinusoid(const torch::Tensor& t, int64_t dim, double max_period = 10000);

// Caption projection (keys y_proj.fc1, y_proj.fc2) and the null caption buffer y_embedding.
class CaptionEmbedderImpl : public torch::nn::Module {
 public:
  CaptionEmbedderImpl(int64_t caption_channels, int64_t hidden, int64_t token_num);
  torch::Tensor forward(const torch::Tensor& caption);  // [B, L, D] -> [B, L, hidden]
  Mlp y_proj{nullptr};
  torch::Tensor y_embedding;  // [token_num, caption_channels]
};
TORCH_MODULE(CaptionEmbedder);

// Fixed 2-D sin/cos embedding [1, H·W, dim] (Open-Sora's PositionEmbedding2D): the first half
// encodes the column, the second the row; coordinates are index / scale · base_size / n.
torch::Tensor PositionEmbedding2D(int64_t dim, int64_t h, int64_t w, double scale,
                                  int64_t base_size, const torch::TensorOptions& options);

// Fixed 1-D sin/cos embedding [length, dim] of positions 0 .. length-1 (Open-Sora 1.0's
// get_1d_sincos_pos_embed): sines in the first half, cosines in the second.
torch::Tensor PositionEmbedding1D(int64_t dim, int64_t length, const torch::TensorOptions& options);

// PixArt's T2I final layer: LayerNorm (no affine) modulated by (table + t), then linear.
class FinalLayerImpl : public torch::nn::Module {
 public:
  FinalLayerImpl(int64_t hidden, int64_t patch_volume, int64_t out_channels);
  // x: [B, T·S, C]; t: [B, C]; x_mask [B, T] with t0 for masked frames (both may be undefined).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& x_mask,
                        const torch::Tensor& t0, int64_t frames, int64_t spatial);
  torch::Tensor scale_shift_table;  // [2, C]
  Linear linear{nullptr};
};
TORCH_MODULE(FinalLayer);

// LayerNorm without affine parameters, eps 1e-6, in fp32.
torch::Tensor PlainLayerNorm(const torch::Tensor& x);
// x * (1 + scale) + shift.
torch::Tensor Modulate(const torch::Tensor& x, const torch::Tensor& shift,
                       const torch::Tensor& scale);
// Per frame: x where x_mask is true, masked_x where false. x: [B, T·S, C]; x_mask: [B, T].
torch::Tensor SelectFrames(const torch::Tensor& x_mask, const torch::Tensor& x,
                           const torch::Tensor& masked_x, int64_t frames, int64_t spatial);

}  // namespace modelgrow
