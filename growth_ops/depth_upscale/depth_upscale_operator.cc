// SOLAR's depth up-scaling (Kim et al. 2023, "SOLAR 10.7B"): two copies of the N blocks, the last
// k dropped from the first and the first k from the second, concatenated: 2(N - k) blocks.
// Blocks 0..N-k-1 are the originals, followed by copies of blocks k..N-k-1 and then the
// originals N-k..N-1 (so no trained block is thrown away). Not preserving: the middle blocks run
// twice; the host's probe reports by how much. Grows (spatial, temporal) pairs.
#include <fmt/format.h>

#include "modelgrow/sdk/block_plan.h"
#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/growth_operator.h"

namespace modelgrow {
namespace {

class DepthUpscaleOperator : public GrowthOperator {
 public:
  // The conformance suites grow their probe model (N = 4 block pairs unless `test_model` says
  // otherwise) with each table; `test_` keys steer the suite (docs/writing-a-plugin.md).
  static constexpr const char* kExamples = R"toml(
[[example]]  # SOLAR's proportion: k = N/4

[[example]]
drop = 2
test_model = {depth = 6}

[[example]]
drop = 1
test_model = {depth = 2}
test_check_error = "less than half of the model's N = 2"

[[example]]
drop = 0
test_options_error = "drop"
)toml";

  explicit DepthUpscaleOperator(const PluginContext& context) {
    // SOLAR drops 8 of LLaMA-2's 32 layers from each copy: a quarter, the default.
    drop_ = context.options.Int("drop", 0, {.min = 1});
  }

  void Check(const STDiT3Impl& model) const override { Plan(model); }

  void Grow(GrowthContext& context, GrowthReport& report) override {
    const int64_t n = static_cast<int64_t>(DepthUnits(context.model, BlockLists::kBoth).size());
    const int64_t k = Drop(n);
    BlockPlanResult result =
        ApplyBlockPlan(context.model, Plan(context.model), NewBlockInit::kCopy, context.seed);
    report.claims_preserving = false;
    report.optimizer_state = OptimizerStatePolicy::kCarried;
    report.optimizer_note = "original blocks keep their moments; the copies start without state";
    report.details = result.details;
    report.details["drop"] = k;
    report.details["original_units"] = n;
    report.details["new_units"] = n - 2 * k;
  }

 private:
  int64_t Drop(int64_t n) const { return drop_ > 0 ? drop_ : n / 4; }

  std::vector<PlannedBlock> Plan(const STDiT3Impl& model) const {
    const int64_t n = static_cast<int64_t>(DepthUnits(model, BlockLists::kBoth).size());
    const int64_t k = Drop(n);
    if (k < 1 || 2 * k >= n) {
      throw InputError(fmt::format(
          "drop = {} must be at least 1 and less than half of the model's N = {} (spatial, "
          "temporal) block pairs, so the two copies overlap{}",
          k, n, drop_ > 0 ? "" : " (the default is N/4)"));
    }
    std::vector<PlannedBlock> plan;
    auto add = [&](PlannedBlock::Kind kind, int64_t u) {
      plan.push_back({kind, BlockRef{false, u}});
      plan.push_back({kind, BlockRef{true, u}});
    };
    for (int64_t u = 0; u < n - k; ++u) add(PlannedBlock::Kind::kOriginal, u);
    for (int64_t u = k; u < n; ++u) {
      add(u < n - k ? PlannedBlock::Kind::kCopy : PlannedBlock::Kind::kOriginal, u);
    }
    return plan;
  }

  int64_t drop_ = 0;  // 0: N/4
};

}  // namespace
}  // namespace modelgrow

MODELGROW_GROWTH_OPERATOR(modelgrow::DepthUpscaleOperator, "depth_upscale", "1.0.0",
                          "SOLAR depth up-scaling: two overlapping copies of the block list, k "
                          "dropped from each (not preserving)");
