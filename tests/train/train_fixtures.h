// In-process pieces for trainer tests: a tiny STDiT3, a deterministic data pipeline and a hashed
// word encoder, so Train() runs in milliseconds without plugins.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <sstream>
#include <string>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include "modelgrow/data/loader.h"
#include "modelgrow/model/config.h"
#include "modelgrow/model/stdit3.h"
#include "modelgrow/sdk/data_pipeline.h"
#include "modelgrow/sdk/text_encoder.h"
#include "modelgrow/text/text_cache.h"
#include "modelgrow/train/trainer.h"

namespace modelgrow::testing {

// Noisy gradients of a fixed pattern per index; captions name the index's class.
class TinyVideos : public DataPipeline {
 public:
  explicit TinyVideos(int64_t size = 32, bool with_detailed = true)
      : size_(size), with_detailed_(with_detailed) {}
  int64_t size() const override { return size_; }
  Sample Get(int64_t index) override {
    at::Generator g = at::detail::createCPUGenerator(1000 + static_cast<uint64_t>(index));
    Sample s;
    s.video = (at::rand({3, 2, 8, 8}, g, at::TensorOptions()) * 2 - 1).clamp(-1, 1);
    s.captions["short"] = fmt::format("class {} video", index % 4);
    if (with_detailed_) s.captions["detailed"] = fmt::format("a long video of class {}", index % 4);
    s.fps = 8;
    s.height = 8;
    s.width = 8;
    s.index = index;
    return s;
  }
  std::string CacheKey() const override { return fmt::format("tiny-videos/{}", size_); }

 private:
  int64_t size_;
  bool with_detailed_;
};

// Each word maps to a fixed pseudo-random vector.
class TinyWords : public TextEncoder {
 public:
  explicit TinyWords(int64_t dim = 16, int64_t max_length = 6)
      : dim_(dim), max_length_(max_length) {}
  int64_t dim() const override { return dim_; }
  int64_t max_length() const override { return max_length_; }
  TextEncoding Encode(const std::vector<std::string>& prompts) override {
    const int64_t b = static_cast<int64_t>(prompts.size());
    TextEncoding out{at::zeros({b, max_length_, dim_}), at::zeros({b, max_length_}, at::kBool)};
    for (int64_t i = 0; i < b; ++i) {
      std::istringstream words(prompts[i]);
      std::string w;
      for (int64_t l = 0; l < max_length_ && words >> w; ++l) {
        at::Generator g = at::detail::createCPUGenerator(std::hash<std::string>{}(w));
        out.embedding[i][l] = at::randn({dim_}, g, at::TensorOptions());
        out.mask[i][l] = true;
      }
    }
    return out;
  }
  std::string CacheKey() const override {
    return fmt::format("tiny-words/{}/{}", dim_, max_length_);
  }

 private:
  int64_t dim_, max_length_;
};

inline STDiT3Config TinyConfig() {
  STDiT3Config c = PresetConfig("STDiT3-T/2");
  c.hidden_size = 32;
  c.depth = 1;
  c.num_heads = 2;
  c.caption_channels = 16;
  c.model_max_length = 6;
  c.condition0_name = "words";
  return c;
}

inline STDiT3 TinyModel(uint64_t seed = 0) {
  torch::manual_seed(seed);
  return STDiT3(TinyConfig());
}

inline TrainSpec TinySpec() {
  TrainSpec s;
  s.data = "tiny";
  s.steps = 4;
  s.batch_size = 4;
  s.caption_dropout = 0;
  s.log_every = 1;
  s.workers = 1;
  s.optim.lr = 1e-3;
  return s;
}

// A model, a loader and an encoder wired into a TrainContext writing into `dir`.
struct TinyTraining {
  STDiT3 model;
  std::unique_ptr<DataLoader> loader;
  std::unique_ptr<TextEncoderCache> text;
  TrainContext context;

  TinyTraining(const std::filesystem::path& dir, const TrainSpec& spec, uint64_t seed = 0,
               std::shared_ptr<DataPipeline> data = std::make_shared<TinyVideos>())
      : model(TinyModel(seed)) {
    LoaderOptions lo;
    lo.batch_size = spec.batch_size;
    lo.seed = seed;
    lo.workers = spec.workers;
    loader = std::make_unique<DataLoader>(std::move(data), lo);
    text = std::make_unique<TextEncoderCache>(std::make_shared<TinyWords>());
    context.model = model.get();
    context.loader = loader.get();
    context.text = {text.get()};
    context.spec = spec;
    context.seed = seed;
    context.dir = dir;
  }
  TrainResult Run() { return Train(context); }
};

}  // namespace modelgrow::testing
