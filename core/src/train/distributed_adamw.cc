#include "modelgrow/train/distributed_adamw.h"

#include <algorithm>
#include <numeric>

#include <ATen/ATen.h>

namespace modelgrow {

namespace {

// Which rank keeps each parameter: largest first, each to the rank with the fewest elements so
// far (ties: lower index, lower rank), so every rank computes the same split.
std::vector<int> Partition(const NamedTensors& params, int ranks) {
  std::vector<size_t> order(params.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return params[a].second.numel() > params[b].second.numel();
  });
  std::vector<int64_t> load(ranks, 0);
  std::vector<int> owner(params.size(), 0);
  for (size_t k : order) {
    int r = static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
    owner[k] = r;
    load[r] += params[k].second.numel();
  }
  return owner;
}

NamedTensors Owned(const NamedTensors& params, const std::vector<int>& owner, int rank) {
  NamedTensors out;
  for (size_t k = 0; k < params.size(); ++k) {
    if (owner[k] == rank) out.push_back(params[k]);
  }
  return out;
}

}  // namespace

DistributedAdamW::DistributedAdamW(NamedTensors params, AdamWConfig config, Communicator& comm,
                                   bool shard, double bucket_mb, const ParameterHypers& hypers)
    : params_(std::move(params)),
      comm_(comm),
      shard_(shard && comm.distributed()),
      bucket_bytes_(std::max<int64_t>(1, static_cast<int64_t>(bucket_mb * 1024 * 1024))),
      owner_(shard_ ? Partition(params_, comm.size()) : std::vector<int>(params_.size(), 0)),
      local_(shard_ ? Owned(params_, owner_, comm.rank()) : params_, config, hypers) {}

void DistributedAdamW::ZeroGrad() {
  for (auto& [name, p] : params_) {
    if (p.grad().defined()) p.mutable_grad() = at::Tensor();
  }
}

void DistributedAdamW::Step(double lr) {
  local_.Step(lr);
  if (shard_) BroadcastParameters();
}

void DistributedAdamW::BroadcastParameters() {
  at::NoGradGuard no_grad;
  // Each owner's parameters in flat pieces of about a bucket, in parameter order.
  for (int r = 0; r < comm_.size(); ++r) {
    std::vector<size_t> piece;
    int64_t bytes = 0;
    auto send = [&] {
      if (piece.empty()) return;
      std::vector<at::Tensor> parts;
      for (size_t k : piece) parts.push_back(params_[k].second.detach().reshape({-1}));
      at::Tensor flat = at::cat(parts);
      comm_.Broadcast(flat, r);
      if (r != comm_.rank()) {
        int64_t offset = 0;
        for (size_t k : piece) {
          at::Tensor p = params_[k].second.detach();
          p.copy_(flat.narrow(0, offset, p.numel()).view(p.sizes()));
          offset += p.numel();
        }
      }
      piece.clear();
      bytes = 0;
    };
    for (size_t k = 0; k < params_.size(); ++k) {
      if (owner_[k] != r) continue;
      const at::Tensor& p = params_[k].second;
      if (!piece.empty() && (bytes >= bucket_bytes_ ||
                             params_[piece.front()].second.scalar_type() != p.scalar_type())) {
        send();
      }
      piece.push_back(k);
      bytes += p.numel() * static_cast<int64_t>(p.element_size());
    }
    send();
  }
}

std::vector<int64_t> DistributedAdamW::moment_bytes_per_rank() const {
  std::vector<int64_t> bytes(shard_ ? comm_.size() : 1, 0);
  for (size_t k = 0; k < params_.size(); ++k) {
    bytes[owner_[k]] += 2 * params_[k].second.numel() * static_cast<int64_t>(sizeof(float));
  }
  if (!shard_) bytes.assign(comm_.size(), bytes[0]);
  return bytes;
}

OptimizerState DistributedAdamW::GatherState() {
  if (!shard_) return local_.state();
  OptimizerState whole = comm_.is_root() ? local_.state() : OptimizerState();
  const OptimizerState& mine = local_.state();
  for (int r = 1; r < comm_.size(); ++r) {
    std::vector<size_t> owned;
    for (size_t k = 0; k < params_.size(); ++k) {
      if (owner_[k] == r) owned.push_back(k);
    }
    // First the step counts (0: no moments yet), then the moments of the stepped ones.
    at::Tensor steps = at::zeros({static_cast<int64_t>(owned.size())}, at::kLong);
    if (comm_.rank() == r) {
      for (size_t i = 0; i < owned.size(); ++i) {
        auto it = mine.find(params_[owned[i]].first);
        if (it != mine.end() && it->second.exp_avg.defined())
          steps[static_cast<int64_t>(i)] = it->second.step;
      }
    }
    comm_.Broadcast(steps, r);
    for (size_t i = 0; i < owned.size(); ++i) {
      int64_t step = steps[static_cast<int64_t>(i)].item<int64_t>();
      if (step == 0) continue;
      const auto& [name, p] = params_[owned[i]];
      at::Tensor moments;
      if (comm_.rank() == r) {
        const ParameterState& s = mine.at(name);
        moments = at::stack({s.exp_avg, s.exp_avg_sq});
      } else {
        std::vector<int64_t> shape{2};
        shape.insert(shape.end(), p.sizes().begin(), p.sizes().end());
        moments = at::empty(shape, p.options().requires_grad(false));
      }
      comm_.Broadcast(moments, r);
      // On the host: the whole state on rank 0's GPU would need every rank's share of memory.
      if (comm_.is_root()) whole[name] = {moments[0].to(at::kCPU), moments[1].to(at::kCPU), step};
    }
  }
  return whole;
}

int64_t DistributedAdamW::AdoptState(const OptimizerState& state) {
  return local_.AdoptState(state);
}

}  // namespace modelgrow
