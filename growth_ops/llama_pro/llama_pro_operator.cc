// LLaMA Pro's block expansion (Wu et al. 2024; TencentARC/LLaMA-Pro scripts/block_expansion.py)
// on STDiT3: after every k original blocks, a copy of the block before it with its output
// projections zeroed (the identity), then every original parameter frozen so only the new blocks
// train.
//
// How it differs from `stack` with placement = "insert", group = k, new_blocks = N/k, which builds
// the same layout: LLaMA Pro freezes the whole base (blocks, embedders, final layer) and trains
// only the new blocks, to add knowledge without forgetting; ModelGrow trains everything.
#include <set>

#include <fmt/format.h>

#include "modelgrow/sdk/block_plan.h"
#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/growth_operator.h"

namespace modelgrow {
namespace {

class LlamaProOperator : public GrowthOperator {
 public:
  // The conformance suites grow their probe model (N = 4 block pairs) with each table; `test_`
  // keys steer the suite (docs/writing-a-plugin.md).
  static constexpr const char* kExamples = R"toml(
[[example]]  # LLaMA Pro's recipe: one copy after every 4 blocks

[[example]]
every = 2

[[example]]
every = 1
lists = "spatial"

[[example]]
every = 3
test_check_error = "every = 3 does not divide"

[[example]]
every = 0
test_options_error = "every"
)toml";

  explicit LlamaProOperator(const PluginContext& context) {
    const Options& o = context.options;
    // LLaMA Pro's recipe grows LLaMA-2 7B from 32 to 40 layers: one copy every 4.
    every_ = o.Int("every", 4, {.min = 1});
    lists_ = ReadBlockLists(o);
  }

  void Check(const STDiT3Impl& model) const override { Plan(model); }

  void Grow(GrowthContext& context, GrowthReport& report) override {
    STDiT3Impl& model = context.model;
    std::vector<PlannedBlock> plan = Plan(model);
    const int64_t n = static_cast<int64_t>(DepthUnits(model, lists_).size());
    BlockPlanResult result = ApplyBlockPlan(model, plan, NewBlockInit::kZero, context.seed);
    std::set<const c10::TensorImpl*> fresh;
    for (const auto& block : result.new_blocks) {
      for (const auto& p : block->parameters()) fresh.insert(p.unsafeGetTensorImpl());
    }
    for (auto& p : model.parameters()) p.set_requires_grad(fresh.contains(p.unsafeGetTensorImpl()));
    report.claims_preserving = true;
    report.optimizer_state = OptimizerStatePolicy::kReset;
    report.optimizer_note =
        "every original parameter is frozen (no state kept for it); the new blocks start "
        "without state";
    report.details = result.details;
    report.details["every"] = every_;
    report.details["lists"] = BlockListsName(lists_);
    report.details["original_units"] = n;
    report.details["new_units"] = n / every_;
    report.details["frozen"] = "every original parameter; only the new blocks train";
  }

 private:
  std::vector<PlannedBlock> Plan(const STDiT3Impl& model) const {
    const int64_t n = static_cast<int64_t>(DepthUnits(model, lists_).size());
    if (every_ > n || n % every_ != 0) {
      throw InputError(fmt::format(
          "every = {} does not divide the model's N = {} {} (LLaMA Pro adds one copy after each "
          "run of k originals, N/k in all)",
          every_, n,
          lists_ == BlockLists::kBoth ? "(spatial, temporal) block pairs"
                                      : fmt::format("{} blocks", BlockListsName(lists_))));
    }
    std::vector<UnitInsertion> insertions;
    for (int64_t u = every_ - 1; u < n; u += every_) insertions.push_back({u, u, 1});
    return PlanWithInsertions(model, lists_, insertions);
  }

  int64_t every_ = 1;
  BlockLists lists_ = BlockLists::kBoth;
};

}  // namespace
}  // namespace modelgrow

MODELGROW_GROWTH_OPERATOR(modelgrow::LlamaProOperator, "llama_pro", "1.0.0",
                          "LLaMA Pro block expansion: a zeroed copy every k blocks, original "
                          "parameters frozen (exact)");
