#include "modelgrow/model/block.h"
#include "modelgrow/model/init_device.h"

#include <cmath>

#include <ATen/core/ivalue.h>
#include <torch/autograd.h>
#include <torch/custom_class.h>

#include "modelgrow/model/precision.h"

namespace modelgrow {

std::string CrossAttentionName(int64_t condition) {
  return condition == 0 ? "cross_attn" : "cross_attn_" + std::to_string(condition);
}

STDiT3BlockImpl::STDiT3BlockImpl(const BlockSpec& spec) : spec_(spec) {
  attn =
      register_module("attn", SelfAttention(spec.hidden, spec.heads, spec.head_dim, spec.qk_norm));
  for (int64_t k = 0; k < spec.num_conditions; ++k) {
    cross_attns.push_back(register_module(CrossAttentionName(k),
                                          CrossAttention(spec.hidden, spec.heads, spec.head_dim)));
  }
  mlp = register_module("mlp", Mlp(spec.hidden, spec.mlp_hidden, spec.hidden));
  scale_shift_table =
      register_parameter("scale_shift_table", torch::randn({6, spec.hidden}, ModelInitOptions()) /
                                                  std::sqrt(static_cast<double>(spec.hidden)));
}

torch::Tensor STDiT3BlockImpl::forward(const torch::Tensor& x_in, const BlockInputs& in) {
  const int64_t b = x_in.size(0), c = spec_.hidden, frames = in.frames, spatial = in.spatial;
  const bool masked = in.x_mask.defined();
  torch::Tensor mod = scale_shift_table.unsqueeze(0) + in.t_mlp.view({b, 6, c});
  auto part = [&](const torch::Tensor& m, int64_t i) { return m.slice(1, i, i + 1); };
  torch::Tensor mod0 =
      masked ? scale_shift_table.unsqueeze(0) + in.t0_mlp.view({b, 6, c}) : torch::Tensor();
  torch::Tensor x = x_in;

  // Self-attention, adaLN-modulated and gated.
  torch::Tensor normed = PlainLayerNorm(x);
  torch::Tensor h = Modulate(normed, part(mod, 0), part(mod, 1));
  if (masked) {
    h = SelectFrames(in.x_mask, h, Modulate(normed, part(mod0, 0), part(mod0, 1)), frames, spatial);
  }
  if (spec_.temporal) {
    h = h.view({b, frames, spatial, c}).permute({0, 2, 1, 3}).reshape({b * spatial, frames, c});
    h = attn(h, in.rope_inv_freq);
    h = h.view({b, spatial, frames, c}).permute({0, 2, 1, 3}).reshape({b, frames * spatial, c});
  } else {
    h = attn(h.reshape({b * frames, spatial, c}), torch::Tensor()).view({b, frames * spatial, c});
  }
  torch::Tensor gated = part(mod, 2) * h;
  if (masked) gated = SelectFrames(in.x_mask, gated, part(mod0, 2) * h, frames, spatial);
  x = x + gated;

  // One cross-attention per text condition, in order; no modulation, no gate.
  for (size_t k = 0; k < cross_attns.size(); ++k) {
    x = x + cross_attns[k](x, in.y[k], in.y_mask[k]);
  }

  // MLP, adaLN-modulated and gated.
  normed = PlainLayerNorm(x);
  h = Modulate(normed, part(mod, 3), part(mod, 4));
  if (masked) {
    h = SelectFrames(in.x_mask, h, Modulate(normed, part(mod0, 3), part(mod0, 4)), frames, spatial);
  }
  h = mlp(h);
  gated = part(mod, 5) * h;
  if (masked) gated = SelectFrames(in.x_mask, gated, part(mod0, 5) * h, frames, spatial);
  x = x + gated;
  if (growth_gate_ != 1) x = x_in + growth_gate_ * (x - x_in);
  return x;
}

namespace {

// What backward needs to recompute a block: the block, the inputs that carry no gradient, the
// precision and the RNG state (so LoRA dropout draws the same masks again).
struct SavedBlockCall : torch::CustomClassHolder {
  STDiT3BlockImpl* block = nullptr;
  BlockInputs inputs;
  c10::ScalarType dtype = c10::ScalarType::Float;
  at::Tensor rng_state;
};

// Tensors that may need gradients travel as Function inputs: [t_mlp, t0_mlp?, y_0, ..., y_n].
std::vector<torch::Tensor> DifferentiableInputs(const BlockInputs& in) {
  std::vector<torch::Tensor> list{in.t_mlp};
  if (in.t0_mlp.defined()) list.push_back(in.t0_mlp);
  for (const auto& y : in.y) list.push_back(y);
  return list;
}

BlockInputs WithDifferentiable(BlockInputs in, const std::vector<torch::Tensor>& list) {
  size_t i = 0;
  in.t_mlp = list[i++];
  if (in.t0_mlp.defined()) in.t0_mlp = list[i++];
  for (auto& y : in.y) y = list[i++];
  return in;
}

struct CheckpointedBlock : torch::autograd::Function<CheckpointedBlock> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x,
                               at::TensorList differentiable, STDiT3BlockImpl* block,
                               const BlockInputs* inputs) {
    auto saved = c10::make_intrusive<SavedBlockCall>();
    saved->block = block;
    saved->inputs = *inputs;
    saved->dtype = ComputeDtype();
    saved->rng_state = at::detail::getDefaultCPUGenerator().get_state();
    std::vector<torch::Tensor> all{x};
    all.insert(all.end(), differentiable.begin(), differentiable.end());
    ctx->save_for_backward(all);
    ctx->saved_data["call"] = c10::IValue::make_capsule(saved);
    torch::NoGradGuard no_grad;
    return block->forward(
        x, WithDifferentiable(
               *inputs, std::vector<torch::Tensor>(differentiable.begin(), differentiable.end())));
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    auto saved =
        c10::static_intrusive_pointer_cast<SavedBlockCall>(ctx->saved_data["call"].toCapsule());
    std::vector<torch::Tensor> all = ctx->get_saved_variables();
    std::vector<torch::Tensor> leaves;
    for (const auto& t : all) leaves.push_back(t.detach().requires_grad_(t.requires_grad()));
    torch::Tensor out;
    {
      torch::AutoGradMode enable(true);
      PrecisionScope precision(saved->dtype);
      at::Generator generator = at::detail::getDefaultCPUGenerator();
      at::Tensor current_rng = generator.get_state();
      generator.set_state(saved->rng_state);
      out = saved->block->forward(
          leaves[0], WithDifferentiable(saved->inputs, std::vector<torch::Tensor>(
                                                           leaves.begin() + 1, leaves.end())));
      generator.set_state(current_rng);
    }
    torch::autograd::backward({out}, {grad_out[0]});
    torch::autograd::variable_list grads;
    for (const auto& leaf : leaves)
      grads.push_back(leaf.requires_grad() ? leaf.grad() : torch::Tensor());
    grads.push_back(torch::Tensor());  // block
    grads.push_back(torch::Tensor());  // inputs
    return grads;
  }
};

}  // namespace

torch::Tensor STDiT3BlockImpl::ForwardCheckpointed(const torch::Tensor& x, const BlockInputs& in) {
  if (!torch::GradMode::is_enabled()) return forward(x, in);
  std::vector<torch::Tensor> differentiable = DifferentiableInputs(in);
  return CheckpointedBlock::apply(x, at::TensorList(differentiable), this, &in);
}

std::shared_ptr<STDiT3BlockImpl> STDiT3BlockImpl::Copy() const {
  auto copy = std::make_shared<STDiT3BlockImpl>(spec_);
  auto copy_modules = copy->named_modules();
  for (const auto& item : named_modules()) {
    auto* linear = dynamic_cast<const LinearImpl*>(item.value().get());
    if (linear == nullptr) continue;
    auto* target = dynamic_cast<LinearImpl*>(copy_modules[item.key()].get());
    target->SetInputMask(linear->input_mask_first(), linear->input_mask_value());
    if (!linear->has_lora()) continue;
    target->AddLora(linear->lora_rank(), linear->lora_alpha(), linear->lora_dropout());
  }
  copy->set_growth_gate(growth_gate_);
  torch::NoGradGuard no_grad;
  auto target_params = copy->named_parameters();
  for (const auto& item : named_parameters()) {
    target_params[item.key()].copy_(item.value());
    target_params[item.key()].set_requires_grad(item.value().requires_grad());
  }
  return copy;
}

void STDiT3BlockImpl::AddCrossAttention() {
  int64_t k = static_cast<int64_t>(cross_attns.size());
  CrossAttention cross(spec_.hidden, spec_.heads, spec_.head_dim);
  {
    torch::NoGradGuard no_grad;
    cross->proj->weight.zero_();
    cross->proj->bias.zero_();
  }
  cross->to(scale_shift_table.device());
  cross_attns.push_back(register_module(CrossAttentionName(k), cross));
  spec_.num_conditions = k + 1;
}

std::vector<Linear> STDiT3BlockImpl::ResidualOutputs() const {
  std::vector<Linear> out{attn->proj};
  for (const auto& cross : cross_attns) out.push_back(cross->proj);
  out.push_back(mlp->fc2);
  return out;
}

void STDiT3BlockImpl::set_heads(int64_t heads) {
  spec_.heads = heads;
  attn->set_heads(heads);
  for (auto& cross : cross_attns) cross->set_heads(heads);
}

}  // namespace modelgrow
