// LoRA on STDiT3 as a whole model: finding target layers by name and folding adapters into the
// weights for export (a plain checkpoint Open-Sora and PEFT-free tools can load).
#pragma once

#include <cstdint>
#include <regex>
#include <string>
#include <vector>

#include "modelgrow/sdk/model.h"

namespace modelgrow {

// A target pattern as PEFT's target_modules reads a name: DottedNamePattern(pattern,
// NameScope::kModule) (sdk/name_pattern.h). Throws InputError for a bad regex.
std::regex LoraTargetRegex(const std::string& pattern);

struct NamedLinear {
  std::string name;
  LinearImpl* layer = nullptr;
};
// Every Linear layer of the model whose name matches `pattern`, in registration order.
std::vector<NamedLinear> MatchLinears(const STDiT3Impl& model, const std::regex& pattern);

// Folds every adapter into its weight (W += B A alpha/r) and removes the adapters. Returns the
// names of the merged layers.
std::vector<std::string> MergeLora(STDiT3Impl& model);

}  // namespace modelgrow
