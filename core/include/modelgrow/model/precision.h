// Mixed precision without LibTorch's autocast API (whose C++ surface changed between 1.13 and
// 2.x): while a PrecisionScope is alive on this thread, the model's matrix products run in its
// dtype (e.g. bf16) with fp32 master weights; norms, softmax and the output stay fp32. This is
// what autocast does, made explicit, and it works on CPU too (so the bf16 path is testable).
#pragma once

#include <c10/core/ScalarType.h>

namespace modelgrow {

// The dtype matrix products use on this thread: kFloat unless a PrecisionScope says otherwise.
c10::ScalarType ComputeDtype();

class PrecisionScope {
 public:
  explicit PrecisionScope(c10::ScalarType dtype);
  ~PrecisionScope();
  PrecisionScope(const PrecisionScope&) = delete;
  PrecisionScope& operator=(const PrecisionScope&) = delete;

 private:
  c10::ScalarType previous_;
};

}  // namespace modelgrow
