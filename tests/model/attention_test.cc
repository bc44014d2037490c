// Attend() (model/attention.h) against attention written out as products and a softmax, values and
// gradients: on CPU in fp32 it runs the fused kernel (model/attention_cpu.cc), whose backward is
// written by hand, and the parity tests against Open-Sora check only the forward pass.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "modelgrow/model/attention.h"
#include "test_util.h"

namespace modelgrow {
namespace {

using testing::MaxAbsError;

torch::Tensor Reference(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& key_mask) {
  torch::Tensor scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(q.size(-1));
  if (key_mask.defined()) {
    scores = scores.masked_fill(key_mask.logical_not().view({q.size(0), 1, 1, k.size(2)}),
                                -std::numeric_limits<float>::infinity());
  }
  return torch::matmul(scores.softmax(-1), v);
}

struct Grads {
  torch::Tensor out, dq, dk, dv;
};

template <typename F>
Grads Run(F attend, const torch::Tensor& q0, const torch::Tensor& k0, const torch::Tensor& v0,
          const torch::Tensor& upstream) {
  torch::Tensor q = q0.clone().requires_grad_(), k = k0.clone().requires_grad_(),
                v = v0.clone().requires_grad_();
  torch::Tensor out = attend(q, k, v);
  (out * upstream).sum().backward();
  return {out.detach(), q.grad(), k.grad(), v.grad()};
}

void ExpectSameAttention(int64_t batch, int64_t heads, int64_t queries, int64_t keys, int64_t dim,
                         const torch::Tensor& key_mask) {
  torch::manual_seed(3);
  // Keys and values as a transposed view, as cross-attention makes them.
  const torch::Tensor q = torch::randn({batch, heads, queries, dim});
  const torch::Tensor k = torch::randn({batch, keys, heads, dim}).transpose(1, 2) * 2;
  const torch::Tensor v = torch::randn({batch, keys, heads, dim}).transpose(1, 2);
  const torch::Tensor upstream = torch::randn({batch, heads, queries, dim});
  const Grads fused =
      Run([&](auto q, auto k, auto v) { return Attend(q, k, v, key_mask); }, q, k, v, upstream);
  const Grads reference =
      Run([&](auto q, auto k, auto v) { return Reference(q, k, v, key_mask); }, q, k, v, upstream);
  EXPECT_LT(MaxAbsError(fused.out, reference.out), 1e-5);
  EXPECT_LT(MaxAbsError(fused.dq, reference.dq), 1e-4);
  EXPECT_LT(MaxAbsError(fused.dk, reference.dk), 1e-4);
  EXPECT_LT(MaxAbsError(fused.dv, reference.dv), 1e-5);
  // The gradients are not trivially small: a kernel that dropped one would fail above.
  EXPECT_GT(reference.dk.abs().max().item<double>(), 0.1);
}

TEST(Attention, SelfAttentionMatchesProductsAndSoftmaxWithGradients) {
  ExpectSameAttention(3, 4, 16, 16, 16, torch::Tensor());
}

TEST(Attention, MaskedCrossAttentionMatchesProductsAndSoftmaxWithGradients) {
  // A caption of 6 tokens in a window of 16, one of 16, one of 1.
  torch::Tensor mask = torch::zeros({3, 16}, torch::kBool);
  mask[0].slice(0, 0, 6) = true;
  mask[1] = true;
  mask[2][0] = true;
  ExpectSameAttention(3, 4, 64, 16, 16, mask);
}

}  // namespace
}  // namespace modelgrow
