// AdamW state by parameter name, the form in which growth operators see (and may transform) it.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include <ATen/core/Tensor.h>

namespace modelgrow {

struct ParameterState {
  at::Tensor exp_avg;     // first moment, same shape as the parameter
  at::Tensor exp_avg_sq;  // second moment
  int64_t step = 0;
};

using OptimizerState = std::map<std::string, ParameterState>;

}  // namespace modelgrow
