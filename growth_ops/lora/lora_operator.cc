// LoRA (Hu et al. 2021), the ModelGrow paper's baseline for adding capacity without growing
// ("LoRA-0.7B"): low-rank adapters y = W x + b + (alpha / r) B A dropout(x) on the layers whose
// names match `targets`, B = 0 so the function is unchanged, and every other parameter frozen.
// Targets are read as PEFT reads target_modules: a pattern matches a module name or a suffix of
// it after a dot ("attn.proj" is the self-attention's, not "cross_attn.proj").
//
// With merge = true it instead folds every adapter of the model into its weight and removes it,
// for export: the result is a plain checkpoint Open-Sora loads, all parameters trainable again.
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/growth_operator.h"
#include "modelgrow/sdk/lora.h"
#include "modelgrow/sdk/scoped_seed.h"

namespace modelgrow {
namespace {

const std::vector<std::string> kDefaultTargets = {"attn.qkv", "attn.proj", "cross_attn.*",
                                                  "mlp.fc1", "mlp.fc2"};

class LoraOperator : public GrowthOperator {
 public:
  // The conformance suites grow their probe model (hidden 32, no adapters) with each table; `test_`
  // keys steer the suite (docs/writing-a-plugin.md). Merging needs a model with adapters: the
  // plugin's own test covers it.
  static constexpr const char* kExamples = R"toml(
[[example]]  # the paper's baseline: rank 8 on every block's linears
rank = 8

[[example]]
rank = 8
alpha = 16
targets = ["attn.qkv"]

[[example]]
rank = 4
dropout = 0.1
targets = ['spatial_blocks\.[01]\.attn\.qkv', "mlp.fc2"]

[[example]]
rank = 40
test_check_error = "rank = 40 is larger"

[[example]]
targets = ["attn.qkv", "mlp.fc3"]
test_check_error = "'mlp.fc3' matches no linear layer"

[[example]]
merge = true
test_check_error = "no LoRA adapters to merge"

[[example]]
targets = "attn.(qkv"
test_options_error = "not a valid regular expression"

[[example]]
dropout = 1.0
test_options_error = "must be below 1"

[[example]]
merge = true
rank = 4
test_options_error = "has no meaning with merge = true"
)toml";

  explicit LoraOperator(const PluginContext& context) {
    const Options& o = context.options;
    merge_ = o.Bool("merge", false);
    if (merge_) {
      for (const char* key : {"rank", "alpha", "dropout", "targets"}) {
        if (o.Has(key)) {
          o.Accept(key);
          o.Fail(key,
                 "has no meaning with merge = true (merging folds the adapters the model "
                 "already has)");
        }
      }
      return;
    }
    rank_ = o.Int("rank", 8, {.min = 1});
    alpha_ = o.Double("alpha", static_cast<double>(rank_), {.min = 0, .min_exclusive = true});
    dropout_ = o.Double("dropout", 0.0, {.min = 0, .max = 1});
    if (dropout_ >= 1) o.Fail("dropout", "must be below 1");
    targets_ = o.StringOrList("targets", kDefaultTargets);
    if (targets_.empty()) o.Fail("targets", "expected at least one pattern");
    for (const std::string& t : targets_) {
      try {
        regexes_.push_back(LoraTargetRegex(t));
      } catch (const InputError& e) {
        o.Fail("targets", e.what());
      }
    }
  }

  void Check(const STDiT3Impl& model) const override {
    if (merge_) {
      for (const auto& item : model.named_modules()) {
        auto* linear = dynamic_cast<const LinearImpl*>(item.value().get());
        if (linear != nullptr && linear->has_lora()) return;
      }
      throw InputError("merge = true, but the model has no LoRA adapters to merge");
    }
    Targets(model);
  }

  void Grow(GrowthContext& context, GrowthReport& report) override {
    STDiT3Impl& model = context.model;
    if (merge_) {
      std::vector<std::string> merged = MergeLora(model);
      for (auto& p : model.parameters()) p.set_requires_grad(true);
      report.claims_preserving = true;
      report.optimizer_state = OptimizerStatePolicy::kReset;
      report.optimizer_note =
          "the adapters' moments have no counterpart in the merged weights; training after "
          "export starts a fresh optimizer";
      report.details = {{"mode", "merge"}, {"merged", merged}};
      return;
    }
    std::vector<NamedLinear> targets = Targets(model);
    {
      // A is Kaiming-uniform from the default generator (as PEFT): seeded for this step only.
      ScopedSeed seeded(model.device(), context.seed);
      for (NamedLinear& t : targets) t.layer->AddLora(rank_, alpha_, dropout_);
    }
    std::vector<std::string> names;
    for (const NamedLinear& t : targets) names.push_back(t.name);
    for (const auto& item : model.named_parameters()) {
      const std::string& key = item.key();
      bool adapter = key.ends_with(".lora_A.weight") || key.ends_with(".lora_B.weight");
      item.value().set_requires_grad(adapter);
    }
    report.claims_preserving = true;
    report.optimizer_state = OptimizerStatePolicy::kCarried;
    report.optimizer_note =
        "base weights are frozen (their moments are dropped); existing adapters keep theirs, new "
        "adapters start without state";
    report.details = {{"mode", "add"},       {"rank", rank_},
                      {"alpha", alpha_},     {"scale", alpha_ / static_cast<double>(rank_)},
                      {"dropout", dropout_}, {"targets", targets_},
                      {"modules", names}};
  }

 private:
  // The layers to adapt, checked: every pattern matches, no layer has adapters, rank fits.
  std::vector<NamedLinear> Targets(const STDiT3Impl& model) const {
    std::vector<NamedLinear> out;
    std::set<std::string> seen;
    for (size_t i = 0; i < regexes_.size(); ++i) {
      std::vector<NamedLinear> matched = MatchLinears(model, regexes_[i]);
      if (matched.empty()) {
        std::vector<std::string> examples;
        const auto& blocks =
            model.spatial_blocks().empty() ? model.temporal_blocks() : model.spatial_blocks();
        if (!blocks.empty()) {
          for (const auto& item : blocks.front()->named_modules()) {
            if (dynamic_cast<const LinearImpl*>(item.value().get()) != nullptr) {
              examples.push_back(item.key());
            }
          }
        }
        throw InputError(
            fmt::format("targets pattern '{}' matches no linear layer (a block's layers are {})",
                        targets_[i], fmt::join(examples, ", ")));
      }
      for (NamedLinear& m : matched) {
        if (seen.insert(m.name).second) out.push_back(m);
      }
    }
    for (const NamedLinear& m : out) {
      if (m.layer->has_lora()) {
        throw InputError(fmt::format("'{}' already has LoRA adapters", m.name));
      }
      int64_t limit = std::min(m.layer->in_features(), m.layer->out_features());
      if (rank_ > limit) {
        throw InputError(
            fmt::format("rank = {} is larger than '{}' allows: its weight is {}x{}, "
                        "so the rank can be at most {}",
                        rank_, m.name, m.layer->out_features(), m.layer->in_features(), limit));
      }
    }
    return out;
  }

  bool merge_ = false;
  int64_t rank_ = 8;
  double alpha_ = 8;
  double dropout_ = 0;
  std::vector<std::string> targets_;
  std::vector<std::regex> regexes_;
};

}  // namespace
}  // namespace modelgrow

MODELGROW_GROWTH_OPERATOR(modelgrow::LoraOperator, "lora", "1.0.0",
                          "LoRA adapters on matching linears, everything else frozen (exact at "
                          "start); merge = true folds them in for export");
