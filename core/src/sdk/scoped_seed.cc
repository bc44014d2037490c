#include "modelgrow/sdk/scoped_seed.h"

#include <ATen/Context.h>

namespace modelgrow {

ScopedSeed::ScopedSeed(c10::Device device, uint64_t seed) {
  std::vector<at::Generator> generators{at::detail::getDefaultCPUGenerator()};
  // Only accelerators have generators of their own (the meta device, used by validation, draws
  // nothing).
  if (device.is_cuda()) generators.push_back(at::globalContext().defaultGenerator(device));
  for (at::Generator& g : generators) {
    saved_.emplace_back(g, g.get_state());
    g.set_current_seed(seed);
  }
}

ScopedSeed::~ScopedSeed() {
  for (auto& [generator, state] : saved_) generator.set_state(state);
}

}  // namespace modelgrow
