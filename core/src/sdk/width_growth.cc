#include "modelgrow/sdk/width_growth.h"

#include <cmath>
#include <functional>

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include "modelgrow/sdk/block_plan.h"
#include "modelgrow/sdk/errors.h"

namespace modelgrow {
namespace {

using Fill = std::function<torch::Tensor(const std::vector<int64_t>& shape)>;

torch::Tensor Zeros(const std::vector<int64_t>& shape) { return torch::zeros(shape); }

// `t` viewed along `dim` as [segments, size / segments] grown to [segments, new_per_segment];
// the added entries come from `fill`.
torch::Tensor GrowSegments(const torch::Tensor& t, int64_t dim, int64_t segments,
                           int64_t new_per_segment, const Fill& fill) {
  std::vector<int64_t> sizes = t.sizes().vec();
  const int64_t old_per_segment = sizes[dim] / segments;
  std::vector<int64_t> view = sizes;
  view[dim] = old_per_segment;
  view.insert(view.begin() + dim, segments);
  std::vector<int64_t> added = view;
  added[dim + 1] = new_per_segment - old_per_segment;
  torch::Tensor grown =
      torch::cat({t.reshape(view), fill(added).to(t.device(), t.scalar_type())}, dim + 1);
  sizes[dim] = segments * new_per_segment;
  return grown.reshape(sizes);
}

class WidthGrower {
 public:
  WidthGrower(const WidthGrowthSpec& spec, uint64_t seed, OptimizerState* state)
      : spec_(spec), generator_(at::detail::createCPUGenerator(seed)), state_(state) {}

  // The new rows (outputs) of a layer whose output is `segments` equal parts, each growing to
  // `per_segment`; zero bias.
  void GrowOutputs(const std::string& name, Linear layer, int64_t segments, int64_t per_segment) {
    torch::NoGradGuard no_grad;
    torch::Tensor bias;
    if (layer->bias.defined()) bias = GrowSegments(layer->bias, 0, segments, per_segment, Zeros);
    layer->Reset(
        GrowSegments(layer->weight, 0, segments, per_segment,
                     Weights(spec_.new_inputs, layer->in_features() + segments * per_segment)),
        bias);
    PadState(name + ".weight", 0, segments, per_segment);
    if (layer->bias.defined()) PadState(name + ".bias", 0, segments, per_segment);
  }

  // The new input columns of an output projection.
  void GrowInputs(const std::string& name, Linear layer, int64_t new_in) {
    torch::NoGradGuard no_grad;
    layer->Reset(GrowSegments(layer->weight, 1, 1, new_in,
                              Weights(spec_.new_outputs, new_in + layer->out_features())),
                 torch::Tensor());
    PadState(name + ".weight", 1, 1, new_in);
  }

  int64_t resized() const { return resized_; }

 private:
  Fill Weights(NewWeights kind, int64_t fan_sum) {
    if (kind == NewWeights::kZero) return Zeros;
    const double bound = std::sqrt(6.0 / static_cast<double>(fan_sum));
    return [this, bound](const std::vector<int64_t>& shape) {
      return torch::zeros(shape).uniform_(-bound, bound, generator_);
    };
  }

  void PadState(const std::string& key, int64_t dim, int64_t segments, int64_t per_segment) {
    ++resized_;
    if (state_ == nullptr) return;
    auto it = state_->find(key);
    if (it == state_->end()) return;
    it->second.exp_avg = GrowSegments(it->second.exp_avg, dim, segments, per_segment, Zeros);
    it->second.exp_avg_sq = GrowSegments(it->second.exp_avg_sq, dim, segments, per_segment, Zeros);
  }

  WidthGrowthSpec spec_;
  at::Generator generator_;
  OptimizerState* state_;
  int64_t resized_ = 0;
};

}  // namespace

void CheckWidthGrowth(const STDiT3Impl& model, const WidthGrowthSpec& spec) {
  const STDiT3Config& c = model.config();
  if (spec.mlp_hidden > 0 && spec.mlp_hidden <= c.resolved_mlp_hidden()) {
    throw InputError(fmt::format("mlp_hidden = {} must be larger than the current MLP width {}",
                                 spec.mlp_hidden, c.resolved_mlp_hidden()));
  }
  if (spec.heads > 0 && spec.heads <= c.num_heads) {
    throw InputError(fmt::format("heads = {} must be larger than the current {} heads", spec.heads,
                                 c.num_heads));
  }
  for (const auto* list : {&model.spatial_blocks(), &model.temporal_blocks()}) {
    for (size_t i = 0; i < list->size(); ++i) {
      for (const auto& item : (*list)[i]->named_modules()) {
        auto* linear = dynamic_cast<const LinearImpl*>(item.value().get());
        if (linear != nullptr && linear->has_lora()) {
          throw InputError(fmt::format(
              "{}.{} has LoRA adapters, which width growth cannot resize; merge them first "
              "(op lora with merge = true)",
              BlockKeyPrefix({(*list)[i]->temporal(), static_cast<int64_t>(i)}), item.key()));
        }
      }
    }
  }
}

int64_t GrowWidth(STDiT3Impl& model, const WidthGrowthSpec& spec, uint64_t seed,
                  OptimizerState* optimizer_state) {
  CheckWidthGrowth(model, spec);
  const STDiT3Config& c = model.config();
  const int64_t head_dim = c.resolved_head_dim();
  const int64_t old_heads = c.num_heads, old_mlp = c.resolved_mlp_hidden();
  const int64_t heads = spec.heads > 0 ? spec.heads : old_heads;
  const int64_t mlp = spec.mlp_hidden > 0 ? spec.mlp_hidden : old_mlp;
  WidthGrower grower(spec, seed, optimizer_state);
  for (const auto* list : {&model.spatial_blocks(), &model.temporal_blocks()}) {
    for (size_t i = 0; i < list->size(); ++i) {
      STDiT3Block block = (*list)[i];
      std::string prefix = BlockKeyPrefix({block->temporal(), static_cast<int64_t>(i)}) + ".";
      if (heads != old_heads) {
        const int64_t inner = heads * head_dim;
        grower.GrowOutputs(prefix + "attn.qkv", block->attn->qkv, 3, inner);
        grower.GrowInputs(prefix + "attn.proj", block->attn->proj, inner);
        for (size_t k = 0; k < block->cross_attns.size(); ++k) {
          CrossAttention cross = block->cross_attns[k];
          std::string name = prefix + CrossAttentionName(static_cast<int64_t>(k));
          grower.GrowOutputs(name + ".q_linear", cross->q_linear, 1, inner);
          grower.GrowOutputs(name + ".kv_linear", cross->kv_linear, 2, inner);
          grower.GrowInputs(name + ".proj", cross->proj, inner);
        }
        block->set_heads(heads);
      }
      if (mlp != old_mlp) {
        grower.GrowOutputs(prefix + "mlp.fc1", block->mlp->fc1, 1, mlp);
        grower.GrowInputs(prefix + "mlp.fc2", block->mlp->fc2, mlp);
        block->set_mlp_hidden(mlp);
      }
    }
  }
  model.SetWidth(heads, head_dim, mlp);
  return grower.resized();
}

ParameterLayout HiddenGrowthLayout(const std::string& key) {
  using S = ParameterLayout::Shape;
  using A = WidthAxis;
  if (key.ends_with("y_embedding") || key.ends_with("q_norm.weight") ||
      key.ends_with("k_norm.weight")) {
    return {};
  }
  if (key.ends_with("scale_shift_table")) return {S::kTable, 1, A::kHidden, A::kNone};
  if (key == "x_embedder.proj.weight") return {S::kConv, 1, A::kHidden, A::kNone};
  const bool bias = key.ends_with(".bias");
  const S shape = bias ? S::kVector : S::kMatrix;
  if (key == "x_embedder.proj.bias" || key.starts_with("t_embedder.mlp.0.") ||
      key.starts_with("fps_embedder.mlp.0.") || key.find("y_proj.fc1.") != std::string::npos) {
    return {shape, 1, A::kHidden, A::kNone};
  }
  // The one layer whose output is not on the hidden axis.
  if (key.starts_with("final_layer.linear.")) {
    return bias ? ParameterLayout{} : ParameterLayout{shape, 1, A::kNone, A::kHidden};
  }
  int64_t segments = 1;
  if (key.starts_with("t_block.1.")) segments = 6;  // [6, C] modulation chunks
  if (key.find("attn.qkv.") != std::string::npos) segments = 3;
  if (key.find("kv_linear.") != std::string::npos) segments = 2;
  A out = A::kHidden, in = A::kHidden;
  if (key.find("attn.qkv.") != std::string::npos || key.find("q_linear.") != std::string::npos ||
      key.find("kv_linear.") != std::string::npos) {
    out = A::kHeads;
  }
  if (key.find("mlp.fc1.") != std::string::npos) out = A::kMlp;
  // attn.proj, and each cross-attention's proj (cross_attn.proj, cross_attn_1.proj, ...).
  if (key.find("attn.proj.") != std::string::npos ||
      (key.find("cross_attn") != std::string::npos && key.find(".proj.") != std::string::npos)) {
    in = A::kHeads;
  }
  if (key.find("mlp.fc2.") != std::string::npos) in = A::kMlp;
  return {shape, segments, out, bias ? A::kNone : in};
}

void CheckHiddenSizeGrowth(const STDiT3Impl& model, int64_t factor) {
  for (const auto& item : model.named_parameters()) {
    if (item.key().find("lora_") != std::string::npos) {
      throw InputError(fmt::format(
          "{} is a LoRA adapter, which hidden-size growth cannot expand; merge the adapters first "
          "(op lora with merge = true)",
          item.key()));
    }
  }
  if (!model.config().growth_masks.empty()) {
    throw InputError("the model still has growth masks (an MSG ramp that has not finished)");
  }
  STDiT3Config grown = model.config();
  grown.hidden_size *= factor;
  grown.Validate();
}

}  // namespace modelgrow
