#include "modelgrow/model/precision.h"

namespace modelgrow {
namespace {
thread_local c10::ScalarType current_dtype = c10::ScalarType::Float;
}  // namespace

c10::ScalarType ComputeDtype() { return current_dtype; }

PrecisionScope::PrecisionScope(c10::ScalarType dtype) : previous_(current_dtype) {
  current_dtype = dtype;
}

PrecisionScope::~PrecisionScope() { current_dtype = previous_; }

}  // namespace modelgrow
