// Width growth by splitting units: Net2Net's Net2WiderNet (Chen et al. 2015) as bert2BERT calls it,
// function-preserving initialisation (FPI), and bert2BERT's advanced knowledge initialisation
// (AKI; Chen et al. 2022).
//
//   fpi  each new MLP unit (or head) copies a unit of its own layer drawn at random; the outgoing
//        weights of a unit and of its copies are divided by their number, so together they write
//        what the unit wrote alone: exact, but the copies are copies (symmetric) until `noise`
//        perturbs their incoming weights, which makes growth approximate.
//   aki  the new units' incoming and outgoing weights come from the same units of the block
//        above (the next block of the same list; the last block uses its own), and the outgoing
//        weights of each group are divided as in fpi: knowledge from the upper layer, and not
//        function preserving by design.
//
// The host measures how far either moves the output (docs/growth-operators.md lists it); the
// report claims preservation only for fpi without noise. Optimizer moments of the resized tensors
// are padded with zeros for the new units (the divided columns keep theirs).
#include <fmt/format.h>
#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>

#include "modelgrow/sdk/block_plan.h"
#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/growth_operator.h"
#include "modelgrow/sdk/width_growth.h"

namespace modelgrow {
namespace {

using json = nlohmann::json;

// A tensor's dim `dim` seen as [segments, units, unit_size].
std::vector<int64_t> UnitView(const torch::Tensor& t, int64_t dim, int64_t segments,
                              int64_t units) {
  std::vector<int64_t> view = t.sizes().vec();
  const int64_t unit_size = view[dim] / (segments * units);
  view[dim] = unit_size;
  view.insert(view.begin() + dim, units);
  view.insert(view.begin() + dim, segments);
  return view;
}

// `t` with the units `sources` of `from` (same layout) appended to each segment.
torch::Tensor AppendUnits(const torch::Tensor& t, const torch::Tensor& from, int64_t dim,
                          int64_t segments, int64_t units, const torch::Tensor& sources) {
  const std::vector<int64_t> view = UnitView(t, dim, segments, units);
  torch::Tensor picked = from.reshape(view).index_select(dim + 1, sources);
  std::vector<int64_t> sizes = t.sizes().vec();
  sizes[dim] = sizes[dim] / units * (units + sources.size(0));
  return torch::cat({t.reshape(view), picked}, dim + 1).reshape(sizes);
}

// Divides unit k of every segment by scale[k].
torch::Tensor DivideUnits(const torch::Tensor& t, int64_t dim, int64_t segments,
                          const torch::Tensor& scale) {
  const int64_t units = scale.size(0);
  std::vector<int64_t> view = UnitView(t, dim, segments, units);
  std::vector<int64_t> shape(view.size(), 1);
  shape[dim + 1] = units;
  return (t.reshape(view) / scale.view(shape).to(t.dtype())).reshape(t.sizes());
}

class Net2NetOperator : public GrowthOperator {
 public:
  // The conformance suites grow their probe model (hidden 32, 2 heads of 16, MLP 128) with each
  // table; `test_` keys steer the suite (docs/writing-a-plugin.md).
  static constexpr const char* kExamples = R"toml(
[[example]]  # FPI: exact
mlp_hidden = 192
heads = 3

[[example]]
mlp_hidden = 256
noise = 0.01

[[example]]
method = "aki"
mlp_hidden = 200
heads = 4

[[example]]
heads = 2
test_check_error = "heads = 2 must be larger than the current 2 heads"

[[example]]
test_options_error = "net2net needs mlp_hidden"
)toml";

  explicit Net2NetOperator(const PluginContext& context) {
    const Options& o = context.options;
    width_.mlp_hidden = o.Int("mlp_hidden", 0, {.min = 1});
    width_.heads = o.Int("heads", 0, {.min = 1});
    method_ = o.Choice("method", "fpi", {"fpi", "aki"});
    noise_ = o.Double("noise", 0.0, {.min = 0.0});
    if (!o.Has("mlp_hidden") && !o.Has("heads")) {
      o.Fail("mlp_hidden",
             "net2net needs mlp_hidden (the new MLP width) and/or heads (the new number of heads)");
    }
  }

  void Check(const STDiT3Impl& model) const override {
    CheckWidthGrowth(model, width_);
    if (!model.config().growth_masks.empty()) {
      throw InputError("the model still has growth masks (an MSG ramp that has not finished)");
    }
  }

  void Grow(GrowthContext& context, GrowthReport& report) override {
    STDiT3Impl& model = context.model;
    const STDiT3Config before = model.config();
    const int64_t d = before.resolved_head_dim();
    const int64_t old_heads = before.num_heads, old_mlp = before.resolved_mlp_hidden();
    const int64_t heads = width_.heads > 0 ? width_.heads : old_heads;
    const int64_t mlp = width_.mlp_hidden > 0 ? width_.mlp_hidden : old_mlp;
    generator_ = at::detail::createCPUGenerator(context.seed);
    state_ = context.optimizer_state;
    json sources = json::object();
    torch::NoGradGuard no_grad;
    for (const auto* list : {&model.spatial_blocks(), &model.temporal_blocks()}) {
      // Every block reads its upper neighbour as it was before growth.
      std::vector<std::map<std::string, torch::Tensor>> originals;
      for (const STDiT3Block& block : *list) {
        std::map<std::string, torch::Tensor> params;
        for (const auto& item : block->named_parameters())
          params[item.key()] = item.value().detach().clone();
        originals.push_back(std::move(params));
      }
      for (size_t i = 0; i < list->size(); ++i) {
        STDiT3Block block = (*list)[i];
        const std::string prefix =
            BlockKeyPrefix({block->temporal(), static_cast<int64_t>(i)}) + ".";
        const auto& from = originals[method_ == "aki" && i + 1 < list->size() ? i + 1 : i];
        if (heads != old_heads) {
          torch::Tensor g = Sources(old_heads, heads);
          sources[prefix + "heads"] = Used(g);
          Expand(prefix, "attn.qkv", block->attn->qkv, from, 3, old_heads, g);
          Merge(prefix, "attn.proj", block->attn->proj, from, old_heads, g, old_heads);
          for (size_t k = 0; k < block->cross_attns.size(); ++k) {
            CrossAttention cross = block->cross_attns[k];
            const std::string name = CrossAttentionName(static_cast<int64_t>(k));
            Expand(prefix, name + ".q_linear", cross->q_linear, from, 1, old_heads, g);
            Expand(prefix, name + ".kv_linear", cross->kv_linear, from, 2, old_heads, g);
            Merge(prefix, name + ".proj", cross->proj, from, old_heads, g, old_heads);
          }
          block->set_heads(heads);
        }
        if (mlp != old_mlp) {
          torch::Tensor g = Sources(old_mlp, mlp);
          sources[prefix + "mlp"] = Used(g);
          Expand(prefix, "mlp.fc1", block->mlp->fc1, from, 1, old_mlp, g);
          Merge(prefix, "mlp.fc2", block->mlp->fc2, from, old_mlp, g, old_mlp);
          block->set_mlp_hidden(mlp);
        }
      }
    }
    model.SetWidth(heads, d, mlp);
    (void)sources;

    report.claims_preserving = method_ == "fpi" && noise_ == 0;
    report.optimizer_state = OptimizerStatePolicy::kTransformed;
    report.optimizer_note = fmt::format(
        "moments of the {} resized tensors padded with zeros for the new units; the divided "
        "output columns keep theirs",
        resized_);
    report.details = {{"method", method_},
                      {"noise", noise_},
                      {"heads", {{"before", old_heads}, {"after", heads}}},
                      {"head_dim", d},
                      {"mlp_hidden", {{"before", old_mlp}, {"after", mlp}}},
                      {"source_of_new_units", method_ == "aki" ? "the block above" : "own block"}};
    state_ = nullptr;
  }

 private:
  // Units [0, old) map to themselves; each new unit to an old one drawn at random.
  torch::Tensor Sources(int64_t old_units, int64_t new_units) {
    return at::randint(0, old_units, {new_units - old_units}, generator_,
                       torch::TensorOptions().dtype(torch::kLong));
  }
  static int64_t Used(const torch::Tensor& g) { return g.size(0); }

  // The layer computing the units: new rows copied from the sources (of `from`), with noise.
  void Expand(const std::string& prefix, const std::string& name, Linear layer,
              const std::map<std::string, torch::Tensor>& from, int64_t segments, int64_t old_units,
              const torch::Tensor& g) {
    torch::Tensor w =
        AppendUnits(layer->weight, from.at(name + ".weight"), 0, segments, old_units, g);
    if (noise_ > 0) {
      // Only the new rows: the originals keep computing what they did.
      torch::Tensor rows =
          w.view(UnitView(w, 0, segments, old_units + g.size(0))).slice(1, old_units);
      rows.add_(at::randn(rows.sizes(), generator_, rows.options()) *
                (noise_ * layer->weight.std().item<double>()));
    }
    torch::Tensor b;
    if (layer->bias.defined())
      b = AppendUnits(layer->bias, from.at(name + ".bias"), 0, segments, old_units, g);
    layer->Reset(w, b);
    Pad(prefix + name + ".weight", 0, segments, old_units, g.size(0));
    if (layer->bias.defined()) Pad(prefix + name + ".bias", 0, segments, old_units, g.size(0));
  }

  // The layer reading the units: new columns from the sources, every group divided by its size.
  void Merge(const std::string& prefix, const std::string& name, Linear layer,
             const std::map<std::string, torch::Tensor>& from, int64_t old_units,
             const torch::Tensor& g, int64_t units_before) {
    torch::Tensor counts = torch::ones({units_before}, torch::kDouble);
    counts.index_add_(0, g, torch::ones({g.size(0)}, torch::kDouble));
    torch::Tensor scale = torch::cat({counts, counts.index_select(0, g)});
    torch::Tensor w = AppendUnits(layer->weight, from.at(name + ".weight"), 1, 1, old_units, g);
    layer->Reset(DivideUnits(w, 1, 1, scale), torch::Tensor());
    Pad(prefix + name + ".weight", 1, 1, old_units, g.size(0));
  }

  void Pad(const std::string& key, int64_t dim, int64_t segments, int64_t units, int64_t added) {
    ++resized_;
    if (state_ == nullptr) return;
    auto it = state_->find(key);
    if (it == state_->end()) return;
    for (torch::Tensor* m : {&it->second.exp_avg, &it->second.exp_avg_sq}) {
      torch::Tensor zeros = torch::zeros_like(*m);
      *m = AppendUnits(*m, zeros, dim, segments, units,
                       torch::zeros({added}, torch::TensorOptions().dtype(torch::kLong)));
    }
  }

  WidthGrowthSpec width_;
  std::string method_;
  double noise_ = 0;
  at::Generator generator_;
  OptimizerState* state_ = nullptr;
  int64_t resized_ = 0;
};

}  // namespace
}  // namespace modelgrow

MODELGROW_GROWTH_OPERATOR(modelgrow::Net2NetOperator, "net2net", "1.0.0",
                          "Width growth by splitting units: Net2Net/bert2BERT FPI (exact without "
                          "noise) and AKI (units from the block above; approximate)");
