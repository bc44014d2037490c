// A fake data pipeline for loader tests: sample i is a video filled with i, so every batch says
// which samples it holds. Indices in `bad` are unusable (SkipSample); with `two_shapes` every
// third index has another size, so the loader has to bucket.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include <torch/torch.h>

#include "modelgrow/sdk/data_pipeline.h"

namespace modelgrow::testing {

class IndexedVideos : public DataPipeline {
 public:
  explicit IndexedVideos(int64_t n, std::set<int64_t> bad = {}, bool two_shapes = false,
                         bool report_shapes = true)
      : n_(n), bad_(std::move(bad)), two_shapes_(two_shapes), report_shapes_(report_shapes) {}
  void Open() override {}
  int64_t size() const override { return n_; }
  Sample Get(int64_t index) override {
    if (bad_.count(index)) throw SkipSample("sample " + std::to_string(index) + " is corrupt");
    Sample s;
    auto shape = Shape(index);
    s.video = torch::full({shape[0], shape[1], shape[2], shape[3]}, static_cast<float>(index));
    s.captions["short"] = "sample " + std::to_string(index);
    s.fps = 8 + index % 3;
    s.height = shape[2];
    s.width = shape[3];
    s.labels = {{"i", index}};
    TextEncoding t;
    t.embedding = torch::full({1, 3, 2}, static_cast<float>(index));
    t.mask = torch::tensor({{true, true, index % 2 == 0}});
    s.text_embeddings["enc"] = t;
    return s;
  }
  std::string CacheKey() const override { return "counting"; }
  std::optional<std::array<int64_t, 4>> ShapeOf(int64_t index) const override {
    if (!report_shapes_) return std::nullopt;
    return Shape(index);
  }
  nlohmann::json Summary() const override { return {{"bad", bad_.size()}}; }

 private:
  std::array<int64_t, 4> Shape(int64_t index) const {
    if (two_shapes_ && index % 3 == 0) return {1, 2, 4, 4};
    return {1, 2, 2, 2};
  }
  int64_t n_;
  std::set<int64_t> bad_;
  bool two_shapes_;
  bool report_shapes_;
};

}  // namespace modelgrow::testing
