// append_identity_block: a whole growth operator in one file, the template for new ones.
//
// It appends `count` copies of the last (spatial, temporal) block pair whose residual outputs are
// zeroed -- weight, bias and any LoRA B -- so every copy is the identity and the grown model
// computes the base's function exactly, adapters or not. The host measures that, and everything
// else, for growth_report.json. Copy this folder, rename the class and the plugin, change Plan().
#include <modelgrow/sdk/block_plan.h>
#include <modelgrow/sdk/growth_operator.h>

#include <set>
#include <string>
#include <vector>

namespace {

class AppendIdentityBlock : public modelgrow::GrowthOperator {
 public:
  // Option tables the conformance suites grow their probe model with (and `modelgrow plugins
  // --json` shows). `test_` keys are not options: they tell the suite what must fail, and how.
  static constexpr const char* kExamples = R"toml(
[[example]]
count = 2

[[example]]  # LLaMA Pro's policy: only the new blocks train
train = "new"

[[example]]
test_model = {depth = 0}
test_check_error = "has no spatial/temporal blocks to grow from"

[[example]]
count = 0
test_options_error = "count"
)toml";

  // Reads every option. Problems are recorded, not thrown: the host reports all of them at once
  // (and rejects keys nobody read). Nothing else happens here.
  explicit AppendIdentityBlock(const modelgrow::PluginContext& context)
      : count_(context.options.Int("count", 1, {.min = 1, .max = 1000})),
        train_(context.options.Choice("train", "all", {"all", "new"})) {}

  // Throws InputError when the request cannot work on this model; the model must be untouched.
  void Check(const modelgrow::STDiT3Impl& model) const override { Plan(model); }

  void Grow(modelgrow::GrowthContext& context, modelgrow::GrowthReport& report) override {
    // kZero: copy, then ZeroResidualOutputs() on each copy. Originals keep their tensors, so
    // their optimizer state follows them to their new names.
    modelgrow::BlockPlanResult result = modelgrow::ApplyBlockPlan(
        context.model, Plan(context.model), modelgrow::NewBlockInit::kZero, context.seed);
    if (train_ == "new") {
      std::set<const void*> fresh;
      for (const auto& block : result.new_blocks) {
        for (const auto& p : block->parameters()) fresh.insert(p.unsafeGetTensorImpl());
      }
      for (auto& p : context.model.parameters()) {
        p.set_requires_grad(fresh.contains(p.unsafeGetTensorImpl()));
      }
    }
    report.claims_preserving = true;
    report.optimizer_state = modelgrow::OptimizerStatePolicy::kCarried;
    report.optimizer_note =
        "originals keep their moments (frozen ones lose them); the copies start without";
    report.details = result.details;  // layout, copied_from, renamed, dropped, blocks_added
    report.details["train"] = train_;
  }

 private:
  // `count` copies of the last unit, placed after it. A unit is a (spatial i, temporal i) pair;
  // DepthUnits says so clearly when the model has none or its lists differ.
  std::vector<modelgrow::PlannedBlock> Plan(const modelgrow::STDiT3Impl& model) const {
    const auto units = DepthUnits(model, modelgrow::BlockLists::kBoth);
    const auto last = static_cast<int64_t>(units.size()) - 1;
    return modelgrow::PlanWithInsertions(
        model, modelgrow::BlockLists::kBoth,
        {{.after_unit = last, .source_unit = last, .count = count_}});
  }

  int64_t count_;
  std::string train_;
};

}  // namespace

MODELGROW_GROWTH_OPERATOR(AppendIdentityBlock, "append_identity_block", "1.0.0",
                          "Append zero-initialised copies of the last block pair (template)");
