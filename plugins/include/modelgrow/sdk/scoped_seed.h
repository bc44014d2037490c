// Seeds the default random generators an operator's initialisation draws from (the CPU one and,
// for a model on an accelerator, that device's) for one scope, and restores their states after:
// a grown model is the same on every run, and the caller's random stream is left untouched.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

namespace modelgrow {

class ScopedSeed {
 public:
  ScopedSeed(c10::Device device, uint64_t seed);
  ~ScopedSeed();
  ScopedSeed(const ScopedSeed&) = delete;
  ScopedSeed& operator=(const ScopedSeed&) = delete;

 private:
  std::vector<std::pair<at::Generator, at::Tensor>> saved_;
};

}  // namespace modelgrow
