// Hidden-size growth by cloning (HyperCloning; Samragh et al. 2024, apple/ml-hypercloning),
// worked out for STDiT3. With factor n every activation of the residual stream, of attention and
// of the MLP becomes n copies of itself: hidden C -> nC, heads H -> nH of the same size, MLP M ->
// nM. A linear layer whose input is copied n times and whose output must be copied `a` times
// becomes W.repeat(a, n) / n (n copies of W/n sum to W); vectors on the stream are repeated.
//
// Why it is exact in STDiT3: its LayerNorms have no affine parameters and a copied vector has
// the same mean and variance, so norm(x.repeat(n)) = norm(x).repeat(n); adaLN modulation and the
// gates are elementwise; q/k RMSNorm and the rotary embedding act per head on head_dim, which
// does not change, and copied heads attend exactly as their originals; the caption projection
// reads the caption (not copied) and writes copies; the final layer reads n copies and divides by
// n. The fixed sin/cos position embedding of width nC is not n copies of the width-C one, so the
// grown config keeps the base's width for it (`modelgrow_pos_embed_dim`) and the model tiles it.
//
// Optimizer state: a copy of W sees the gradient G/a (its output is read a times), so each copy's
// moments are the base's with m / a and v / a^2: the first AdamW step moves every copy exactly as
// the base's step moved W. Where W was also divided by n (its input is copied), that step counts n
// times in the function: the grown model follows the base trained with n times the learning rate
// on those tensors (hypercloning_test shows both). Copies stay copies under training unless
// `noise` breaks the symmetry: noise added to the n input blocks of a row sums to zero over them,
// so the function is still exact.
#include <fmt/format.h>
#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>

#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/growth_operator.h"
#include "modelgrow/sdk/width_growth.h"

namespace modelgrow {
namespace {

using json = nlohmann::json;

// How one parameter is cloned: its layout (sdk/width_growth.h) with each grown axis copied n
// times (`out` copies of its outputs per segment, `in` copies of its inputs).
struct CloneRule {
  using Shape = ParameterLayout::Shape;
  Shape shape = Shape::kVector;
  bool unchanged = true;
  int64_t segments = 1;
  int64_t out = 1;
  int64_t in = 1;
};

CloneRule RuleFor(const std::string& key, int64_t n) {
  const ParameterLayout layout = HiddenGrowthLayout(key);
  return {layout.shape, !layout.grows(), layout.segments, layout.out == WidthAxis::kNone ? 1 : n,
          layout.in == WidthAxis::kNone ? 1 : n};
}

// The cloned tensor; `divide` is false for optimizer moments, which are scaled apart.
torch::Tensor Clone(const torch::Tensor& t, const CloneRule& r, bool divide) {
  using S = CloneRule::Shape;
  if (r.unchanged) return t;
  switch (r.shape) {
    case S::kTable:
      return t.repeat({1, r.out});
    case S::kConv: {
      std::vector<int64_t> reps(t.dim(), 1);
      reps[0] = r.out;
      return t.repeat(reps);
    }
    case S::kVector:
      return t.view({r.segments, -1}).repeat({1, r.out}).reshape({-1});
    case S::kMatrix: {
      torch::Tensor grown = t.view({r.segments, -1, t.size(1)}).repeat({1, r.out, r.in});
      if (divide && r.in > 1) grown = grown / static_cast<double>(r.in);
      return grown.reshape({-1, r.in * t.size(1)});
    }
  }
  return t;
}

class HyperCloningOperator : public GrowthOperator {
 public:
  // The conformance suites grow their probe model (hidden 32, 2 heads of 16, MLP 128) with each
  // table; `test_` keys steer the suite (docs/writing-a-plugin.md).
  static constexpr const char* kExamples = R"toml(
[[example]]  # hidden 32 -> 64, heads 2 -> 4, MLP 128 -> 256

[[example]]
factor = 3
noise = 0.01

[[example]]  # the frame-index embedding is tiled at the base's width like the 2-D one
test_model = {temporal_pos_embed = true}

[[example]]
factor = 1
test_options_error = "factor"

[[example]]
noise = -1
test_options_error = "noise"
)toml";

  explicit HyperCloningOperator(const PluginContext& context) {
    const Options& o = context.options;
    factor_ = o.Int("factor", 2, {.min = 2, .max = 8});
    noise_ = o.Double("noise", 0.0, {.min = 0.0});
  }

  void Check(const STDiT3Impl& model) const override { CheckHiddenSizeGrowth(model, factor_); }

  void Grow(GrowthContext& context, GrowthReport& report) override {
    STDiT3Impl& model = context.model;
    const STDiT3Config before = model.config();
    const int64_t n = factor_;
    at::Generator generator = at::detail::createCPUGenerator(context.seed);
    int64_t cloned = 0, noised = 0;
    {
      torch::NoGradGuard no_grad;
      for (auto& item : model.named_parameters()) {
        const CloneRule rule = RuleFor(item.key(), n);
        if (rule.unchanged) continue;
        torch::Tensor& param = item.value();
        torch::Tensor grown = Clone(param, rule, /*divide=*/true);
        if (noise_ > 0 && rule.shape == CloneRule::Shape::kMatrix && rule.in > 1) {
          grown = AddCancellingNoise(grown, rule, param.std().item<double>(), generator);
          ++noised;
        }
        param.set_data(grown.contiguous());
        ++cloned;
        if (context.optimizer_state == nullptr) continue;
        auto it = context.optimizer_state->find(item.key());
        if (it == context.optimizer_state->end()) continue;
        const double a = static_cast<double>(rule.out);
        it->second.exp_avg = Clone(it->second.exp_avg, rule, false) / a;
        it->second.exp_avg_sq = Clone(it->second.exp_avg_sq, rule, false) / (a * a);
      }
    }
    for (const auto* list : {&model.spatial_blocks(), &model.temporal_blocks()}) {
      for (STDiT3Block block : *list) {
        block->set_heads(before.num_heads * n);
        block->set_mlp_hidden(before.resolved_mlp_hidden() * n);
      }
    }
    model.SetHiddenSize(before.hidden_size * n, before.resolved_pos_embed_dim());
    model.SetWidth(before.num_heads * n, before.resolved_head_dim(),
                   before.resolved_mlp_hidden() * n);

    report.claims_preserving = true;
    report.optimizer_state = OptimizerStatePolicy::kTransformed;
    report.optimizer_note =
        "every moment cloned as its tensor: m / a and v / a^2 where the tensor's output is read a "
        "times, so the first step moves each copy as the base's step moved the original";
    report.details = {
        {"factor", n},
        {"noise", noise_},
        {"hidden_size", {{"before", before.hidden_size}, {"after", model.config().hidden_size}}},
        {"heads", {{"before", before.num_heads}, {"after", model.config().num_heads}}},
        {"head_dim", before.resolved_head_dim()},
        {"mlp_hidden",
         {{"before", before.resolved_mlp_hidden()},
          {"after", model.config().resolved_mlp_hidden()}}},
        {"pos_embed_dim", model.config().resolved_pos_embed_dim()},
        {"cloned_tensors", cloned},
        {"noised_tensors", noised}};
  }

 private:
  // Noise on each row's n input blocks that sums to zero over them: a copied input sees the sum,
  // so the output is unchanged while the copies start apart.
  torch::Tensor AddCancellingNoise(const torch::Tensor& grown, const CloneRule& r, double scale,
                                   at::Generator& generator) const {
    const int64_t rows = grown.size(0), cols = grown.size(1) / r.in;
    torch::Tensor e = at::randn({rows, r.in, cols}, generator, grown.options());
    e = (e - e.mean(1, /*keepdim=*/true)) * (noise_ * scale / static_cast<double>(r.in));
    return grown + e.reshape({rows, r.in * cols});
  }

  int64_t factor_ = 2;
  double noise_ = 0;
};

}  // namespace
}  // namespace modelgrow

MODELGROW_GROWTH_OPERATOR(modelgrow::HyperCloningOperator, "hypercloning", "1.0.0",
                          "Hidden-size growth by cloning (HyperCloning): every width times n, "
                          "exact, optimizer moments cloned");
