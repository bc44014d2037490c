// How a training stage runs across processes: `[stages.<name>.distributed]` (docs/manifests.md).
// These settings change how the work is shared, never the numbers it gives (up to the order of a
// floating-point sum), so they are left out of the stage's content key: a run may switch them, or
// change its world size, and still resume its stages.
#pragma once

#include "modelgrow/sdk/options.h"

namespace modelgrow {

struct DistributedSpec {
  // ZeRO stage 1: each rank keeps AdamW moments for its 1/N of the parameters, updates that part
  // and sends it to the others.
  bool shard_optimizer = false;
  // Gradients are all-reduced in flattened buckets of about this size while backward runs
  // (PyTorch DDP's bucket_cap_mb).
  double bucket_mb = 25.0;

  // Reads the `distributed` table of a stage (absent: the defaults), recording every problem.
  static DistributedSpec FromOptions(const Options& table);
};

}  // namespace modelgrow
