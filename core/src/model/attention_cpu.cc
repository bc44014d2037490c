#include "attention_cpu.h"

#include <dlfcn.h>

#include <cmath>
#include <limits>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/autograd.h>

namespace modelgrow::internal {

namespace {

// The Fortran BLAS sgemm of the library LibTorch itself links (OpenBLAS on Debian), found at run
// time so nothing here depends on which BLAS that is.
using Sgemm = void (*)(const char*, const char*, const int*, const int*, const int*, const float*,
                       const float*, const int*, const float*, const int*, const float*, float*,
                       const int*);

Sgemm FindSgemm() {
  static Sgemm sgemm = reinterpret_cast<Sgemm>(::dlsym(RTLD_DEFAULT, "sgemm_"));
  return sgemm;
}

// Row-major C[m x n] = alpha * op(A) op(B) + beta * C, op(A) being m x k: the column-major call
// with the operands swapped.
void Gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  const char ta = trans_a ? 'T' : 'N', tb = trans_b ? 'T' : 'N';
  const int im = static_cast<int>(m), in = static_cast<int>(n), ik = static_cast<int>(k);
  const int ilda = static_cast<int>(lda), ildb = static_cast<int>(ldb),
            ildc = static_cast<int>(ldc);
  FindSgemm()(&tb, &ta, &in, &im, &ik, &alpha, b, &ildb, a, &ilda, &beta, c, &ildc);
}

struct Shapes {
  int64_t b, h, n, l, d;
};

Shapes ShapesOf(const at::Tensor& q, const at::Tensor& k) {
  return {q.size(0), q.size(1), q.size(2), k.size(2), q.size(3)};
}

// Per (batch, head): S = scale Q K^T, P = softmax(S masked), O = P V. P is kept for backward.
void Forward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask,
             double scale, at::Tensor& out, at::Tensor& probs) {
  const Shapes s = ShapesOf(q, k);
  const float* qp = q.data_ptr<float>();
  const float* kp = k.data_ptr<float>();
  const float* vp = v.data_ptr<float>();
  const bool* mp = mask.defined() ? mask.data_ptr<bool>() : nullptr;
  float* op = out.data_ptr<float>();
  float* pp = probs.data_ptr<float>();
  at::parallel_for(0, s.b * s.h, 1, [&](int64_t begin, int64_t end) {
    for (int64_t bh = begin; bh < end; ++bh) {
      const bool* mb = mp ? mp + (bh / s.h) * s.l : nullptr;
      float* p = pp + bh * s.n * s.l;
      Gemm(false, true, s.n, s.l, s.d, static_cast<float>(scale), qp + bh * s.n * s.d, s.d,
           kp + bh * s.l * s.d, s.d, 0.0f, p, s.l);
      for (int64_t i = 0; i < s.n; ++i) {
        float* row = p + i * s.l;
        if (mb) {
          for (int64_t j = 0; j < s.l; ++j) {
            if (!mb[j]) row[j] = -std::numeric_limits<float>::infinity();
          }
        }
        float max = row[0];
        for (int64_t j = 1; j < s.l; ++j) max = std::max(max, row[j]);
        float sum = 0;
        for (int64_t j = 0; j < s.l; ++j) {
          row[j] = std::exp(row[j] - max);
          sum += row[j];
        }
        const float inv = 1.0f / sum;
        for (int64_t j = 0; j < s.l; ++j) row[j] *= inv;
      }
      Gemm(false, false, s.n, s.d, s.l, 1.0f, p, s.l, vp + bh * s.l * s.d, s.d, 0.0f,
           op + bh * s.n * s.d, s.d);
    }
  });
}

// dV = P^T dO; dP = dO V^T; dS = P (dP - rowsum(P dP)); dQ = scale dS K; dK = scale dS^T Q.
void Backward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
              const at::Tensor& probs, const at::Tensor& grad_out, double scale, at::Tensor& dq,
              at::Tensor& dk, at::Tensor& dv) {
  const Shapes s = ShapesOf(q, k);
  const float* qp = q.data_ptr<float>();
  const float* kp = k.data_ptr<float>();
  const float* vp = v.data_ptr<float>();
  const float* pp = probs.data_ptr<float>();
  const float* gp = grad_out.data_ptr<float>();
  float* dqp = dq.data_ptr<float>();
  float* dkp = dk.data_ptr<float>();
  float* dvp = dv.data_ptr<float>();
  const float fscale = static_cast<float>(scale);
  at::parallel_for(0, s.b * s.h, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> ds(static_cast<size_t>(s.n * s.l));
    for (int64_t bh = begin; bh < end; ++bh) {
      const float* p = pp + bh * s.n * s.l;
      const float* g = gp + bh * s.n * s.d;
      Gemm(true, false, s.l, s.d, s.n, 1.0f, p, s.l, g, s.d, 0.0f, dvp + bh * s.l * s.d, s.d);
      Gemm(false, true, s.n, s.l, s.d, 1.0f, g, s.d, vp + bh * s.l * s.d, s.d, 0.0f, ds.data(),
           s.l);
      for (int64_t i = 0; i < s.n; ++i) {
        const float* prow = p + i * s.l;
        float* drow = ds.data() + i * s.l;
        float dot = 0;
        for (int64_t j = 0; j < s.l; ++j) dot += prow[j] * drow[j];
        for (int64_t j = 0; j < s.l; ++j) drow[j] = prow[j] * (drow[j] - dot);
      }
      Gemm(false, false, s.n, s.d, s.l, fscale, ds.data(), s.l, kp + bh * s.l * s.d, s.d, 0.0f,
           dqp + bh * s.n * s.d, s.d);
      Gemm(true, false, s.l, s.d, s.n, fscale, ds.data(), s.l, qp + bh * s.n * s.d, s.d, 0.0f,
           dkp + bh * s.l * s.d, s.d);
    }
  });
}

struct FusedAttentionFunction : torch::autograd::Function<FusedAttentionFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& q_in,
                            const at::Tensor& k_in, const at::Tensor& v_in,
                            const c10::optional<at::Tensor>& mask_in, double scale) {
    at::Tensor q = q_in.contiguous(), k = k_in.contiguous(), v = v_in.contiguous();
    // The mask travels as an optional: an undefined tensor cannot be an autograd input.
    at::Tensor mask =
        mask_in && mask_in->defined() ? mask_in->to(at::kBool).contiguous() : at::Tensor();
    const Shapes s = ShapesOf(q, k);
    at::Tensor out = at::empty({s.b, s.h, s.n, s.d}, q.options());
    at::Tensor probs = at::empty({s.b, s.h, s.n, s.l}, q.options());
    Forward(q, k, v, mask, scale, out, probs);
    ctx->save_for_backward({q, k, v, probs});
    ctx->saved_data["scale"] = scale;
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor &q = saved[0], &k = saved[1], &v = saved[2], &probs = saved[3];
    at::Tensor dq = at::empty_like(q), dk = at::empty_like(k), dv = at::empty_like(v);
    Backward(q, k, v, probs, grads[0].contiguous(), ctx->saved_data["scale"].toDouble(), dq, dk,
             dv);
    return {dq, dk, dv, at::Tensor(), at::Tensor()};
  }
};

}  // namespace

bool FusedCpuAttentionApplies(const at::Tensor& q, const at::Tensor& k) {
  if (!q.device().is_cpu() || q.scalar_type() != at::kFloat || k.scalar_type() != at::kFloat)
    return false;
  if (FindSgemm() == nullptr) return false;
  // Beyond this a row of scores no longer fits in cache and BLAS products win.
  const int64_t n = q.size(2), l = k.size(2), d = q.size(3);
  const int64_t probs_bytes = q.size(0) * q.size(1) * n * l * 4;
  return l <= 1024 && d <= 256 && probs_bytes <= (512LL << 20);
}

at::Tensor FusedCpuAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                             const at::Tensor& key_mask, double scale) {
  c10::optional<at::Tensor> mask;
  if (key_mask.defined()) mask = key_mask;
  return FusedAttentionFunction::apply(q, k, v, mask, scale);
}

}  // namespace modelgrow::internal
