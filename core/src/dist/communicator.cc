#include "modelgrow/dist/communicator.h"

#include <unistd.h>

#include <cstdlib>
#include <thread>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/version.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "modelgrow/base/interruption.h"
#include "modelgrow/sdk/errors.h"

namespace modelgrow {

namespace {

// LibTorch 2.x splits a process group into a front (ProcessGroup) and backends; Gloo and NCCL
// are backends there and process groups themselves in 1.13. Either has the collectives used here.
#if TORCH_VERSION_MAJOR >= 2
using Collectives = c10d::Backend;
#else
using Collectives = c10d::ProcessGroup;
#endif

std::string HostName() {
  char name[256] = {0};
  if (::gethostname(name, sizeof name - 1) != 0) return "?";
  return name;
}

std::vector<uint8_t> Bytes(const std::string& s) { return {s.begin(), s.end()}; }
std::string Text(const std::vector<uint8_t>& b) { return {b.begin(), b.end()}; }

std::string RankList(const std::vector<int>& ranks) {
  std::string out;
  for (size_t i = 0; i < ranks.size(); ++i) {
    if (i > 0) out += i + 1 == ranks.size() ? " and " : ", ";
    out += std::to_string(ranks[i]);
  }
  return out;
}

}  // namespace

bool NcclAvailable() {
#ifdef USE_C10D_NCCL
  return true;
#else
  return false;
#endif
}

struct Communicator::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<Collectives> group;
  c10::Device device = c10::Device(c10::DeviceType::CPU);
  bool nccl = false;

  // NCCL reduces only device tensors: CPU ones go through the device and back.
  at::Tensor Staged(const at::Tensor& t) const { return nccl && !t.is_cuda() ? t.to(device) : t; }

  void Wait(const c10::intrusive_ptr<c10d::Work>& work, const char* op) const {
    try {
      work->wait();
    } catch (const std::exception& e) {
      throw RunError(
          fmt::format("{} across the workers failed (did a worker die?): {}", op, e.what()));
    }
  }
};

Communicator::Communicator() : impl_(std::make_unique<Impl>()) {}
// Rank 0 serves the store: leaving first would cut off ranks still reading its last answer (an
// OnRoot result, the process group's own rendezvous). So every rank says it is leaving, and rank
// 0 waits — a bounded time, since a rank may have died — for the ranks that joined.
Communicator::~Communicator() {
  if (!impl_ || !impl_->store) return;
  try {
    c10d::Store& store = *impl_->store;
    store.set(fmt::format("left/{}", world_.rank), Bytes("1"));
    if (!world_.is_root() || world_.agent_store) return;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (int r = 1; r < world_.size; ++r) {
      if (!store.check({fmt::format("join/{}", r)})) continue;
      while (!store.check({fmt::format("left/{}", r)}) &&
             std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
  } catch (const std::exception&) {
    // The store is gone already: nobody is left to wait for.
  }
}

std::unique_ptr<Communicator> Communicator::Join(const WorldInfo& world,
                                                 const JoinOptions& options) {
  std::string backend = options.backend;
  if (backend != "auto" && backend != "gloo" && backend != "nccl") {
    throw InputError(fmt::format("backend '{}': expected auto, gloo or nccl", options.backend));
  }
  if (backend == "nccl" && !NcclAvailable()) {
    throw InputError(fmt::format(
        "the NCCL backend was asked for, but this modelgrow is built against LibTorch {} without "
        "CUDA/NCCL; use --backend gloo (or build against a CUDA LibTorch, docs/gpu.md)",
        TORCH_VERSION));
  }
  if (backend == "nccl" && !options.device.is_cuda()) {
    throw InputError(
        "the NCCL backend reduces GPU tensors: it needs experiment.device = \"cuda\" (or "
        "\"auto\" on a GPU machine); use --backend gloo on CPU");
  }
  if (backend == "auto") backend = options.device.is_cuda() && NcclAvailable() ? "nccl" : "gloo";

  auto c = std::make_unique<Communicator>();
  c->world_ = world;
  if (!world.distributed()) return c;
  c->backend_ = backend;
  Impl& impl = *c->impl_;
  impl.device = options.device;
  const auto join_ms = std::chrono::duration_cast<std::chrono::milliseconds>(options.join_timeout);

  // The store: rank 0 serves it (unless torchrun's agent already does), everyone is a client.
  c10d::TCPStoreOptions store_options;
  store_options.port = static_cast<uint16_t>(world.master_port);
  store_options.isServer = world.is_root() && !world.agent_store;
  store_options.waitWorkers = false;  // joining is checked below, naming who is missing
  store_options.timeout = join_ms;
  store_options.multiTenant = true;
  c10::intrusive_ptr<c10d::Store> tcp;
  try {
    tcp = c10::make_intrusive<c10d::TCPStore>(world.master_addr, store_options);
  } catch (const std::exception& e) {
    if (store_options.isServer) {
      throw InputError(fmt::format(
          "rank 0 cannot serve the rendezvous store on port {} (MASTER_PORT): {}. Is the port "
          "already in use? Choose another MASTER_PORT (modelgrow run --master-port)",
          world.master_port, e.what()));
    }
    throw InputError(fmt::format(
        "rank {} could not reach rank 0's store at {}:{} within {} s: {}. Rank 0 never joined: "
        "check that it started and that every worker has the same MASTER_ADDR and MASTER_PORT",
        world.rank, world.master_addr, world.master_port, options.join_timeout.count(), e.what()));
  }
  impl.store =
      c10::make_intrusive<c10d::PrefixStore>(fmt::format("modelgrow/{}", world.restart_count), tcp);

  // Every rank announces itself and waits for all the others, so a missing worker is named
  // instead of surfacing as a timeout deep inside the process group.
  try {
    int64_t seen = impl.store->add(fmt::format("join/{}", world.rank), 1);
    impl.store->set(fmt::format("host/{}", world.rank),
                    Bytes(fmt::format("{} (pid {})", HostName(), ::getpid())));
    if (seen > 1) {
      throw InputError(
          fmt::format("rank {} joined twice: two workers were started with the same rank ({})",
                      world.rank, world.source));
    }
    std::vector<std::string> keys;
    for (int r = 0; r < world.size; ++r) keys.push_back(fmt::format("join/{}", r));
    auto deadline = std::chrono::steady_clock::now() + options.join_timeout;
    while (!impl.store->check(keys)) {
      if (std::chrono::steady_clock::now() > deadline) {
        std::vector<int> missing, joined;
        for (int r = 0; r < world.size; ++r) {
          (impl.store->check({keys[r]}) ? joined : missing).push_back(r);
        }
        throw InputError(fmt::format(
            "rank{} {} of WORLD_SIZE={} did not join within {} s (joined: {}). Start every "
            "worker with the same MASTER_ADDR:MASTER_PORT ({}:{}) and its own rank, or allow "
            "longer with --join-timeout",
            missing.size() == 1 ? "" : "s", RankList(missing), world.size,
            options.join_timeout.count(), joined.empty() ? "none" : RankList(joined),
            world.master_addr, world.master_port));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  } catch (const InputError&) {
    throw;
  } catch (const std::exception& e) {
    throw RunError(fmt::format("rank {}: the rendezvous store failed: {}", world.rank, e.what()));
  }

  const auto timeout_ms = std::chrono::duration_cast<std::chrono::milliseconds>(options.timeout);
  try {
    if (backend == "gloo") {
      auto gloo = c10d::ProcessGroupGloo::Options::create(timeout_ms);
      if (world.local_size == world.size) {
        // Every rank on this machine: loopback, whatever the host's name resolves to.
        gloo->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      } else if (const char* ifnames = std::getenv("GLOO_SOCKET_IFNAME")) {
        // As PyTorch reads it: a comma-separated list of network interfaces.
        std::string list = ifnames;
        for (size_t start = 0; start <= list.size();) {
          size_t comma = list.find(',', start);
          std::string name = list.substr(start, comma == std::string::npos ? comma : comma - start);
          if (!name.empty()) {
            gloo->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(name));
          }
          if (comma == std::string::npos) break;
          start = comma + 1;
        }
      } else {
        gloo->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      gloo->threads = static_cast<int>(gloo->devices.size()) * 2;
      impl.group =
          c10::make_intrusive<c10d::ProcessGroupGloo>(impl.store, world.rank, world.size, gloo);
    } else {
#ifdef USE_C10D_NCCL
      c10::cuda::set_device(static_cast<c10::DeviceIndex>(options.device.index()));
      auto nccl = c10d::ProcessGroupNCCL::Options::create();
      nccl->timeout = timeout_ms;
      impl.group =
          c10::make_intrusive<c10d::ProcessGroupNCCL>(impl.store, world.rank, world.size, nccl);
      impl.nccl = true;
#endif
    }
  } catch (const std::exception& e) {
    throw RunError(fmt::format("rank {}: the {} process group did not form: {}", world.rank,
                               backend, e.what()));
  }
  return c;
}

void Communicator::Pending::Wait() {
  if (wait_) wait_();
  wait_ = nullptr;
}

void Communicator::AllReduceSum(at::Tensor& tensor) { AllReduceSumAsync(tensor).Wait(); }

Communicator::Pending Communicator::AllReduceSumAsync(at::Tensor tensor) {
  Pending pending;
  if (!distributed()) return pending;
  std::vector<at::Tensor> tensors{impl_->Staged(tensor)};
  c10::intrusive_ptr<c10d::Work> work = impl_->group->allreduce(tensors);
  const Impl* impl = impl_.get();
  pending.wait_ = [impl, work, tensor, staged = tensors[0]]() mutable {
    impl->Wait(work, "all-reduce");
    if (!staged.is_same(tensor)) tensor.copy_(staged);
  };
  return pending;
}

void Communicator::Broadcast(at::Tensor& tensor, int root) {
  if (!distributed()) return;
  std::vector<at::Tensor> tensors{impl_->Staged(tensor)};
  c10d::BroadcastOptions options;
  options.rootRank = root;
  impl_->Wait(impl_->group->broadcast(tensors, options), "broadcast");
  if (!tensors[0].is_same(tensor)) tensor.copy_(tensors[0]);
}

void Communicator::Barrier() {
  if (!distributed()) return;
  impl_->Wait(impl_->group->barrier(), "barrier");
}

int Communicator::AgreedStopSignal() {
  const int signal = StopSignal();
  if (!distributed()) return signal;
  at::Tensor all = at::zeros({size()}, at::TensorOptions().dtype(at::kDouble));
  all[rank()] = signal;
  AllReduceSum(all);
  return static_cast<int>(all.max().item<double>());
}

void Communicator::ThrowIfStopAgreed(const std::string& where) {
  if (int signal = AgreedStopSignal(); signal != 0) throw Interrupted(signal, where);
}

std::string Communicator::OnRoot(const std::string& key, const std::function<std::string()>& fn) {
  if (!distributed()) return fn();
  const std::string store_key = "root/" + key;
  c10d::Store& store = *impl_->store;
  if (is_root()) {
    try {
      std::string result = fn();
      store.set(store_key, Bytes("ok\n" + result));
      return result;
    } catch (const InputError& e) {
      store.set(store_key, Bytes(std::string("input\n") + e.what()));
      throw;
    } catch (const std::exception& e) {
      store.set(store_key, Bytes(std::string("error\n") + e.what()));
      throw;
    }
  }
  std::string value;
  try {
    auto pause = std::chrono::milliseconds(5);
    while (!store.check({store_key})) {
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::milliseconds(200));
    }
    value = Text(store.get(store_key));
  } catch (const std::exception& e) {
    throw RunError(
        fmt::format("rank {} lost rank 0 while waiting for it ({}): {}", rank(), key, e.what()));
  }
  size_t newline = value.find('\n');
  std::string status = value.substr(0, newline);
  std::string body = newline == std::string::npos ? "" : value.substr(newline + 1);
  if (status == "ok") return body;
  if (status == "input") throw InputError(body);
  throw RunError(fmt::format("rank 0 failed ({}): {}", key, body));
}

}  // namespace modelgrow
