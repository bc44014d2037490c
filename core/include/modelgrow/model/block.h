// One STDiT3 block (Open-Sora's STDiT3Block): adaLN-single modulated self-attention over the
// frame (spatial) or over time (temporal), one cross-attention per text condition, and an MLP.
//
// Keys: norm1/norm2 have none; attn.{qkv,q_norm,k_norm,proj}; cross_attn.{q_linear,kv_linear,proj}
// for condition 0 and cross_attn_{k} for condition k >= 1; mlp.{fc1,fc2}; scale_shift_table [6, C].
#pragma once

#include <memory>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "modelgrow/model/attention.h"
#include "modelgrow/model/embedders.h"

namespace modelgrow {

struct BlockSpec {
  int64_t hidden = 0;
  int64_t heads = 0;
  int64_t head_dim = 0;
  int64_t mlp_hidden = 0;
  bool qk_norm = true;
  bool temporal = false;
  int64_t num_conditions = 1;
};

// What every block of one forward pass shares.
struct BlockInputs {
  std::vector<torch::Tensor> y;       // per condition: projected caption [B, L_k, C]
  std::vector<torch::Tensor> y_mask;  // per condition: [B, L_k] bool, or undefined (all valid)
  torch::Tensor t_mlp;                // [B, 6C]
  torch::Tensor t0_mlp;               // [B, 6C] for frames kept as conditioning, or undefined
  torch::Tensor x_mask;               // [B, T] bool (true = noised frame), or undefined
  torch::Tensor rope_inv_freq;        // rotary inverse frequencies (temporal blocks)
  int64_t frames = 0;
  int64_t spatial = 0;
};

class STDiT3BlockImpl : public torch::nn::Module {
 public:
  explicit STDiT3BlockImpl(const BlockSpec& spec);

  torch::Tensor forward(const torch::Tensor& x, const BlockInputs& in);
  // The same computation, recomputed in backward instead of storing activations.
  torch::Tensor ForwardCheckpointed(const torch::Tensor& x, const BlockInputs& in);

  const BlockSpec& spec() const { return spec_; }
  bool temporal() const { return spec_.temporal; }

  // A deep copy: same spec, same values (LoRA adapters and growth masks included), new tensors.
  std::shared_ptr<STDiT3BlockImpl> Copy() const;

  // Adds the cross-attention of a new text condition after the existing ones. Its output
  // projection is zero, so the block computes the same function until it trains.
  void AddCrossAttention();

  // The layers whose outputs enter the residual stream: attn.proj, every cross-attention's
  // proj, mlp.fc2. Zeroing their weights and biases makes the block the identity.
  std::vector<Linear> ResidualOutputs() const;

  // Masked structural growth: the block computes x + gate * (block(x) - x); 1 is the plain block.
  void set_growth_gate(double gate) { growth_gate_ = gate; }
  double growth_gate() const { return growth_gate_; }

  // Width growth bookkeeping: the caller resized the tensors.
  void set_heads(int64_t heads);
  void set_mlp_hidden(int64_t mlp_hidden) { spec_.mlp_hidden = mlp_hidden; }
  void set_hidden(int64_t hidden) { spec_.hidden = hidden; }

  SelfAttention attn{nullptr};
  std::vector<CrossAttention> cross_attns;  // index = text condition
  Mlp mlp{nullptr};
  torch::Tensor scale_shift_table;

 private:
  BlockSpec spec_;
  double growth_gate_ = 1;
};
TORCH_MODULE(STDiT3Block);

// The key prefix of condition k's cross-attention inside a block: "cross_attn", "cross_attn_1", ...
std::string CrossAttentionName(int64_t condition);

}  // namespace modelgrow
