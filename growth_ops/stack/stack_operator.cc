// ModelGrow's block expansion (Rao et al. 2024): insert, prefix or suffix stacking of copies of
// existing blocks, zero-initialised so the grown model computes the base's function exactly.
//
//   insert: N/M groups, each its M originals followed by P·M/N copies of the group's last one
//   prefix: P copies of the first block, then the N originals
//   suffix: the N originals, then P copies of the last block
//
// A "block" is a (spatial, temporal) pair unless `lists` names one list.
#include <fmt/format.h>

#include "modelgrow/sdk/block_plan.h"
#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/growth_operator.h"

namespace modelgrow {
namespace {

class StackOperator : public GrowthOperator {
 public:
  // The conformance suites grow their probe model (N = 4 block pairs) with each table; `test_`
  // keys steer the suite (docs/writing-a-plugin.md).
  static constexpr const char* kExamples = R"toml(
[[example]]  # the paper's default: P = N copies inserted, zero init (exact)

[[example]]
new_blocks = 2
group = 2

[[example]]
placement = "prefix"
new_blocks = 2

[[example]]  # the frame-index embedding is added at the input, before any stacked block
placement = "prefix"
test_model = {temporal_pos_embed = true}

[[example]]
placement = "suffix"
new_blocks = 3

[[example]]
lists = "spatial"

[[example]]
lists = "temporal"
new_blocks = 2
group = 2

[[example]]
init = "copy"

[[example]]
init = "random"

[[example]]
new_blocks = 3
test_check_error = "does not fit N = 4"

[[example]]
group = 3
test_check_error = "group = 3 does not divide"

[[example]]
test_model = {depth = 0}
test_check_error = "has no spatial/temporal blocks to grow from"

[[example]]
placement = "prefix"
group = 2
test_options_error = "only insert stacking has groups"

[[example]]
init = "ones"
test_options_error = "init"
)toml";

  explicit StackOperator(const PluginContext& context) {
    const Options& o = context.options;
    placement_ = o.Choice("placement", "insert", {"insert", "prefix", "suffix"});
    new_blocks_ = o.Int("new_blocks", 0, {.min = 1});
    group_ = o.Int("group", 1, {.min = 1});
    if (o.Has("group") && placement_ != "insert") {
      o.Fail("group",
             fmt::format("only insert stacking has groups (placement is \"{}\")", placement_));
    }
    std::string init = o.Choice("init", "zero", {"zero", "copy", "random"});
    init_ = init == "copy"     ? NewBlockInit::kCopy
            : init == "random" ? NewBlockInit::kRandom
                               : NewBlockInit::kZero;
    init_name_ = init;
    lists_ = ReadBlockLists(o);
  }

  void Check(const STDiT3Impl& model) const override { Plan(model); }

  void Grow(GrowthContext& context, GrowthReport& report) override {
    const int64_t n = static_cast<int64_t>(DepthUnits(context.model, lists_).size());
    const int64_t p = NewBlocks(n);
    BlockPlanResult result =
        ApplyBlockPlan(context.model, Plan(context.model), init_, context.seed);
    report.claims_preserving = init_ == NewBlockInit::kZero;
    report.optimizer_state = OptimizerStatePolicy::kCarried;
    report.optimizer_note =
        "original blocks keep their tensors and so their moments (under their new names); new "
        "blocks start without state";
    report.details = result.details;
    report.details["placement"] = placement_;
    report.details["lists"] = BlockListsName(lists_);
    report.details["init"] = init_name_;
    report.details["original_units"] = n;
    report.details["new_units"] = p;
    if (placement_ == "insert") {
      report.details["group"] = group_;
      report.details["copies_per_group"] = p * group_ / n;
    }
  }

 private:
  int64_t NewBlocks(int64_t n) const { return new_blocks_ > 0 ? new_blocks_ : n; }

  std::vector<PlannedBlock> Plan(const STDiT3Impl& model) const {
    const int64_t n = static_cast<int64_t>(DepthUnits(model, lists_).size());
    const int64_t p = NewBlocks(n);
    return PlanWithInsertions(model, lists_,
                              StackingInsertions(n, placement_, p, group_, UnitNoun()));
  }

  std::string UnitNoun() const {
    return lists_ == BlockLists::kBoth ? "(spatial, temporal) block pairs"
                                       : fmt::format("{} blocks", BlockListsName(lists_));
  }

  std::string placement_;
  int64_t new_blocks_ = 0;  // 0: N (doubling)
  int64_t group_ = 1;
  NewBlockInit init_ = NewBlockInit::kZero;
  std::string init_name_;
  BlockLists lists_ = BlockLists::kBoth;
};

}  // namespace
}  // namespace modelgrow

MODELGROW_GROWTH_OPERATOR(modelgrow::StackOperator, "stack", "1.0.0",
                          "ModelGrow block expansion: insert/prefix/suffix stacking of copied "
                          "blocks, zero-initialised (exact)");
