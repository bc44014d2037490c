// LiGO, a learned linear growth operator (Wang et al. 2023, "Learning to Grow Pretrained Models
// for Efficient Transformer Training"; VITA-Group/LiGO), worked out for STDiT3.
//
// Every tensor of the grown model is a linear function of the base's tensors, with few parameters
// of its own:
//   width:  W' = E_out[a] · W · E_in[b]^T for a tensor whose outputs run along width a and inputs
//           along width b (sdk/width_growth.h: hidden, heads, MLP); one pair of expansion matrices
//           per width, shared by every layer, as LiGO ties them along the residual stream;
//   depth:  block l of each list = Σ_j D[l, j] · (width-grown block j), with one D per block
//           tensor name (attn.qkv.weight, mlp.fc1.bias, ...), LiGO's per-module depth weights.
// The operator starts as a known growth — depth by stacking (G_stack) or by interleaving copies,
// width by tiling (HyperCloning: E_out = [I; I; ...], E_in = [I; I; ...] / n) — then fits E and D
// for `steps` Adam steps on the training loss of the grown model over the grow stage's fit data
// (GrowthContext::data), with the base's tensors fixed, and writes the fitted model. Gradients
// reach E and D in two halves: the model's backward gives dL/dW' for every grown tensor, and
// autograd through the expansion (a few small matrix products) carries them to E and D.
//
// Preservation: with depth_factor 1 and steps = 0 the operator is HyperCloning's tiling, exact;
// stacking and fitting are not preserving, and the host's probe reports by how much.
#include <fmt/format.h>
#include <torch/torch.h>

#include <cmath>
#include <map>
#include <regex>
#include <set>

#include "modelgrow/sdk/block_plan.h"
#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/growth_operator.h"
#include "modelgrow/sdk/progress.h"
#include "modelgrow/sdk/width_growth.h"

namespace modelgrow {
namespace {

using json = nlohmann::json;

// "spatial_blocks.3.attn.qkv.weight" -> {"spatial_blocks", 3, "attn.qkv.weight"}.
struct BlockKey {
  std::string list;
  int64_t index = -1;
  std::string tensor;
};

bool ParseBlockKey(const std::string& key, BlockKey* out) {
  static const std::regex pattern(R"(^(spatial_blocks|temporal_blocks)\.(\d+)\.(.+)$)");
  std::smatch m;
  if (!std::regex_match(key, m, pattern)) return false;
  *out = {m[1].str(), std::stoll(m[2].str()), m[3].str()};
  return true;
}

const char* AxisName(WidthAxis axis) {
  switch (axis) {
    case WidthAxis::kHidden:
      return "hidden";
    case WidthAxis::kHeads:
      return "heads";
    case WidthAxis::kMlp:
      return "mlp";
    case WidthAxis::kNone:
      break;
  }
  return "none";
}

// [n·d, d]: n stacked identities, divided by `divide`.
torch::Tensor Tiling(int64_t d, int64_t n, double divide) {
  return torch::eye(d).repeat({n, 1}) / divide;
}

class LigoOperator : public GrowthOperator {
 public:
  // The conformance suites grow their probe model (N = 4 block pairs, hidden 32) with each table,
  // fitting on the suite's own data; `test_` keys steer the suite (docs/writing-a-plugin.md).
  static constexpr const char* kExamples = R"toml(
[[example]]  # depth x2 by stacking, fitted 4 steps
steps = 4

[[example]]  # width x2 unfitted: HyperCloning's tiling, exact
depth_factor = 1
width_factor = 2
steps = 0

[[example]]
depth_factor = 2
width_factor = 2
depth_init = "interleave"
steps = 3
lr = 0.01

[[example]]
test_model = {depth = 0}
test_check_error = "has no spatial/temporal blocks to grow from"

[[example]]
depth_factor = 1
width_factor = 1
test_options_error = "grows nothing"

[[example]]
depth_init = "middle"
test_options_error = "depth_init"
)toml";

  explicit LigoOperator(const PluginContext& context) {
    const Options& o = context.options;
    depth_factor_ = o.Int("depth_factor", 2, {.min = 1, .max = 8});
    width_factor_ = o.Int("width_factor", 1, {.min = 1, .max = 8});
    depth_init_ = o.Choice("depth_init", "stack", {"stack", "interleave"});
    steps_ = o.Int("steps", 100, {.min = 0});
    lr_ = o.Double("lr", 1e-2, {.min = 0, .min_exclusive = true});
    width_lr_ = o.Double("width_lr", 1e-3, {.min = 0, .min_exclusive = true});
    if (depth_factor_ == 1 && width_factor_ == 1) {
      o.Fail("depth_factor", "with width_factor = 1 too, ligo grows nothing: set either above 1");
    }
  }

  void Check(const STDiT3Impl& model) const override {
    CheckHiddenSizeGrowth(model, width_factor_);
    // Depth growth works on (spatial, temporal) block pairs: DepthUnits says why a model has none.
    if (depth_factor_ > 1) DepthUnits(model, BlockLists::kBoth);
  }

  void Grow(GrowthContext& context, GrowthReport& report) override {
    if (steps_ > 0 && context.data == nullptr) {
      throw InputError(fmt::format(
          "ligo fits its growth on training data for {} steps, and this grow has none: run it in "
          "a manifest grow stage with a [stages.<name>.fit] table naming the data "
          "(docs/manifests.md), or set steps = 0 for the unfitted operator",
          steps_));
    }
    STDiT3Impl& model = context.model;
    const STDiT3Config before = model.config();
    Snapshot(model);
    InitialiseWidth(before);
    GrowStructure(model);
    InitialiseDepth(model);

    json fit = json::object();
    if (steps_ > 0) fit = Fit(model, *context.data);
    {
      torch::NoGradGuard no_grad;
      WriteGrownTensors(model, Expand());
    }
    report.claims_preserving = depth_factor_ == 1 && steps_ == 0;
    report.optimizer_state = OptimizerStatePolicy::kReset;
    report.optimizer_note =
        "every grown tensor is a learned mixture of base tensors, so no moments carry over";
    report.details = {
        {"depth_factor", depth_factor_},
        {"width_factor", width_factor_},
        {"depth_init", depth_init_},
        {"depth", {{"before", before.depth}, {"after", model.config().depth}}},
        {"hidden_size", {{"before", before.hidden_size}, {"after", model.config().hidden_size}}},
        {"operator_parameters", OperatorParameterCount()},
        {"depth_weights", DepthWeightsJson()},
        {"width_change", WidthChangeJson()},
        {"fit", fit}};
    base_other_.clear();
    base_blocks_.clear();
    depth_.clear();
    expand_out_.clear();
    expand_in_.clear();
  }

 private:
  // The base's tensors, block tensors grouped by list and name (parsed once: Expand runs every
  // fitting step).
  void Snapshot(const STDiT3Impl& model) {
    base_other_.clear();
    base_blocks_.clear();
    for (const auto& item : model.named_parameters()) {
      torch::Tensor t = item.value().detach().clone();
      BlockKey b;
      if (!ParseBlockKey(item.key(), &b)) {
        base_other_.emplace(item.key(), t);
        continue;
      }
      std::vector<torch::Tensor>& per_block = base_blocks_[b.list + "." + b.tensor];
      if (static_cast<int64_t>(per_block.size()) <= b.index) per_block.resize(b.index + 1);
      per_block[b.index] = t;
    }
  }

  // The grown model's block lists and widths; its tensors get their values from Expand().
  void GrowStructure(STDiT3Impl& model) {
    if (depth_factor_ > 1) {
      const int64_t n = static_cast<int64_t>(DepthUnits(model, BlockLists::kBoth).size());
      std::vector<UnitInsertion> insertions;
      if (depth_init_ == "stack") {
        for (int64_t r = 1; r < depth_factor_; ++r) {
          for (int64_t u = 0; u < n; ++u) insertions.push_back({n, u, 1});
        }
      } else {
        for (int64_t u = 0; u < n; ++u) insertions.push_back({u, u, depth_factor_ - 1});
      }
      ApplyBlockPlan(model, PlanWithInsertions(model, BlockLists::kBoth, insertions),
                     NewBlockInit::kCopy, /*seed=*/0);
    }
    if (width_factor_ > 1) {
      const STDiT3Config c = model.config();
      const int64_t w = width_factor_;
      torch::NoGradGuard no_grad;
      for (auto& item : model.named_parameters()) {
        if (!HiddenGrowthLayout(item.key()).grows()) continue;
        // The tiled values; fitted ones replace them.
        item.value().set_data(Expand(item.key(), item.value()));
      }
      for (const auto* list : {&model.spatial_blocks(), &model.temporal_blocks()}) {
        for (STDiT3Block block : *list) {
          block->set_heads(c.num_heads * w);
          block->set_mlp_hidden(c.resolved_mlp_hidden() * w);
        }
      }
      model.SetHiddenSize(c.hidden_size * w, c.resolved_pos_embed_dim());
      model.SetWidth(c.num_heads * w, c.resolved_head_dim(), c.resolved_mlp_hidden() * w);
    }
  }

  // E at the growth it starts as: tiling.
  void InitialiseWidth(const STDiT3Config& before) {
    if (width_factor_ > 1) {
      const int64_t n = width_factor_;
      const std::map<WidthAxis, int64_t> widths = {
          {WidthAxis::kHidden, before.hidden_size},
          {WidthAxis::kHeads, before.num_heads * before.resolved_head_dim()},
          {WidthAxis::kMlp, before.resolved_mlp_hidden()}};
      for (const auto& [axis, d] : widths) {
        expand_out_[axis] = Tiling(d, n, 1.0).requires_grad_(true);
        expand_in_[axis] = Tiling(d, n, static_cast<double>(n)).requires_grad_(true);
      }
    }
  }

  // D at the growth it starts as: grown block l is base block l mod L1 (stack) or l / g
  // (interleave), for every tensor of the block.
  void InitialiseDepth(const STDiT3Impl& model) {
    // Which base block each grown block starts as, per list.
    std::map<std::string, int64_t> base_count, grown_count;
    for (const auto& [list_tensor, per_block] : base_blocks_) {
      const std::string list = list_tensor.substr(0, list_tensor.find('.'));
      base_count[list] = static_cast<int64_t>(per_block.size());
    }
    std::map<std::string, std::set<std::string>> tensors;  // list -> block tensor names
    for (const auto& item : model.named_parameters()) {
      BlockKey b;
      if (!ParseBlockKey(item.key(), &b)) continue;
      grown_count[b.list] = std::max(grown_count[b.list], b.index + 1);
      tensors[b.list].insert(b.tensor);
    }
    for (const auto& [list, l2] : grown_count) {
      const int64_t l1 = base_count[list];
      torch::Tensor d = torch::zeros({l2, l1});
      for (int64_t l = 0; l < l2; ++l) {
        d[l][depth_init_ == "stack" ? l % l1 : l / depth_factor_] = 1.0;
      }
      for (const std::string& name : tensors[list]) {
        depth_[list + "." + name] = d.clone().requires_grad_(depth_factor_ > 1);
      }
    }
  }

  // Base tensor `t` (named `key`) through the width expansion.
  torch::Tensor Expand(const std::string& key, const torch::Tensor& t) const {
    const ParameterLayout layout = HiddenGrowthLayout(key);
    if (width_factor_ == 1 || !layout.grows()) return t;
    using S = ParameterLayout::Shape;
    const torch::Tensor* out =
        layout.out == WidthAxis::kNone ? nullptr : &expand_out_.at(layout.out);
    const torch::Tensor* in = layout.in == WidthAxis::kNone ? nullptr : &expand_in_.at(layout.in);
    switch (layout.shape) {
      case S::kTable:
        return t.matmul(out->t());
      case S::kConv: {
        std::vector<int64_t> sizes = t.sizes().vec();
        sizes[0] = out->size(0);
        return out->matmul(t.reshape({t.size(0), -1})).reshape(sizes);
      }
      case S::kVector:
        return out->matmul(t.reshape({layout.segments, -1, 1})).reshape({-1});
      case S::kMatrix: {
        torch::Tensor w = t.reshape({layout.segments, -1, t.size(1)});
        if (out != nullptr) w = out->matmul(w);
        if (in != nullptr) w = w.matmul(in->t());
        return w.reshape({-1, w.size(2)});
      }
    }
    return t;
  }

  // Every grown tensor by name, as a function of E and D (with their autograd graph).
  std::map<std::string, torch::Tensor> Expand() const {
    std::map<std::string, torch::Tensor> grown;
    for (const auto& [key, t] : base_other_) grown[key] = Expand(key, t);
    for (const auto& [list_tensor, per_block] : base_blocks_) {
      const size_t dot = list_tensor.find('.');
      const std::string list = list_tensor.substr(0, dot), name = list_tensor.substr(dot + 1);
      std::vector<torch::Tensor> widened;
      for (const torch::Tensor& t : per_block) widened.push_back(Expand(name, t));
      const torch::Tensor& d = depth_.at(list_tensor);
      torch::Tensor stacked = torch::stack(widened);
      std::vector<int64_t> sizes = stacked.sizes().vec();
      sizes[0] = d.size(0);
      torch::Tensor mixed = d.matmul(stacked.reshape({stacked.size(0), -1})).reshape(sizes);
      for (int64_t l = 0; l < d.size(0); ++l)
        grown[fmt::format("{}.{}.{}", list, l, name)] = mixed[l];
    }
    return grown;
  }

  static void WriteGrownTensors(STDiT3Impl& model,
                                const std::map<std::string, torch::Tensor>& grown) {
    for (auto& item : model.named_parameters()) {
      auto it = grown.find(item.key());
      if (it == grown.end()) {
        throw RunError(fmt::format("ligo: no expansion for grown tensor {}", item.key()));
      }
      item.value().copy_(it->second.detach());
    }
  }

  // What fitting trains: the depth weights (when depth grows) and the expansions.
  std::vector<torch::Tensor> DepthWeights() const {
    std::vector<torch::Tensor> all;
    for (const auto& [k, d] : depth_) {
      if (d.requires_grad()) all.push_back(d);
    }
    return all;
  }
  std::vector<torch::Tensor> Expansions() const {
    std::vector<torch::Tensor> all;
    for (const auto* m : {&expand_out_, &expand_in_}) {
      for (const auto& [axis, e] : *m) all.push_back(e);
    }
    return all;
  }

  int64_t OperatorParameterCount() const {
    int64_t count = 0;
    for (const auto& group : {DepthWeights(), Expansions()}) {
      for (const torch::Tensor& t : group) count += t.numel();
    }
    return count;
  }

  // Adam on E and D, the base's tensors fixed: each step writes the expansion into the model,
  // takes the model's gradient on the next batch, and carries it back through the expansion.
  json Fit(STDiT3Impl& model, GrowthData& data) {
    // Two groups: Adam moves every entry by about its learning rate from the first step on,
    // however small its gradient, and an expansion entry moved by lr shifts whole tensors; the
    // depth weights, which mix whole blocks, take larger steps well.
    const std::vector<torch::Tensor> depth = DepthWeights(), width = Expansions();
    std::vector<torch::optim::OptimizerParamGroup> groups;
    if (!depth.empty()) {
      groups.emplace_back(depth, std::make_unique<torch::optim::AdamOptions>(lr_));
    }
    if (!width.empty()) {
      groups.emplace_back(width, std::make_unique<torch::optim::AdamOptions>(width_lr_));
    }
    torch::optim::Adam adam(std::move(groups), torch::optim::AdamOptions(lr_));
    std::vector<double> losses;
    Progress progress("ligo fit", steps_);
    model.train();
    for (int64_t step = 0; step < steps_; ++step) {
      std::map<std::string, torch::Tensor> grown = Expand();
      {
        torch::NoGradGuard no_grad;
        WriteGrownTensors(model, grown);
      }
      for (auto& p : model.parameters()) p.mutable_grad() = torch::Tensor();
      torch::Tensor loss = data.NextLoss(model);
      loss.backward();
      std::vector<torch::Tensor> outputs, gradients;
      for (const auto& item : model.named_parameters()) {
        const torch::Tensor& g = item.value().grad();
        const torch::Tensor& w = grown.at(item.key());
        if (!g.defined() || !w.requires_grad()) continue;
        outputs.push_back(w);
        gradients.push_back(g);
      }
      adam.zero_grad();
      if (!outputs.empty()) torch::autograd::backward(outputs, gradients);
      adam.step();
      const double value = loss.item<double>();
      if (!std::isfinite(value)) {
        throw RunError(fmt::format("ligo fit: the loss is {} at step {}", value, step + 1));
      }
      losses.push_back(value);
      progress.Update(step + 1, fmt::format("loss {:.4f}", value));
    }
    for (auto& p : model.parameters()) p.mutable_grad() = torch::Tensor();
    progress.Finish(fmt::format("loss {:.4f} -> {:.4f}", losses.front(), losses.back()));
    return {{"steps", steps_},         {"lr", lr_},        {"width_lr", width_lr_},
            {"data", data.Describe()}, {"losses", losses}, {"seconds", progress.elapsed_seconds()}};
  }

  // The fitted depth weights, averaged over a list's block tensors: row l says which base blocks
  // grown block l mixes.
  json DepthWeightsJson() const {
    json j = json::object();
    std::map<std::string, std::vector<torch::Tensor>> by_list;
    for (const auto& [k, d] : depth_) by_list[k.substr(0, k.find('.'))].push_back(d.detach());
    for (const auto& [list, ds] : by_list) {
      torch::Tensor mean = torch::stack(ds).mean(0);
      std::vector<std::vector<double>> rows;
      for (int64_t l = 0; l < mean.size(0); ++l) {
        torch::Tensor row = mean[l].contiguous().to(torch::kDouble);
        rows.emplace_back(row.data_ptr<double>(), row.data_ptr<double>() + row.numel());
      }
      j[list] = rows;
    }
    return j;
  }

  // ||E - E0|| / ||E0|| per width: how far fitting moved each expansion from tiling.
  json WidthChangeJson() const {
    json j = json::object();
    for (const auto& [name, m] : {std::pair{"out", &expand_out_}, std::pair{"in", &expand_in_}}) {
      for (const auto& [axis, e] : *m) {
        const double n = static_cast<double>(width_factor_);
        torch::Tensor e0 = Tiling(e.size(1), width_factor_, std::string(name) == "in" ? n : 1.0);
        j[fmt::format("{}_{}", AxisName(axis), name)] =
            ((e.detach() - e0).norm() / e0.norm()).item<double>();
      }
    }
    return j;
  }

  int64_t depth_factor_ = 2;
  int64_t width_factor_ = 1;
  std::string depth_init_ = "stack";
  int64_t steps_ = 100;
  double lr_ = 1e-2;
  double width_lr_ = 1e-3;
  // While growing: the base's tensors (outside blocks by name; block tensors by "list.tensor",
  // one per base block), and the operator's own (D per "list.tensor", E per width).
  std::map<std::string, torch::Tensor> base_other_;
  std::map<std::string, std::vector<torch::Tensor>> base_blocks_;
  std::map<std::string, torch::Tensor> depth_;
  std::map<WidthAxis, torch::Tensor> expand_out_, expand_in_;
};

}  // namespace
}  // namespace modelgrow

MODELGROW_GROWTH_OPERATOR(modelgrow::LigoOperator, "ligo", "1.0.0",
                          "LiGO: a learned linear growth operator (depth and width expansion "
                          "matrices) fitted on the grow stage's data, then applied");
