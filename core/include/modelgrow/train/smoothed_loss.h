// The loss a progress bar shows: a running mean over the first steps, then an exponential average
// over about `window` steps -- steady enough to read, never frozen between log points.
#pragma once

#include <algorithm>
#include <cstdint>

namespace modelgrow {

class SmoothedLoss {
 public:
  explicit SmoothedLoss(int64_t window = 20) : window_(window) {}
  double Add(double loss) {
    ++count_;
    value_ += (loss - value_) / static_cast<double>(std::min(count_, window_));
    return value_;
  }
  double value() const { return value_; }

 private:
  int64_t window_;
  int64_t count_ = 0;
  double value_ = 0;
};

}  // namespace modelgrow
