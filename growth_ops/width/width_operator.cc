// Exact width growth of every block (the zero-init expansions of Gesmundo & Maile 2023):
//
//   mlp_hidden  new fc1 rows (random, so the new units differ from each other) with zero bias,
//               new fc2 columns zero: the new units add 0 to the output.
//   heads       new heads of the same head size: new q/k/v rows in each of the three segments
//               of attn.qkv (its output is laid out [3, heads, head_dim]) and of the
//               cross-attentions' q_linear ([heads, head_dim]) and kv_linear ([2, heads,
//               head_dim]), random, zero bias; new columns of every output projection zero.
//
// Only the output side has to be zero. The input side is drawn at random (Xavier bound of the
// grown matrix) because zero rows would stay identical to each other under training; with the
// output zero they cannot change the function either way. Optimizer moments of the resized
// tensors are padded with zeros in the same layout.
//
// Hidden-size growth is not offered: it changes the LayerNorm statistics (the norms have no
// affine parameters to compensate) and the fixed sin/cos position embedding, so it cannot be exact.
#include <functional>

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include "modelgrow/sdk/block_plan.h"
#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/growth_operator.h"

namespace modelgrow {
namespace {

using Fill = std::function<torch::Tensor(const std::vector<int64_t>& shape)>;

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

class WidthOperator : public GrowthOperator {
 public:
  // The conformance suites grow their probe model (hidden 32, 2 heads of 16, MLP 128) with each
  // table; `test_` keys steer the suite (docs/writing-a-plugin.md).
  static constexpr const char* kExamples = R"toml(
[[example]]
mlp_hidden = 200

[[example]]
heads = 5

[[example]]
heads = 3
mlp_hidden = 256

[[example]]
mlp_hidden = 200
new_inputs = "zero"

[[example]]
heads = 2
test_check_error = "heads = 2 must be larger than the current 2 heads"

[[example]]
mlp_hidden = 64
test_check_error = "mlp_hidden = 64 must be larger than the current MLP width 128"

[[example]]  # nothing to grow
test_options_error = "width growth needs mlp_hidden"

[[example]]
hidden_size = 64
test_options_error = "hidden-size growth is not offered"
)toml";

  explicit WidthOperator(const PluginContext& context) {
    const Options& o = context.options;
    mlp_hidden_ = o.Int("mlp_hidden", 0, {.min = 1});
    heads_ = o.Int("heads", 0, {.min = 1});
    new_inputs_ = o.Choice("new_inputs", "random", {"random", "zero"});
    if (o.Has("hidden_size")) {
      o.Accept("hidden_size");
      o.Fail("hidden_size",
             "hidden-size growth is not offered: without affine LayerNorm parameters and with a "
             "fixed sin/cos position embedding it cannot preserve the function; grow mlp_hidden "
             "and/or heads");
    } else if (!o.Has("mlp_hidden") && !o.Has("heads")) {
      o.Fail("mlp_hidden",
             "width growth needs mlp_hidden (the new MLP width) and/or heads (the "
             "new number of attention heads)");
    }
  }

  void Check(const STDiT3Impl& model) const override {
    const STDiT3Config& c = model.config();
    if (mlp_hidden_ > 0 && mlp_hidden_ <= c.resolved_mlp_hidden()) {
      throw InputError(fmt::format("mlp_hidden = {} must be larger than the current MLP width {}",
                                   mlp_hidden_, c.resolved_mlp_hidden()));
    }
    if (heads_ > 0 && heads_ <= c.num_heads) {
      throw InputError(
          fmt::format("heads = {} must be larger than the current {} heads", heads_, c.num_heads));
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

  void Grow(GrowthContext& context, GrowthReport& report) override {
    STDiT3Impl& model = context.model;
    const STDiT3Config& c = model.config();
    const int64_t head_dim = c.resolved_head_dim();
    const int64_t old_heads = c.num_heads, old_mlp = c.resolved_mlp_hidden();
    const int64_t heads = heads_ > 0 ? heads_ : old_heads;
    const int64_t mlp = mlp_hidden_ > 0 ? mlp_hidden_ : old_mlp;
    generator_ = at::detail::createCPUGenerator(context.seed);
    state_ = context.optimizer_state;
    resized_ = 0;

    for (const auto* list : {&model.spatial_blocks(), &model.temporal_blocks()}) {
      for (size_t i = 0; i < list->size(); ++i) {
        STDiT3Block block = (*list)[i];
        std::string prefix = BlockKeyPrefix({block->temporal(), static_cast<int64_t>(i)}) + ".";
        if (heads != old_heads) {
          const int64_t inner = heads * head_dim;
          GrowOutputs(prefix + "attn.qkv", block->attn->qkv, 3, inner);
          GrowInputs(prefix + "attn.proj", block->attn->proj, inner);
          for (size_t k = 0; k < block->cross_attns.size(); ++k) {
            CrossAttention cross = block->cross_attns[k];
            std::string name = prefix + CrossAttentionName(static_cast<int64_t>(k));
            GrowOutputs(name + ".q_linear", cross->q_linear, 1, inner);
            GrowOutputs(name + ".kv_linear", cross->kv_linear, 2, inner);
            GrowInputs(name + ".proj", cross->proj, inner);
          }
          block->set_heads(heads);
        }
        if (mlp != old_mlp) {
          GrowOutputs(prefix + "mlp.fc1", block->mlp->fc1, 1, mlp);
          GrowInputs(prefix + "mlp.fc2", block->mlp->fc2, mlp);
          block->set_mlp_hidden(mlp);
        }
      }
    }
    model.SetWidth(heads, head_dim, mlp);

    report.claims_preserving = true;
    report.optimizer_state = OptimizerStatePolicy::kTransformed;
    report.optimizer_note = fmt::format(
        "moments of the {} resized tensors padded with zeros in the new rows/columns; every other "
        "entry carried",
        resized_);
    report.details = {{"heads", {{"before", old_heads}, {"after", heads}}},
                      {"head_dim", head_dim},
                      {"mlp_hidden", {{"before", old_mlp}, {"after", mlp}}},
                      {"new_inputs", new_inputs_},
                      {"zeroed", "new columns of attn.proj, every cross-attention proj, mlp.fc2"}};
    state_ = nullptr;
  }

 private:
  // The new rows (outputs) of a layer whose output is `segments` equal parts, each growing to
  // `per_segment`: random input weights, zero bias.
  void GrowOutputs(const std::string& name, Linear layer, int64_t segments, int64_t per_segment) {
    const double bound =
        std::sqrt(6.0 / static_cast<double>(layer->in_features() + segments * per_segment));
    Fill weights = [&](const std::vector<int64_t>& shape) {
      torch::Tensor t = torch::zeros(shape);
      if (new_inputs_ == "random") t.uniform_(-bound, bound, generator_);
      return t;
    };
    Fill zeros = [](const std::vector<int64_t>& shape) { return torch::zeros(shape); };
    torch::NoGradGuard no_grad;
    torch::Tensor bias;
    if (layer->bias.defined()) bias = GrowSegments(layer->bias, 0, segments, per_segment, zeros);
    layer->Reset(GrowSegments(layer->weight, 0, segments, per_segment, weights), bias);
    PadState(name + ".weight", 0, segments, per_segment);
    if (layer->bias.defined()) PadState(name + ".bias", 0, segments, per_segment);
  }

  // The new input columns of an output projection: zero, so the new units contribute nothing.
  void GrowInputs(const std::string& name, Linear layer, int64_t new_in) {
    Fill zeros = [](const std::vector<int64_t>& shape) { return torch::zeros(shape); };
    torch::NoGradGuard no_grad;
    layer->Reset(GrowSegments(layer->weight, 1, 1, new_in, zeros), torch::Tensor());
    PadState(name + ".weight", 1, 1, new_in);
  }

  void PadState(const std::string& key, int64_t dim, int64_t segments, int64_t per_segment) {
    ++resized_;
    if (state_ == nullptr) return;
    auto it = state_->find(key);
    if (it == state_->end()) return;
    Fill zeros = [](const std::vector<int64_t>& shape) { return torch::zeros(shape); };
    it->second.exp_avg = GrowSegments(it->second.exp_avg, dim, segments, per_segment, zeros);
    it->second.exp_avg_sq = GrowSegments(it->second.exp_avg_sq, dim, segments, per_segment, zeros);
  }

  int64_t mlp_hidden_ = 0;  // 0: unchanged
  int64_t heads_ = 0;       // 0: unchanged
  std::string new_inputs_;
  at::Generator generator_;
  OptimizerState* state_ = nullptr;
  int64_t resized_ = 0;
};

}  // namespace
}  // namespace modelgrow

MODELGROW_GROWTH_OPERATOR(modelgrow::WidthOperator, "width", "1.0.0",
                          "Exact width growth: MLP hidden size and attention heads, new output "
                          "columns zero");
