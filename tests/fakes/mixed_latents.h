// A fake data pipeline for shard and loader tests: latents of two shapes, a sample that must be
// skipped, one without labels, and detailed captions on odd samples only.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include <fmt/format.h>
#include <torch/torch.h>

#include "modelgrow/sdk/data_pipeline.h"

namespace modelgrow::testing {

class MixedLatents : public DataPipeline {
 public:
  void Open() override {}
  int64_t size() const override { return 9; }
  Sample Get(int64_t index) override {
    if (index == 4) throw SkipSample("corrupt");
    Sample s;
    auto shape = *ShapeOf(index);
    int64_t numel = shape[0] * shape[1] * shape[2] * shape[3];
    s.video = torch::arange(numel, torch::kFloat)
                  .reshape({shape[0], shape[1], shape[2], shape[3]})
                  .mul(0.37f * (index + 1))
                  .sin();
    s.captions["short"] = fmt::format("clip {}", index);
    if (index % 2) s.captions["detailed"] = fmt::format("the detailed caption of clip {}", index);
    s.fps = 24;
    s.height = shape[2] * 8;
    s.width = shape[3] * 8;
    if (index != 0) s.labels = {{"n", index}};
    return s;
  }
  std::optional<std::array<int64_t, 4>> ShapeOf(int64_t index) const override {
    return index % 3 == 0 ? std::array<int64_t, 4>{4, 2, 3, 5} : std::array<int64_t, 4>{4, 3, 2, 2};
  }
  bool latent() const override { return true; }
  std::string CacheKey() const override { return "mixed"; }
};

}  // namespace modelgrow::testing
