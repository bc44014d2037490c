// A fake data pipeline with a label schema whose categories a video shows only sometimes: every
// sample shows a colour (index % 3); only even samples show a count.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include <fmt/format.h>
#include <torch/torch.h>

#include "modelgrow/sdk/data_pipeline.h"

namespace modelgrow::testing {

class LabelledPixels : public DataPipeline {
 public:
  static LabelSchema Schema() {
    LabelSchema schema;
    schema.classes = {{"color", {"red", "green", "blue"}}, {"count", {"one", "two"}}};
    schema.stated_by = {{"short", {"color"}}, {"detailed", {"color", "count"}}};
    return schema;
  }
  void Open() override {}
  int64_t size() const override { return 7; }
  Sample Get(int64_t index) override {
    Sample s;
    s.video = torch::full({3, 2, 4, 4}, -1.0f + 0.25f * static_cast<float>(index));
    s.captions["short"] = fmt::format("a {} thing", Schema().classes["color"][index % 3]);
    s.fps = 8;
    s.height = s.width = 4;
    s.labels = {{"clip", index}};
    s.targets["color"] = index % 3;
    if (index % 2 == 0) s.targets["count"] = (index / 2) % 2;
    return s;
  }
  std::optional<LabelSchema> label_schema() const override { return Schema(); }
  std::string CacheKey() const override { return "labelled"; }
};

}  // namespace modelgrow::testing
