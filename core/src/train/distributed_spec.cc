#include "modelgrow/train/distributed_spec.h"

namespace modelgrow {

DistributedSpec DistributedSpec::FromOptions(const Options& t) {
  DistributedSpec s;
  s.shard_optimizer = t.Bool("shard_optimizer", s.shard_optimizer);
  s.bucket_mb =
      t.Double("bucket_mb", s.bucket_mb, {.min = 0, .max = 1 << 16, .min_exclusive = true});
  t.RejectUnknownKeys();
  return s;
}

}  // namespace modelgrow
