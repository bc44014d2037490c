#include "modelgrow/model/attention.h"
#include "modelgrow/model/init_device.h"

#include <cmath>
#include <limits>

#include <ATen/ATen.h>
#include <torch/version.h>

#include "attention_cpu.h"
#include "modelgrow/model/precision.h"

namespace modelgrow {

RMSNormImpl::RMSNormImpl(int64_t dim, double eps) : eps_(eps) {
  weight = register_parameter("weight", torch::ones({dim}, ModelInitOptions()));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = x.to(torch::kFloat);
  h = h * torch::rsqrt(h.pow(2).mean(-1, /*keepdim=*/true) + eps_);
  return weight * h.to(x.scalar_type());
}

torch::Tensor Attend(const torch::Tensor& q_in, const torch::Tensor& k_in,
                     const torch::Tensor& v_in, const torch::Tensor& key_mask) {
  c10::ScalarType dtype = ComputeDtype();
  torch::Tensor q = q_in.to(dtype), k = k_in.to(dtype), v = v_in.to(dtype);
  torch::Tensor mask;     // [B, 1, 1, L], true = attend
  torch::Tensor has_key;  // [B]: false where a sample has no valid key at all
  if (key_mask.defined()) {
    torch::Tensor valid = key_mask.to(torch::kBool);
    has_key = valid.any(-1);
    // A sample with no valid key attends to everything and is zeroed below, so no NaN ever
    // reaches the softmax's backward.
    valid = valid.logical_or(has_key.logical_not().unsqueeze(-1));
    mask = valid.unsqueeze(1).unsqueeze(1);
  }
  torch::Tensor out;
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
#if TORCH_VERSION_MAJOR >= 2
  out = at::scaled_dot_product_attention(q, k, v, mask.defined() ? mask : torch::Tensor());
#else
  if (internal::FusedCpuAttentionApplies(q, k)) {
    out = internal::FusedCpuAttention(
        q, k, v, mask.defined() ? mask.view({q.size(0), k.size(2)}) : mask, scale);
  } else {
    torch::Tensor scores = torch::matmul(q * scale, k.transpose(-2, -1)).to(torch::kFloat);
    if (mask.defined()) {
      scores = scores.masked_fill(mask.logical_not(), -std::numeric_limits<float>::infinity());
    }
    out = torch::matmul(scores.softmax(-1).to(dtype), v);
  }
#endif
  if (has_key.defined()) out = out * has_key.to(out.scalar_type()).view({-1, 1, 1, 1});
  return out;
}

torch::Tensor RotaryInverseFrequencies(int64_t dim) {
  torch::Tensor i = torch::arange(0, dim, 2, torch::kFloat).slice(0, 0, dim / 2);
  return 1.0 / torch::pow(10000.0, i / static_cast<double>(dim));
}

torch::Tensor ApplyRotary(const torch::Tensor& x, const torch::Tensor& inv_freq) {
  int64_t n = x.size(-2);
  int64_t dim = x.size(-1);
  torch::Tensor pos = torch::arange(n, inv_freq.options());
  torch::Tensor freqs = torch::outer(pos, inv_freq).repeat_interleave(2, -1);  // [N, dim]
  torch::Tensor xf = x.to(torch::kFloat);
  torch::Tensor pairs = xf.reshape({-1, n, dim / 2, 2});
  torch::Tensor rotated =
      torch::stack({pairs.select(-1, 1).neg(), pairs.select(-1, 0)}, -1).reshape(xf.sizes());
  return (xf * freqs.cos() + rotated * freqs.sin()).to(x.scalar_type());
}

SelfAttentionImpl::SelfAttentionImpl(int64_t hidden, int64_t heads, int64_t head_dim, bool qk_norm)
    : heads_(heads), head_dim_(head_dim), qk_norm_(qk_norm) {
  int64_t inner = heads * head_dim;
  qkv = register_module("qkv", Linear(hidden, 3 * inner));
  if (qk_norm) {
    q_norm = register_module("q_norm", RMSNorm(head_dim));
    k_norm = register_module("k_norm", RMSNorm(head_dim));
  }
  proj = register_module("proj", Linear(inner, hidden));
}

torch::Tensor SelfAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& inv_freq) {
  int64_t b = x.size(0), n = x.size(1);
  // unbind, not three selects: its backward is one stack instead of three zero-filled copies.
  std::vector<torch::Tensor> qkv_parts =
      qkv(x).view({b, n, 3, heads_, head_dim_}).permute({2, 0, 3, 1, 4}).unbind(0);
  torch::Tensor q = qkv_parts[0], k = qkv_parts[1], v = qkv_parts[2];
  if (qk_norm_) {
    q = q_norm(q);
    k = k_norm(k);
  }
  if (inv_freq.defined()) {
    q = ApplyRotary(q, inv_freq);
    k = ApplyRotary(k, inv_freq);
  }
  torch::Tensor out = Attend(q, k, v, {});
  return proj(out.transpose(1, 2).reshape({b, n, heads_ * head_dim_}));
}

CrossAttentionImpl::CrossAttentionImpl(int64_t hidden, int64_t heads, int64_t head_dim)
    : heads_(heads), head_dim_(head_dim) {
  int64_t inner = heads * head_dim;
  q_linear = register_module("q_linear", Linear(hidden, inner));
  kv_linear = register_module("kv_linear", Linear(hidden, 2 * inner));
  proj = register_module("proj", Linear(inner, hidden));
}

torch::Tensor CrossAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cond,
                                          const torch::Tensor& mask) {
  int64_t b = x.size(0), n = x.size(1), l = cond.size(1);
  torch::Tensor q = q_linear(x).view({b, n, heads_, head_dim_}).transpose(1, 2);
  std::vector<torch::Tensor> kv = kv_linear(cond).view({b, l, 2, heads_, head_dim_}).unbind(2);
  torch::Tensor k = kv[0].transpose(1, 2);
  torch::Tensor v = kv[1].transpose(1, 2);
  torch::Tensor out = Attend(q, k, v, mask);
  return proj(out.transpose(1, 2).reshape({b, n, heads_ * head_dim_}));
}

}  // namespace modelgrow
