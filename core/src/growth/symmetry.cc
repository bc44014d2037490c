#include "modelgrow/growth/symmetry.h"

#include <map>

#include <torch/torch.h>

namespace modelgrow {

namespace {

// Rows of `units` [N, D] that have another row with cosine similarity >= threshold.
int64_t NearIdentical(const torch::Tensor& units, double threshold) {
  if (units.size(0) < 2) return 0;
  torch::Tensor u = units.to(torch::kFloat);
  torch::Tensor norm = u.norm(2, 1, /*keepdim=*/true);
  torch::Tensor nonzero = norm.squeeze(1) > 0;
  torch::Tensor cos = u.div(norm.clamp_min(1e-30)).matmul(u.div(norm.clamp_min(1e-30)).t());
  cos.fill_diagonal_(-2);
  torch::Tensor partner = std::get<0>(cos.max(1)) >= threshold;
  return partner.logical_and(nonzero).sum().item<int64_t>();
}

}  // namespace

nlohmann::json SymmetryStats::ToJson() const {
  return {{"threshold", threshold},
          {"mlp_units", mlp_units},
          {"mlp_near_identical", mlp_near_identical},
          {"heads", heads},
          {"heads_near_identical", heads_near_identical},
          {"blocks", blocks},
          {"blocks_near_identical", blocks_near_identical}};
}

SymmetryStats MeasureSymmetry(const STDiT3Impl& model, double threshold) {
  torch::NoGradGuard no_grad;
  SymmetryStats s;
  s.threshold = threshold;
  const int64_t head_dim = model.config().resolved_head_dim();
  for (const auto* list : {&model.spatial_blocks(), &model.temporal_blocks()}) {
    std::vector<torch::Tensor> blocks;
    for (const STDiT3Block& block : *list) {
      const LinearImpl& fc1 = *block->mlp->fc1;
      const LinearImpl& fc2 = *block->mlp->fc2;
      torch::Tensor mlp = torch::cat({fc1.weight, fc1.bias.unsqueeze(1), fc2.weight.t()}, 1);
      s.mlp_units += mlp.size(0);
      s.mlp_near_identical += NearIdentical(mlp, threshold);

      const LinearImpl& qkv = *block->attn->qkv;
      const LinearImpl& proj = *block->attn->proj;
      const int64_t heads = qkv.out_features() / (3 * head_dim);
      // [3, heads, head_dim, C] -> [heads, 3 * head_dim * C], and the biases alike.
      torch::Tensor rows = qkv.weight.view({3, heads, head_dim, -1}).permute({1, 0, 2, 3});
      std::vector<torch::Tensor> parts{rows.reshape({heads, -1})};
      if (qkv.bias.defined()) {
        parts.push_back(
            qkv.bias.view({3, heads, head_dim}).permute({1, 0, 2}).reshape({heads, -1}));
      }
      parts.push_back(proj.weight.view({proj.out_features(), heads, head_dim})
                          .permute({1, 0, 2})
                          .reshape({heads, -1}));
      s.heads += heads;
      s.heads_near_identical += NearIdentical(torch::cat(parts, 1), threshold);

      std::vector<torch::Tensor> flat;
      for (const auto& p : block->parameters()) flat.push_back(p.reshape({-1}));
      blocks.push_back(torch::cat(flat));
    }
    s.blocks += static_cast<int64_t>(blocks.size());
    // Blocks compare with blocks of the same size (LoRA adapters may sit on some only).
    std::map<int64_t, std::vector<torch::Tensor>> by_size;
    for (const torch::Tensor& b : blocks) by_size[b.numel()].push_back(b);
    for (const auto& [size, group] : by_size) {
      s.blocks_near_identical += NearIdentical(torch::stack(group), threshold);
    }
  }
  return s;
}

}  // namespace modelgrow
