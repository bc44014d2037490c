// Fréchet distance between two feature sets (the statistic of FID/FVD): the analogue of the
// paper's video-quality scores, computed in the attribute classifier's feature space.
#pragma once

#include <ATen/core/Tensor.h>

namespace modelgrow {

// |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2), in float64. a: [N, D], b: [M, D],
// N, M >= 2.
double FrechetDistance(const at::Tensor& a, const at::Tensor& b);

}  // namespace modelgrow
