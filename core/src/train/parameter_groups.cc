#include "modelgrow/train/parameter_groups.h"

#include <algorithm>
#include <regex>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/name_pattern.h"

namespace modelgrow {
namespace {

// The kinds of module the trainable parameters are in, block indices as 'N' ("spatial_blocks.N.
// cross_attn.q_linear"), for an error that shows what a pattern could name.
std::string ModuleKinds(const NamedTensors& trainable) {
  static const std::regex index("\\.[0-9]+(\\.|$)");
  std::vector<std::string> kinds;
  for (const auto& [name, p] : trainable) {
    std::string module = name.substr(0, name.rfind('.'));
    std::string kind = std::regex_replace(module, index, ".N$1");
    if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) kinds.push_back(kind);
  }
  const size_t shown = std::min<size_t>(kinds.size(), 12);
  std::string out = fmt::format("{}", fmt::join(kinds.begin(), kinds.begin() + shown, ", "));
  if (shown < kinds.size()) out += fmt::format(", and {} more", kinds.size() - shown);
  return out;
}

}  // namespace

ResolvedParameterGroups ResolveParameterGroups(const OptimSpec& optim,
                                               const NamedTensors& trainable,
                                               const std::string& label) {
  ResolvedParameterGroups out;
  std::map<std::string, size_t> group_of;  // parameter name -> index of the group that took it
  for (size_t g = 0; g < optim.groups.size(); ++g) {
    const ParameterGroupSpec& group = optim.groups[g];
    const ParameterHyper hyper{group.lr_scale, group.weight_decay.value_or(optim.weight_decay)};
    int64_t tensors = 0, elements = 0;
    for (const std::string& pattern : group.params) {
      const std::regex re = DottedNamePattern(pattern, NameScope::kModuleAndBelow);
      int64_t matched = 0;
      for (const auto& [name, p] : trainable) {
        if (!std::regex_match(name, re)) continue;
        ++matched;
        auto [it, inserted] = group_of.emplace(name, g);
        if (inserted) {
          out.hypers[name] = hyper;
          ++tensors;
          elements += p.numel();
        } else if (it->second != g) {
          throw InputError(fmt::format(
              "{}: parameter '{}' is in optim.groups[{}] and in optim.groups[{}] (pattern '{}'): "
              "a parameter belongs to one group; narrow one of the patterns",
              label, name, it->second, g, pattern));
        }
      }
      if (matched == 0) {
        throw InputError(fmt::format(
            "{}: optim.groups[{}] pattern '{}' matches no trainable parameter (a pattern covers "
            "whole dotted name segments; this model's trainable parameters are in: {})",
            label, g, pattern, ModuleKinds(trainable)));
      }
    }
    out.groups.push_back({group.params, hyper, tensors, elements});
  }
  return out;
}

nlohmann::json ParameterGroupUse::ToJson() const {
  return {{"params", params},
          {"lr_scale", hyper.lr_scale},
          {"weight_decay", hyper.weight_decay},
          {"tensors", tensors},
          {"elements", elements}};
}

std::string ParameterGroupUse::Describe() const {
  if (hyper.lr_scale == 0) {
    return fmt::format("{}: {} tensors, {} elements, held still (lr x0)", fmt::join(params, ", "),
                       tensors, elements);
  }
  return fmt::format("{}: {} tensors, {} elements, lr x{:g}, weight_decay {:g}",
                     fmt::join(params, ", "), tensors, elements, hyper.lr_scale,
                     hyper.weight_decay);
}

nlohmann::json ResolvedParameterGroups::ToJson() const {
  nlohmann::json out = nlohmann::json::array();
  for (const ParameterGroupUse& g : groups) out.push_back(g.ToJson());
  return out;
}

}  // namespace modelgrow
