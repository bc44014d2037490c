// Self- and cross-attention of an STDiT3 block (Open-Sora's `Attention` and
// `MultiHeadCrossAttention`), with q/k RMSNorm and the temporal rotary embedding.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "modelgrow/model/linear.h"

namespace modelgrow {

// LlamaRMSNorm over the last dimension, computed in fp32 (key: `weight`).
class RMSNormImpl : public torch::nn::Module {
 public:
  explicit RMSNormImpl(int64_t dim, double eps = 1e-6);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;

 private:
  double eps_;
};
TORCH_MODULE(RMSNorm);

// softmax(q k^T * scale + mask) v, softmax in fp32. q: [B, H, N, D], k and v: [B, H, L, D];
// key_mask: [B, L] (true = attend) or undefined. Rows with no valid key give zeros. Uses
// LibTorch's scaled_dot_product_attention where it exists (>= 2.0), an exact math path otherwise.
torch::Tensor Attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                     const torch::Tensor& key_mask);

// Rotary embedding as rotary_embedding_torch applies it to temporal attention: interleaved pairs
// (x0, x1) -> (-x1, x0), positions 0..N-1, inverse frequencies 1 / 10000^(2i/dim).
// x: [..., N, dim]; inv_freq: [dim / 2].
torch::Tensor ApplyRotary(const torch::Tensor& x, const torch::Tensor& inv_freq);
torch::Tensor RotaryInverseFrequencies(int64_t dim);

// Keys: qkv, q_norm, k_norm, proj. Heads of size head_dim; inner width heads * head_dim.
class SelfAttentionImpl : public torch::nn::Module {
 public:
  SelfAttentionImpl(int64_t hidden, int64_t heads, int64_t head_dim, bool qk_norm);
  // x: [B, N, C]. inv_freq defined: rotary on q and k (after the norm, as the reference).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& rope_inv_freq);

  int64_t heads() const { return heads_; }
  int64_t head_dim() const { return head_dim_; }
  // Width growth: the layer now has `heads` heads (the caller has resized qkv and proj).
  void set_heads(int64_t heads) { heads_ = heads; }

  Linear qkv{nullptr};
  RMSNorm q_norm{nullptr};
  RMSNorm k_norm{nullptr};
  Linear proj{nullptr};

 private:
  int64_t heads_, head_dim_;
  bool qk_norm_;
};
TORCH_MODULE(SelfAttention);

// Keys: q_linear, kv_linear, proj. Each sample attends only to its own valid caption tokens.
class CrossAttentionImpl : public torch::nn::Module {
 public:
  CrossAttentionImpl(int64_t hidden, int64_t heads, int64_t head_dim);
  // x: [B, N, C]; cond: [B, L, C]; mask: [B, L] bool or undefined (all valid).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cond,
                        const torch::Tensor& mask);

  int64_t heads() const { return heads_; }
  int64_t head_dim() const { return head_dim_; }
  void set_heads(int64_t heads) { heads_ = heads; }

  Linear q_linear{nullptr};
  Linear kv_linear{nullptr};
  Linear proj{nullptr};

 private:
  int64_t heads_, head_dim_;
};
TORCH_MODULE(CrossAttention);

}  // namespace modelgrow
