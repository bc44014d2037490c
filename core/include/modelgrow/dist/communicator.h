// The collectives a multi-process run needs, on LibTorch's own c10d: a TCPStore rendezvous
// (server on rank 0, as PyTorch's `env://` init does), ProcessGroupGloo on CPU and
// ProcessGroupNCCL when LibTorch was built with it. A default-constructed Communicator is a world
// of one: every collective is the identity and OnRoot simply runs its function, so code written
// for N processes runs unchanged in one.
//
// Every rank must call the collectives in the same order with tensors of the same shape: that is
// how c10d matches them up.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "modelgrow/dist/world.h"

namespace modelgrow {

struct JoinOptions {
  std::string backend =
      "auto";  // "auto" (NCCL for CUDA devices when built with it) | "gloo" | "nccl"
  c10::Device device = c10::Device(c10::DeviceType::CPU);  // this worker's device
  // How long every rank waits for all the others to join; then it names the missing ranks.
  std::chrono::seconds join_timeout{300};
  // A collective that does not complete in this time fails (a rank died or hangs).
  std::chrono::seconds timeout{1800};
};

// Whether this build can make an NCCL process group (LibTorch built with CUDA and NCCL).
bool NcclAvailable();

class Communicator {
 public:
  Communicator();  // a world of one
  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  // Joins the world `world` describes (a world of one needs no store and no process group).
  // InputError for a backend this build lacks, a store port rank 0 cannot listen on, and ranks
  // that did not join within the timeout (named); RunError when the process group fails to form.
  static std::unique_ptr<Communicator> Join(const WorldInfo& world, const JoinOptions& options);

  const WorldInfo& world() const { return world_; }
  int rank() const { return world_.rank; }
  int size() const { return world_.size; }
  bool is_root() const { return world_.rank == 0; }
  bool distributed() const { return world_.size > 1; }
  const std::string& backend() const { return backend_; }  // "" in a world of one

  // An all-reduce in flight; Wait() returns once the result is in the tensor it was given.
  class Pending {
   public:
    Pending() = default;
    void Wait();

   private:
    friend class Communicator;
    std::function<void()> wait_;
  };

  // Sums `tensor` over the ranks, in place; the async form returns before the sum is done and the
  // tensor must not be touched until Wait().
  void AllReduceSum(at::Tensor& tensor);
  Pending AllReduceSumAsync(at::Tensor tensor);
  // Copies rank `root`'s `tensor` into every rank's (same shape and dtype everywhere).
  void Broadcast(at::Tensor& tensor, int root);
  // Returns once every rank has called it.
  void Barrier();

  // The stop signal (Ctrl-C, SIGTERM; base/interruption.h) as every rank sees it: the largest any
  // rank received. A signal reaches the ranks at slightly different moments; a rank that stopped
  // alone would leave the others waiting in their next collective, so loops that can stop ask
  // this (a collective) at the same points on every rank.
  int AgreedStopSignal();
  // Throws Interrupted(`where`) on every rank when AgreedStopSignal() is not 0.
  void ThrowIfStopAgreed(const std::string& where);

  // Rank 0 runs `fn` while the others wait for it (as long as it takes: growth, making a text
  // model, training a classifier) and every rank returns rank 0's result. `key` names the result
  // in the rendezvous store: unique within the job, or reused only for the same result — a rank
  // asking after rank 0 has published it gets it at once, so the ranks need not ask the same
  // questions in the same order (rank 0 may make a text model inside growth that the others ask
  // for later). An exception on rank 0 is rethrown on every rank (InputError stays InputError).
  // `fn` runs on rank 0 alone: it must not use collectives.
  std::string OnRoot(const std::string& key, const std::function<std::string()>& fn);

 private:
  struct Impl;
  WorldInfo world_;
  std::string backend_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace modelgrow
