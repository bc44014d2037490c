// Parameter groups, PyTorch's param_groups in a manifest: `[[stages.<name>.optim.groups]]` gives
// the parameters its patterns name their own learning-rate multiplier (on top of the stage's
// schedule) and weight decay. A layer added by growth, such as the LLM's cross-attention beside a
// trained T5 one, can so learn faster than the weights it joins.
//
// A pattern is a regular expression over dotted parameter names that covers whole name segments
// (sdk/name_pattern.h, NameScope::kModuleAndBelow): it matches a parameter when it matches the
// full name, a module the parameter is in, or such a path after a dot. "cross_attn_1" names every
// parameter of every block's `cross_attn_1` and nothing of `cross_attn`; 'spatial_blocks\.0\..*'
// one block's.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "modelgrow/sdk/safetensors.h"
#include "modelgrow/train/adamw.h"
#include "modelgrow/train/train_spec.h"

namespace modelgrow {

// One `[[optim.groups]]` entry as it resolved against the model.
struct ParameterGroupUse {
  std::vector<std::string> params;  // the patterns, as written
  ParameterHyper hyper;
  int64_t tensors = 0;   // how many parameters it took
  int64_t elements = 0;  // and their elements

  // For stage.json's optimizer.parameter_groups.
  nlohmann::json ToJson() const;
  // For the log: "cross_attn_1: 16 tensors, 33024 elements, lr x3, weight_decay 0".
  std::string Describe() const;
};

struct ResolvedParameterGroups {
  ParameterHypers hypers;  // for the optimizer, by parameter name
  std::vector<ParameterGroupUse> groups;

  nlohmann::json ToJson() const;  // an array, one object per group
};

// Assigns the trainable parameters to `optim.groups`. Throws InputError (prefixed with `label`)
// when a pattern matches no trainable parameter (a typo, or a parameter that is frozen or not
// there yet) or when a parameter falls in two groups.
ResolvedParameterGroups ResolveParameterGroups(const OptimSpec& optim,
                                               const NamedTensors& trainable,
                                               const std::string& label);

}  // namespace modelgrow
