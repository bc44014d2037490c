#include "modelgrow/host/training_hook_factory.h"

#include <fmt/format.h>

#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/growth_operator.h"
#include "modelgrow/sdk/options.h"

namespace modelgrow {

using json = nlohmann::json;

namespace {

// The hook's code lives in the operator's library: holding the operator keeps it loaded.
class OperatorHook : public TrainingHook {
 public:
  OperatorHook(std::shared_ptr<GrowthOperator> op, std::unique_ptr<TrainingHook> hook)
      : op_(std::move(op)), hook_(std::move(hook)) {}
  ~OperatorHook() override { hook_.reset(); }
  void BeforeStep(STDiT3Impl& model) override { hook_->BeforeStep(model); }
  bool Finished() const override { return hook_->Finished(); }
  void Remove(STDiT3Impl& model) override { hook_->Remove(model); }
  json State() const override { return hook_->State(); }

 private:
  std::shared_ptr<GrowthOperator> op_;
  std::unique_ptr<TrainingHook> hook_;
};

}  // namespace

std::function<std::unique_ptr<TrainingHook>(const json& record)> TrainingHookFactory(
    const PluginRegistry& registry, c10::Device device) {
  return [&registry, device](const json& record) -> std::unique_ptr<TrainingHook> {
    const std::string name = record.at("op").get<std::string>();
    PluginContext context;
    context.options = Options::ParseString(record.at("options_toml").get<std::string>(),
                                           fmt::format("training hook of growth op '{}'", name));
    context.device = device;
    std::shared_ptr<GrowthOperator> op = registry.MakeGrowthOperator(name, context);
    std::unique_ptr<TrainingHook> hook = op->ResumeTrainingHook(record.at("state"));
    if (hook == nullptr) {
      throw InputError(fmt::format(
          "growth op '{}' makes no training hook, but the checkpoint asks for one (a plugin of "
          "another version?)",
          name));
    }
    return std::make_unique<OperatorHook>(std::move(op), std::move(hook));
  };
}

}  // namespace modelgrow
