// A valid test plugin: a growth operator that checks its `factor` option and adds nothing.
#include "modelgrow/sdk/growth_operator.h"

namespace {

class CountingGrowth : public modelgrow::GrowthOperator {
 public:
  explicit CountingGrowth(const modelgrow::PluginContext& context)
      : factor_(context.options.Int("factor", 1, {.min = 1})) {}
  void Check(const modelgrow::STDiT3Impl&) const override {}
  void Grow(modelgrow::GrowthContext&, modelgrow::GrowthReport& report) override {
    report.claims_preserving = true;
    report.details = {{"factor", factor_}};
  }

 private:
  int64_t factor_;
};

}  // namespace

MODELGROW_GROWTH_OPERATOR(CountingGrowth, TEST_PLUGIN_NAME, "0.1.0", "test plugin");
