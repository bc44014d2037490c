#include "modelgrow/eval/frechet.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "modelgrow/sdk/errors.h"

namespace modelgrow {

namespace {

at::Tensor Covariance(const at::Tensor& x, const at::Tensor& mean) {
  at::Tensor centred = x - mean;
  return centred.t().mm(centred) / static_cast<double>(x.size(0) - 1);
}

// The square root of a symmetric positive semi-definite matrix (negative eigenvalues from
// rounding are clamped to zero).
at::Tensor SqrtPsd(const at::Tensor& m) {
  auto [values, vectors] = at::linalg_eigh(m);
  return vectors.mm(at::diag(values.clamp_min(0).sqrt())).mm(vectors.t());
}

}  // namespace

double FrechetDistance(const at::Tensor& a_in, const at::Tensor& b_in) {
  if (a_in.dim() != 2 || b_in.dim() != 2 || a_in.size(1) != b_in.size(1) || a_in.size(0) < 2 ||
      b_in.size(0) < 2) {
    throw InputError("Fréchet distance needs two [N >= 2, D] feature sets of the same width");
  }
  at::Tensor a = a_in.to(at::kCPU, at::kDouble), b = b_in.to(at::kCPU, at::kDouble);
  at::Tensor mu_a = a.mean(0), mu_b = b.mean(0);
  at::Tensor s_a = Covariance(a, mu_a), s_b = Covariance(b, mu_b);
  at::Tensor root_a = SqrtPsd(s_a);
  at::Tensor cross = SqrtPsd(root_a.mm(s_b).mm(root_a));
  double d = (mu_a - mu_b).pow(2).sum().item<double>() +
             (s_a.trace() + s_b.trace() - 2 * cross.trace()).item<double>();
  return std::max(0.0, d);
}

}  // namespace modelgrow
