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
#include <fmt/format.h>

#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/growth_operator.h"
#include "modelgrow/sdk/width_growth.h"

namespace modelgrow {
namespace {

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

  void Check(const STDiT3Impl& model) const override { CheckWidthGrowth(model, Spec()); }

  void Grow(GrowthContext& context, GrowthReport& report) override {
    const STDiT3Config& c = context.model.config();
    const int64_t head_dim = c.resolved_head_dim();
    const int64_t old_heads = c.num_heads, old_mlp = c.resolved_mlp_hidden();
    const int64_t resized = GrowWidth(context.model, Spec(), context.seed, context.optimizer_state);
    const int64_t heads = c.num_heads, mlp = c.resolved_mlp_hidden();

    report.claims_preserving = true;
    report.optimizer_state = OptimizerStatePolicy::kTransformed;
    report.optimizer_note = fmt::format(
        "moments of the {} resized tensors padded with zeros in the new rows/columns; every other "
        "entry carried",
        resized);
    report.details = {{"heads", {{"before", old_heads}, {"after", heads}}},
                      {"head_dim", head_dim},
                      {"mlp_hidden", {{"before", old_mlp}, {"after", mlp}}},
                      {"new_inputs", new_inputs_},
                      {"zeroed", "new columns of attn.proj, every cross-attention proj, mlp.fc2"}};
  }

 private:
  WidthGrowthSpec Spec() const {
    return {.heads = heads_,
            .mlp_hidden = mlp_hidden_,
            .new_inputs = new_inputs_ == "zero" ? NewWeights::kZero : NewWeights::kRandom,
            .new_outputs = NewWeights::kZero};
  }

  int64_t mlp_hidden_ = 0;  // 0: unchanged
  int64_t heads_ = 0;       // 0: unchanged
  std::string new_inputs_;
};

}  // namespace
}  // namespace modelgrow

MODELGROW_GROWTH_OPERATOR(modelgrow::WidthOperator, "width", "1.0.0",
                          "Exact width growth: MLP hidden size and attention heads, new output "
                          "columns zero");
