#include "modelgrow/train/gradient_reducer.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "modelgrow/sdk/errors.h"

namespace modelgrow {

namespace {

// DDP's first bucket is capped at 1 MB so the first all-reduce starts as soon as the last layers'
// gradients exist.
constexpr double kFirstBucketMb = 1.0;

}  // namespace

GradientReducer::GradientReducer(const NamedTensors& params, Communicator& comm, double bucket_mb)
    : params_(params), comm_(comm) {
  const size_t n = params_.size();
  bucket_of_.resize(n);
  views_.resize(n);
  ready_.assign(n, false);
  used_.assign(n, false);
  // Reverse order; a bucket holds one dtype and device, and closes at its size cap.
  auto cap_bytes = [&](size_t bucket) {
    double mb = bucket == 0 ? std::min(kFirstBucketMb, bucket_mb) : bucket_mb;
    return static_cast<int64_t>(mb * 1024 * 1024);
  };
  std::vector<std::vector<size_t>> groups;
  int64_t bytes = 0;
  for (size_t k = n; k-- > 0;) {
    const at::Tensor& p = params_[k].second;
    bool fits = false;
    if (!groups.empty()) {
      const at::Tensor& first = params_[groups.back().front()].second;
      fits = first.scalar_type() == p.scalar_type() && first.device() == p.device() &&
             bytes < cap_bytes(groups.size() - 1);
    }
    if (!fits) {
      groups.emplace_back();
      bytes = 0;
    }
    groups.back().push_back(k);
    bytes += p.numel() * static_cast<int64_t>(p.element_size());
  }
  for (std::vector<size_t>& members : groups) {
    Bucket b;
    int64_t numel = 0;
    for (size_t k : members) numel += params_[k].second.numel();
    const at::Tensor& first = params_[members.front()].second;
    b.flat = at::zeros({numel}, first.options().requires_grad(false));
    int64_t offset = 0;
    for (size_t k : members) {
      const at::Tensor& p = params_[k].second;
      views_[k] = b.flat.narrow(0, offset, p.numel()).view(p.sizes());
      bucket_of_[k] = buckets_.size();
      offset += p.numel();
    }
    b.members = std::move(members);
    buckets_.push_back(std::move(b));
  }
  for (size_t k = 0; k < n; ++k) {
    at::Tensor p = params_[k].second;
    hooks_.push_back(p.register_hook([this, k](const at::Tensor& grad) { OnGradient(k, grad); }));
  }
}

GradientReducer::~GradientReducer() {
  for (size_t k = 0; k < hooks_.size(); ++k) params_[k].second.remove_hook(hooks_[k]);
}

std::vector<std::vector<size_t>> GradientReducer::bucket_members() const {
  std::vector<std::vector<size_t>> out;
  for (const Bucket& b : buckets_) out.push_back(b.members);
  return out;
}

void GradientReducer::Arm() {
  std::lock_guard lock(mutex_);
  armed_ = true;
  next_launch_ = 0;
  ready_.assign(params_.size(), false);
  used_.assign(params_.size(), false);
  for (Bucket& b : buckets_) b.waiting = static_cast<int64_t>(b.members.size());
}

void GradientReducer::OnGradient(size_t index, const at::Tensor& grad) {
  std::lock_guard lock(mutex_);
  if (!armed_ || ready_[index]) return;
  // The hook runs before autograd adds `grad` to .grad: the bucket gets what .grad will hold.
  const at::Tensor& accumulated = params_[index].second.grad();
  at::NoGradGuard no_grad;
  MarkReady(index, accumulated.defined() ? accumulated + grad : grad);
  used_[index] = true;
  LaunchReadyBuckets();
}

void GradientReducer::MarkReady(size_t index, const at::Tensor& grad) {
  at::Tensor& view = views_[index];
  if (grad.defined()) {
    view.copy_(grad);
    // Divided before the sum, as DDP does, so low-precision buckets do not overflow.
    view.div_(static_cast<double>(comm_.size()));
  } else {
    view.zero_();
  }
  ready_[index] = true;
  buckets_[bucket_of_[index]].waiting -= 1;
}

void GradientReducer::LaunchReadyBuckets() {
  // Strictly in bucket order, so every rank issues the same sequence of collectives even when its
  // gradients arrive in another order.
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].waiting == 0) {
    Bucket& b = buckets_[next_launch_];
    b.pending = comm_.AllReduceSumAsync(b.flat);
    ++next_launch_;
  }
}

void GradientReducer::Finish() {
  std::unique_lock lock(mutex_);
  if (!armed_) throw RunError("GradientReducer::Finish without Arm");
  at::NoGradGuard no_grad;
  // Parameters this backward pass did not reach: their accumulated gradient, or zeros.
  for (size_t k = 0; k < params_.size(); ++k) {
    if (ready_[k]) continue;
    const at::Tensor& accumulated = params_[k].second.grad();
    used_[k] = accumulated.defined();
    MarkReady(k, accumulated);
  }
  LaunchReadyBuckets();
  // Which parameters any rank produced a gradient for (DDP's used-parameter map).
  at::Tensor used = at::zeros({static_cast<int64_t>(params_.size())}, at::kFloat);
  float* u = used.data_ptr<float>();
  for (size_t k = 0; k < params_.size(); ++k) u[k] = used_[k] ? 1.0f : 0.0f;
  comm_.AllReduceSum(used);
  for (Bucket& b : buckets_) b.pending.Wait();
  armed_ = false;
  for (size_t k = 0; k < params_.size(); ++k) {
    at::Tensor& p = params_[k].second;
    if (used.data_ptr<float>()[k] == 0.0f) {
      p.mutable_grad() = at::Tensor();
    } else {
      // The parameter's gradient now is its slice of the bucket (no second copy is kept).
      p.mutable_grad() = views_[k];
    }
  }
}

}  // namespace modelgrow
