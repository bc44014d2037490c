// G_stack, whole-model depth stacking ("Stacking Your Transformers", Du et al. 2024;
// tongxuluo/prts): the block list is repeated g times, every repetition a plain copy. The grown
// model computes each block's function g times over, so it does not preserve the base's output;
// the host's probe reports by how much.
#include <fmt/format.h>

#include "modelgrow/sdk/block_plan.h"
#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/growth_operator.h"

namespace modelgrow {
namespace {

class GStackOperator : public GrowthOperator {
 public:
  // The conformance suites grow their probe model (N = 4 block pairs) with each table; `test_`
  // keys steer the suite (docs/writing-a-plugin.md).
  static constexpr const char* kExamples = R"toml(
[[example]]  # g = 2

[[example]]
factor = 4  # the paper's recommendation

[[example]]
lists = "temporal"

[[example]]
test_model = {depth = 0}
test_check_error = "has no spatial/temporal blocks to grow from"

[[example]]
factor = 1
test_options_error = "factor"
)toml";

  explicit GStackOperator(const PluginContext& context) {
    const Options& o = context.options;
    factor_ = o.Int("factor", 2, {.min = 2});
    lists_ = ReadBlockLists(o);
  }

  void Check(const STDiT3Impl& model) const override { Plan(model); }

  void Grow(GrowthContext& context, GrowthReport& report) override {
    const int64_t n = static_cast<int64_t>(DepthUnits(context.model, lists_).size());
    BlockPlanResult result =
        ApplyBlockPlan(context.model, Plan(context.model), NewBlockInit::kCopy, context.seed);
    report.claims_preserving = false;
    report.optimizer_state = OptimizerStatePolicy::kCarried;
    report.optimizer_note =
        "the first repetition is the original blocks, which keep their moments; the copies start "
        "without state";
    report.details = result.details;
    report.details["factor"] = factor_;
    report.details["lists"] = BlockListsName(lists_);
    report.details["original_units"] = n;
    report.details["new_units"] = n * (factor_ - 1);
  }

 private:
  // Repetition r (1..g-1) appends a copy of every unit, in order, after all blocks.
  std::vector<PlannedBlock> Plan(const STDiT3Impl& model) const {
    const int64_t n = static_cast<int64_t>(DepthUnits(model, lists_).size());
    std::vector<UnitInsertion> insertions;
    for (int64_t r = 1; r < factor_; ++r) {
      for (int64_t u = 0; u < n; ++u) insertions.push_back({n, u, 1});
    }
    return PlanWithInsertions(model, lists_, insertions);
  }

  int64_t factor_ = 2;
  BlockLists lists_ = BlockLists::kBoth;
};

}  // namespace
}  // namespace modelgrow

MODELGROW_GROWTH_OPERATOR(modelgrow::GStackOperator, "g_stack", "1.0.0",
                          "G_stack: the whole block list repeated g times (not preserving; the "
                          "report says by how much)");
