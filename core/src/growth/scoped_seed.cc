#include "modelgrow/growth/scoped_seed.h"

#include <ATen/Context.h>

namespace modelgrow {

ScopedSeed::ScopedSeed(c10::Device device, uint64_t seed) {
  std::vector<at::Generator> generators{at::detail::getDefaultCPUGenerator()};
  if (!device.is_cpu()) generators.push_back(at::globalContext().defaultGenerator(device));
  for (at::Generator& g : generators) {
    saved_.emplace_back(g, g.get_state());
    g.set_current_seed(seed);
  }
}

ScopedSeed::~ScopedSeed() {
  for (auto& [generator, state] : saved_) generator.set_state(state);
}

}  // namespace modelgrow
