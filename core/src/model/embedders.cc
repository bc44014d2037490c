#include "modelgrow/model/embedders.h"
#include "modelgrow/model/init_device.h"

#include <cmath>

#include <ATen/ATen.h>
#include <torch/nn/functional/activation.h>
#include <torch/nn/init.h>

namespace modelgrow {

namespace {

torch::Tensor TanhGelu(const torch::Tensor& x) { return torch::gelu(x, "tanh"); }

}  // namespace

torch::Tensor PlainLayerNorm(const torch::Tensor& x) {
  return torch::layer_norm(x.to(torch::kFloat), {x.size(-1)}, {}, {}, 1e-6);
}

torch::Tensor Modulate(const torch::Tensor& x, const torch::Tensor& shift,
                       const torch::Tensor& scale) {
  return x * (1 + scale) + shift;
}

torch::Tensor SelectFrames(const torch::Tensor& x_mask, const torch::Tensor& x,
                           const torch::Tensor& masked_x, int64_t frames, int64_t spatial) {
  int64_t b = x.size(0), c = x.size(-1);
  torch::Tensor keep = x_mask.to(torch::kBool).view({b, frames, 1, 1});
  return torch::where(keep, x.view({b, frames, spatial, c}), masked_x.view({b, frames, spatial, c}))
      .view({b, frames * spatial, c});
}

MlpImpl::MlpImpl(int64_t in, int64_t hidden, int64_t out) {
  fc1 = register_module("fc1", Linear(in, hidden));
  fc2 = register_module("fc2", Linear(hidden, out));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) { return fc2(TanhGelu(fc1(x))); }

PatchEmbed3DImpl::PatchEmbed3DImpl(std::array<int64_t, 3> patch, int64_t in_channels,
                                   int64_t hidden)
    : patch_(patch) {
  proj_ = std::make_shared<Proj>();
  int64_t fan_in = in_channels * patch[0] * patch[1] * patch[2];
  double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));  // nn.Conv3d's default init
  proj_->weight = proj_->register_parameter(
      "weight",
      torch::empty({hidden, in_channels, patch[0], patch[1], patch[2]}, ModelInitOptions())
          .uniform_(-bound, bound));
  proj_->bias = proj_->register_parameter(
      "bias", torch::empty({hidden}, ModelInitOptions()).uniform_(-bound, bound));
  register_module("proj", proj_);
}

torch::Tensor PatchEmbed3DImpl::forward(const torch::Tensor& x_in) {
  auto [pt, ph, pw] = patch_;
  torch::Tensor x = x_in;
  int64_t t = x.size(2), h = x.size(3), w = x.size(4);
  int64_t pad_t = (pt - t % pt) % pt, pad_h = (ph - h % ph) % ph, pad_w = (pw - w % pw) % pw;
  if (pad_t || pad_h || pad_w) x = torch::constant_pad_nd(x, {0, pad_w, 0, pad_h, 0, pad_t}, 0);
  int64_t b = x.size(0), c = x.size(1);
  int64_t nt = x.size(2) / pt, nh = x.size(3) / ph, nw = x.size(4) / pw;
  // [B, C, nt, pt, nh, ph, nw, pw] -> [B, nt, nh, nw, C, pt, ph, pw]: one row per patch, in the
  // same (C, pt, ph, pw) order as the Conv3d kernel.
  torch::Tensor patches = x.view({b, c, nt, pt, nh, ph, nw, pw})
                              .permute({0, 2, 4, 6, 1, 3, 5, 7})
                              .reshape({b, nt * nh * nw, c * pt * ph * pw});
  torch::Tensor weight = proj_->weight.view({proj_->weight.size(0), -1});
  return LinearForward(patches, weight, proj_->bias);
}

torch::Tensor TimestepSinusoid(const torch::Tensor& t, int64_t dim, double max_period) {
  int64_t half = dim / 2;
  torch::Tensor freqs =
      torch::exp(-std::log(max_period) * torch::arange(0, half, torch::kFloat) / half)
          .to(t.device());
  torch::Tensor args = t.to(torch::kFloat).unsqueeze(1) * freqs.unsqueeze(0);
  torch::Tensor emb = torch::cat({torch::cos(args), torch::sin(args)}, -1);
  if (dim % 2) emb = torch::cat({emb, torch::zeros_like(emb.slice(1, 0, 1))}, -1);
  return emb;
}

TimestepEmbedderImpl::TimestepEmbedderImpl(int64_t hidden, int64_t frequency_size)
    : frequency_size_(frequency_size) {
  // A parameterless parent names the layers as nn.Sequential does: `mlp.0`, `mlp.2`.
  auto mlp = std::make_shared<torch::nn::Module>();
  mlp0 = mlp->register_module("0", Linear(frequency_size, hidden));
  mlp2 = mlp->register_module("2", Linear(hidden, hidden));
  register_module("mlp", mlp);
}

torch::Tensor TimestepEmbedderImpl::forward(const torch::Tensor& t) {
  torch::Tensor freq = TimestepSinusoid(t.reshape({-1}), frequency_size_);
  return mlp2(torch::silu(mlp0(freq)));
}

CaptionEmbedderImpl::CaptionEmbedderImpl(int64_t caption_channels, int64_t hidden,
                                         int64_t token_num) {
  y_proj = register_module("y_proj", Mlp(caption_channels, hidden, hidden));
  y_embedding = register_buffer("y_embedding",
                                torch::randn({token_num, caption_channels}, ModelInitOptions()) /
                                    std::sqrt(static_cast<double>(caption_channels)));
}

torch::Tensor CaptionEmbedderImpl::forward(const torch::Tensor& caption) { return y_proj(caption); }

torch::Tensor PositionEmbedding2D(int64_t dim, int64_t h, int64_t w, double scale,
                                  int64_t base_size, const torch::TensorOptions& options) {
  int64_t half = dim / 2;
  torch::Tensor inv_freq = 1.0 / torch::pow(10000.0, torch::arange(0, half, 2, torch::kFloat) /
                                                         static_cast<double>(half));
  // Same operation order as the reference so the values agree bit for bit.
  torch::Tensor rows = torch::arange(h).div(scale);
  torch::Tensor cols = torch::arange(w).div(scale);
  rows = rows * (static_cast<double>(base_size) / static_cast<double>(h));
  cols = cols * (static_cast<double>(base_size) / static_cast<double>(w));
  torch::Tensor col_of_token = cols.unsqueeze(0).expand({h, w}).reshape({-1});
  torch::Tensor row_of_token = rows.unsqueeze(1).expand({h, w}).reshape({-1});
  auto sincos = [&](const torch::Tensor& pos) {
    torch::Tensor out = torch::outer(pos, inv_freq);
    return torch::cat({torch::sin(out), torch::cos(out)}, -1);
  };
  return torch::cat({sincos(col_of_token), sincos(row_of_token)}, -1).unsqueeze(0).to(options);
}

torch::Tensor PositionEmbedding1D(int64_t dim, int64_t length,
                                  const torch::TensorOptions& options) {
  torch::Tensor omega = 1.0 / torch::pow(10000.0, torch::arange(dim / 2, torch::kDouble) /
                                                      (static_cast<double>(dim) / 2.0));
  torch::Tensor out = torch::outer(torch::arange(length, torch::kDouble), omega);
  return torch::cat({torch::sin(out), torch::cos(out)}, -1).to(options);
}

FinalLayerImpl::FinalLayerImpl(int64_t hidden, int64_t patch_volume, int64_t out_channels) {
  linear = register_module("linear", Linear(hidden, patch_volume * out_channels));
  scale_shift_table =
      register_parameter("scale_shift_table", torch::randn({2, hidden}, ModelInitOptions()) /
                                                  std::sqrt(static_cast<double>(hidden)));
}

torch::Tensor FinalLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& t,
                                      const torch::Tensor& x_mask, const torch::Tensor& t0,
                                      int64_t frames, int64_t spatial) {
  torch::Tensor mod = scale_shift_table.unsqueeze(0) + t.unsqueeze(1);  // [B, 2, C]
  torch::Tensor shift = mod.slice(1, 0, 1), scale = mod.slice(1, 1, 2);
  torch::Tensor h = Modulate(PlainLayerNorm(x), shift, scale);
  if (x_mask.defined()) {
    torch::Tensor mod0 = scale_shift_table.unsqueeze(0) + t0.unsqueeze(1);
    // The reference normalises the already-modulated h here (not x); trained weights expect it.
    torch::Tensor h0 = Modulate(PlainLayerNorm(h), mod0.slice(1, 0, 1), mod0.slice(1, 1, 2));
    h = SelectFrames(x_mask, h, h0, frames, spatial);
  }
  return linear(h);
}

}  // namespace modelgrow
