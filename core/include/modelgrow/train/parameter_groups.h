// Parameter groups, PyTorch's param_groups in a manifest: `[[stages.<name>.optim.groups]]` gives
// the parameters its patterns name their own learning-rate multiplier (on top of the stage's
// schedule) and weight decay. A layer added by growth, such as the LLM's cross-attention beside a
// trained T5 one, can so learn faster than the weights it joins.
//
// A pattern is a regular expression over dotted parameter names that must cover whole name
// segments: it matches a parameter when it matches the full name, a module the parameter is in,
// or such a path after a dot. "cross_attn_1" names every parameter of every block's
// `cross_attn_1` and nothing of `cross_attn`; 'spatial_blocks\.0\..*' one block's.
#pragma once

#include <regex>
#include <string>

#include <nlohmann/json.hpp>

#include "modelgrow/sdk/safetensors.h"
#include "modelgrow/train/adamw.h"
#include "modelgrow/train/train_spec.h"

namespace modelgrow {

// Throws InputError for a pattern that is no valid regular expression.
std::regex ParameterPatternRegex(const std::string& pattern);

struct ResolvedParameterGroups {
  ParameterHypers hypers;  // for the optimizer, by parameter name
  // Per group: its patterns, lr_scale, weight_decay, and how many tensors and elements it took.
  nlohmann::json summary = nlohmann::json::array();
};

// Assigns the trainable parameters to `optim.groups`. Throws InputError (prefixed with `label`)
// when a pattern matches no trainable parameter (a typo, or a parameter that is frozen or not
// there yet) or when a parameter falls in two groups.
ResolvedParameterGroups ResolveParameterGroups(const OptimSpec& optim,
                                               const NamedTensors& trainable,
                                               const std::string& label);

}  // namespace modelgrow
