// A cheap deterministic data pipeline for experiment-engine tests: a bright bar moving across a
// dark frame; its class (0-3) sets the direction and is named in the captions.
#include <ATen/ATen.h>
#include <fmt/format.h>

#include "modelgrow/sdk/data_pipeline.h"

namespace {

const char* kDirections[] = {"left", "right", "up", "down"};

class TestFrames : public modelgrow::DataPipeline {
 public:
  explicit TestFrames(const modelgrow::PluginContext& c)
      : size_(c.options.Int("size", 16, {.min = 1})),
        frames_(c.options.Int("frames", 4, {.min = 1})),
        height_(c.options.Int("height", 8, {.min = 2})),
        width_(c.options.Int("width", 8, {.min = 2})),
        seed_(c.options.Int("seed", 0, {.min = 0})),
        split_(c.options.Choice("split", "train", {"train", "heldout"})) {}

  int64_t size() const override { return size_; }

  modelgrow::Sample Get(int64_t index) override {
    int64_t cls = (index * 7 + seed_ + (split_ == "heldout" ? 1 : 0)) % 4;
    at::Tensor video = at::full({3, frames_, height_, width_}, -1.0f);
    for (int64_t t = 0; t < frames_; ++t) {
      int64_t pos = t % std::max<int64_t>(1, cls < 2 ? width_ : height_);
      if (cls == 0) pos = width_ - 1 - pos;
      if (cls == 2) pos = height_ - 1 - pos;
      if (cls < 2) {
        video.select(1, t).select(2, pos).fill_(1.0f);
      } else {
        video.select(1, t).select(1, pos).fill_(1.0f);
      }
    }
    modelgrow::Sample s;
    s.video = video;
    s.captions["short"] = fmt::format("a bar moves {}", kDirections[cls]);
    s.captions["detailed"] =
        fmt::format("a bright white bar on a black background moves {} steadily", kDirections[cls]);
    s.height = height_;
    s.width = width_;
    s.fps = 8;
    s.index = index;
    s.labels = {{"class", cls}};
    return s;
  }

  std::string CacheKey() const override {
    return fmt::format("test_frames/{}/{}/{}x{}x{}/{}", size_, seed_, frames_, height_, width_,
                       split_);
  }

 private:
  int64_t size_, frames_, height_, width_, seed_;
  std::string split_;
};

}  // namespace

MODELGROW_DATA_PIPELINE(TestFrames, "test_frames", "0.1.0", "moving bars (tests only)");
