// A fused CPU attention kernel (forward and backward) for the short sequences of STDiT3 on small
// videos: spatial attention over one frame's patches, temporal attention over a handful of frames,
// cross-attention to a caption. LibTorch 1.13 runs such attention as thousands of tiny batched
// matrix products, each dispatched separately (a `select` per batch entry); this kernel does a
// whole (batch, head) row block in one pass, several times faster on the experiments' shapes.
// Not part of the public API: Attend() (attention.h) decides when to use it.
#pragma once

#include <ATen/core/Tensor.h>

namespace modelgrow::internal {

// Whether the fused kernel handles this call (CPU, fp32, matrices small enough to keep a row of
// scores in cache).
bool FusedCpuAttentionApplies(const at::Tensor& q, const at::Tensor& k);

// softmax(q k^T * scale + mask) v. q: [B, H, N, D]; k, v: [B, H, L, D]; key_mask: [B, L] bool or
// undefined. Every row must have at least one valid key (the caller guarantees it).
at::Tensor FusedCpuAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                             const at::Tensor& key_mask, double scale);

}  // namespace modelgrow::internal
