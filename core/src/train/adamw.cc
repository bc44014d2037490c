#include "modelgrow/train/adamw.h"

#include <cmath>

#include <ATen/ATen.h>
#include <fmt/format.h>

namespace modelgrow {

AdamW::AdamW(NamedTensors params, AdamWConfig config, const ParameterHypers& hypers)
    : params_(std::move(params)), config_(config) {
  hypers_.reserve(params_.size());
  for (const auto& [name, p] : params_) {
    auto it = hypers.find(name);
    hypers_.push_back(it != hypers.end() ? it->second : ParameterHyper{1.0, config_.weight_decay});
  }
}

void AdamW::ZeroGrad() {
  for (auto& [name, p] : params_) {
    if (p.grad().defined()) p.mutable_grad() = at::Tensor();
  }
}

void AdamW::Step(double lr) {
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    auto& [name, p] = params_[i];
    const at::Tensor& g = p.grad();
    if (!g.defined()) continue;
    ParameterState& s = state_[name];
    if (!s.exp_avg.defined()) {
      s.exp_avg = at::zeros_like(p);
      s.exp_avg_sq = at::zeros_like(p);
      s.step = 0;
    }
    s.step += 1;
    const double group_lr = lr * hypers_[i].lr_scale;
    const double decay = hypers_[i].weight_decay;
    if (decay != 0) p.mul_(1 - group_lr * decay);
    s.exp_avg.mul_(config_.beta1).add_(g, 1 - config_.beta1);
    s.exp_avg_sq.mul_(config_.beta2).addcmul_(g, g, 1 - config_.beta2);
    double bias1 = 1 - std::pow(config_.beta1, static_cast<double>(s.step));
    double bias2 = 1 - std::pow(config_.beta2, static_cast<double>(s.step));
    at::Tensor denom = (s.exp_avg_sq.sqrt() / std::sqrt(bias2)).add_(config_.eps);
    p.addcdiv_(s.exp_avg, denom, -group_lr / bias1);
  }
}

int64_t AdamW::AdoptState(const OptimizerState& state) {
  int64_t adopted = 0;
  for (const auto& [name, p] : params_) {
    auto it = state.find(name);
    if (it == state.end() || !it->second.exp_avg.defined()) continue;
    if (it->second.exp_avg.sizes() != p.sizes()) continue;
    ParameterState s = it->second;
    s.exp_avg = s.exp_avg.to(p.device()).clone();
    s.exp_avg_sq = s.exp_avg_sq.to(p.device()).clone();
    state_[name] = s;
    ++adopted;
  }
  return adopted;
}

double ClipGradNorm(const NamedTensors& params, double max_norm) {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> norms;
  for (const auto& [name, p] : params) {
    if (p.grad().defined()) norms.push_back(p.grad().norm(2).to(at::kDouble));
  }
  if (norms.empty()) return 0;
  double total = at::stack(norms).norm(2).item<double>();
  if (max_norm > 0 && total > max_norm) {
    double scale = max_norm / (total + 1e-6);
    for (const auto& [name, p] : params) {
      if (p.grad().defined()) p.grad().mul_(scale);
    }
  }
  return total;
}

}  // namespace modelgrow
