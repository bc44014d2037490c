// The one fake data pipeline of the tests: a bright bar moving across a dark frame. Its class
// (0-3) sets the direction, is named in both captions and is declared as a label, so training,
// evaluation and the attribute classifier all work on it in milliseconds. tests/fakes/plugins.cc
// exports it as the `test_frames` plugin for tests that go through the CLI.
#pragma once

#include <cstdint>
#include <string>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "modelgrow/sdk/content_hash.h"
#include "modelgrow/sdk/data_pipeline.h"

namespace modelgrow::testing {

class MovingBars : public DataPipeline {
 public:
  struct Settings {
    int64_t size = 16;
    int64_t frames = 4;
    int64_t height = 8;
    int64_t width = 8;
    int64_t seed = 0;
    bool heldout = false;
    bool detailed = true;  // false: short captions only
    // A file the pipeline "reads" (stands for a data set's files): its fingerprint is part of
    // CacheKey(), so tests can change what a pipeline reads without changing its options.
    std::string source_file;
  };

  explicit MovingBars(Settings s) : s_(s) {}
  explicit MovingBars(const PluginContext& c)
      : MovingBars(
            Settings{c.options.Int("size", 16, {.min = 1}), c.options.Int("frames", 4, {.min = 1}),
                     c.options.Int("height", 8, {.min = 2}), c.options.Int("width", 8, {.min = 2}),
                     c.options.Int("seed", 0, {.min = 0}),
                     c.options.Choice("split", "train", {"train", "heldout"}) == "heldout", true,
                     c.options.String("source_file", "")}) {}

  static constexpr const char* kDirections[] = {"left", "right", "up", "down"};

  void Open() override { ++opens; }
  int64_t size() const override { return s_.size; }

  int64_t ClassOf(int64_t index) const { return (index * 7 + s_.seed + (s_.heldout ? 1 : 0)) % 4; }

  Sample Get(int64_t index) override {
    const int64_t cls = ClassOf(index);
    at::Tensor video = at::full({3, s_.frames, s_.height, s_.width}, -1.0f);
    for (int64_t t = 0; t < s_.frames; ++t) {
      int64_t pos = t % std::max<int64_t>(1, cls < 2 ? s_.width : s_.height);
      if (cls == 0) pos = s_.width - 1 - pos;
      if (cls == 2) pos = s_.height - 1 - pos;
      if (cls < 2) {
        video.select(1, t).select(2, pos).fill_(1.0f);
      } else {
        video.select(1, t).select(1, pos).fill_(1.0f);
      }
    }
    Sample s;
    s.video = video;
    s.captions["short"] = fmt::format("a bar moves {}", kDirections[cls]);
    if (s_.detailed) {
      s.captions["detailed"] = fmt::format(
          "a bright white bar on a black background moves {} steadily", kDirections[cls]);
    }
    s.height = s_.height;
    s.width = s_.width;
    s.fps = 8;
    s.index = index;
    s.labels = {{"class", cls}};
    s.targets["direction"] = cls;
    return s;
  }

  std::optional<LabelSchema> label_schema() const override {
    LabelSchema schema;
    schema.classes["direction"] = {"left", "right", "up", "down"};
    schema.stated_by["short"] = {"direction"};
    schema.stated_by["detailed"] = {"direction"};
    return schema;
  }

  std::string CacheKey() const override {
    return fmt::format("moving-bars/{}/{}/{}x{}x{}/{}/{}", s_.size, s_.seed, s_.frames, s_.height,
                       s_.width, s_.heldout,
                       s_.source_file.empty() ? "" : FileFingerprint(s_.source_file));
  }

  int64_t opens = 0;

 private:
  Settings s_;
};

}  // namespace modelgrow::testing
