// Data-parallel gradient averaging as PyTorch's DDP reducer does it: the trainable parameters are
// grouped, in reverse order (the order backward produces their gradients), into flat buckets —
// a small first one so communication starts early, then about `bucket_mb` each; a hook on every
// parameter copies its gradient into its bucket the moment autograd computes it, and a full
// bucket's all-reduce is started right away, in bucket order on every rank, so communication
// overlaps the rest of the backward pass.
//
// Gradient accumulation: only the backward pass after Arm() communicates (DDP's no_sync for the
// others); the hooks then add the gradient accumulated so far. Parameters a rank did not use keep
// their local gradient (or zeros) in the bucket; a parameter no rank produced a gradient for ends
// with none, exactly as in one process, so AdamW skips it the same way.
#pragma once

#include <cstdint>
#include <mutex>
#include <vector>

#include <ATen/core/Tensor.h>

#include "modelgrow/dist/communicator.h"
#include "modelgrow/sdk/safetensors.h"

namespace modelgrow {

class GradientReducer {
 public:
  // `params`: the trainable parameters, in the model's order. Registers one hook per parameter.
  GradientReducer(const NamedTensors& params, Communicator& comm, double bucket_mb);
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // The next backward pass is the last of the step: its gradients are averaged.
  void Arm();
  // After that backward pass: starts the buckets still waiting (parameters this rank did not
  // use), waits for every all-reduce and sets each parameter's .grad to the average over ranks.
  void Finish();

  int64_t num_buckets() const { return static_cast<int64_t>(buckets_.size()); }
  // The parameter indices (into `params`) of each bucket, in launch order.
  std::vector<std::vector<size_t>> bucket_members() const;

 private:
  struct Bucket {
    at::Tensor flat;
    std::vector<size_t> members;
    int64_t waiting = 0;  // members whose gradient has not arrived in this backward pass
    Communicator::Pending pending;
  };

  void OnGradient(size_t index, const at::Tensor& grad);
  void MarkReady(size_t index, const at::Tensor& grad);
  void LaunchReadyBuckets();

  NamedTensors params_;
  Communicator& comm_;
  std::vector<Bucket> buckets_;
  std::vector<size_t> bucket_of_;
  std::vector<at::Tensor> views_;  // each parameter's slice of its bucket, in its shape
  std::vector<unsigned> hooks_;
  std::vector<bool> ready_, used_;
  size_t next_launch_ = 0;
  bool armed_ = false;
  std::mutex mutex_;
};

}  // namespace modelgrow
