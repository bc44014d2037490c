// Test plugins that misbehave, one way each (chosen by a MISBEHAVE_* definition): the loader must
// name the file and the fault, and the host must survive all of them.
#include <stdexcept>

#include "modelgrow/sdk/growth_operator.h"

namespace {

class Misbehaving : public modelgrow::GrowthOperator {
 public:
  explicit Misbehaving(const modelgrow::PluginContext&) {
#if defined(MISBEHAVE_FACTORY_THROWS)
    throw std::runtime_error("this factory fails on purpose");
#elif defined(MISBEHAVE_FACTORY_THROWS_INT)
    throw 42;
#endif
  }
  void Check(const modelgrow::STDiT3Impl&) const override {}
  void Grow(modelgrow::GrowthContext&, modelgrow::GrowthReport&) override {}
};

std::unique_ptr<modelgrow::GrowthOperator> MakeNothing(const modelgrow::PluginContext&) {
  return nullptr;
}
std::unique_ptr<modelgrow::GrowthOperator> MakeMisbehaving(const modelgrow::PluginContext& c) {
  return std::make_unique<Misbehaving>(c);
}

}  // namespace

#if defined(MISBEHAVE_FACTORY_THROWS) || defined(MISBEHAVE_FACTORY_THROWS_INT)
MODELGROW_GROWTH_OPERATOR(Misbehaving, TEST_PLUGIN_NAME, "0.1.0", "throws when constructed");
#else
// Descriptors written by hand, as a plugin that does not use the SDK's macros might.
MODELGROW_PLUGIN_EXPORT int modelgrow_plugin_api_version() { return modelgrow::kSdkApiVersion; }
MODELGROW_PLUGIN_EXPORT const modelgrow::PluginDescriptor* modelgrow_plugin_descriptor() {
  static const modelgrow::PluginDescriptor descriptor = [] {
    modelgrow::PluginDescriptor d{};
    d.api_version = modelgrow::kSdkApiVersion;
    d.kind = modelgrow::PluginKind::kGrowth;
    d.name = TEST_PLUGIN_NAME;
    d.make_growth_operator = &MakeMisbehaving;
#if defined(MISBEHAVE_NULL_NAME)
    d.name = nullptr;
#elif defined(MISBEHAVE_UNKNOWN_KIND)
    d.kind = static_cast<modelgrow::PluginKind>(9);
#elif defined(MISBEHAVE_KIND_WITHOUT_FACTORY)
    d.kind = modelgrow::PluginKind::kText;  // but only a growth factory
#elif defined(MISBEHAVE_FACTORY_RETURNS_NULL)
    d.make_growth_operator = &MakeNothing;
#endif
    return d;
  }();
#if defined(MISBEHAVE_DESCRIPTOR_THROWS)
  throw std::logic_error("the descriptor cannot be made");
#endif
  return &descriptor;
}
#endif
