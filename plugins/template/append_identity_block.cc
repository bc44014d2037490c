// append_identity_block: the smallest useful growth operator, as a template for new ones.
//
// It appends `count` copies of the last (spatial, temporal) block pair with their residual
// outputs zeroed, so each copy is the identity and the grown model computes the same function
// (the host measures that and writes it into growth_report.json). Copy this folder, rename the
// class and the plugin, and change Grow().
#include <modelgrow/sdk/growth_operator.h>

#include <fmt/format.h>
#include <torch/torch.h>

namespace {

class AppendIdentityBlock : public modelgrow::GrowthOperator {
 public:
  explicit AppendIdentityBlock(const modelgrow::PluginContext& context)
      : count_(context.options.Int("count", 1, {.min = 1, .max = 1000})) {}

  void Check(const modelgrow::STDiT3Impl& model) const override {
    if (model.spatial_blocks().empty() || model.temporal_blocks().empty()) {
      throw modelgrow::InputError(
          "append_identity_block needs a model with spatial and temporal blocks");
    }
  }

  void Grow(modelgrow::GrowthContext& context, modelgrow::GrowthReport& report) override {
    modelgrow::STDiT3Impl& model = context.model;
    auto spatial = model.spatial_blocks();
    auto temporal = model.temporal_blocks();
    for (int64_t i = 0; i < count_; ++i) {
      for (auto* list : {&spatial, &temporal}) {
        auto copy = list->back()->Copy();
        torch::NoGradGuard no_grad;
        for (auto& out : copy->ResidualOutputs()) {
          out->weight.zero_();
          out->bias.zero_();
        }
        list->push_back(modelgrow::STDiT3Block(copy));
      }
    }
    model.SetBlocks(spatial, temporal, {});  // default order: s0 t0 s1 t1 ...
    report.claims_preserving = true;
    report.optimizer_state = modelgrow::OptimizerStatePolicy::kCarried;
    report.optimizer_note = "existing parameters keep their moments; the copies start without";
    report.details = {{"appended_pairs", count_}};
  }

 private:
  int64_t count_;
};

}  // namespace

MODELGROW_GROWTH_OPERATOR(AppendIdentityBlock, "append_identity_block", "1.0.0",
                          "Append zero-initialised copies of the last block pair (template)");
