#include "modelgrow/sdk/lora.h"

#include "modelgrow/sdk/name_pattern.h"

namespace modelgrow {

std::regex LoraTargetRegex(const std::string& pattern) {
  return DottedNamePattern(pattern, NameScope::kModule);
}

std::vector<NamedLinear> MatchLinears(const STDiT3Impl& model, const std::regex& pattern) {
  std::vector<NamedLinear> out;
  for (const auto& item : model.named_modules()) {
    auto* linear = dynamic_cast<LinearImpl*>(item.value().get());
    if (linear != nullptr && std::regex_match(item.key(), pattern)) {
      out.push_back({item.key(), linear});
    }
  }
  return out;
}

std::vector<std::string> MergeLora(STDiT3Impl& model) {
  std::vector<std::string> merged;
  for (const auto& item : model.named_modules()) {
    auto* linear = dynamic_cast<LinearImpl*>(item.value().get());
    if (linear != nullptr && linear->has_lora()) {
      linear->MergeLora();
      merged.push_back(item.key());
    }
  }
  return merged;
}

}  // namespace modelgrow
