// In-process pieces for trainer tests: a tiny STDiT3 and the shared fakes (moving bars, hashed
// words), so Train() runs in milliseconds without plugins.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <sstream>
#include <string>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include "fakes/hashed_words.h"
#include "fakes/moving_bars.h"
#include "modelgrow/data/loader.h"
#include "modelgrow/model/config.h"
#include "modelgrow/model/stdit3.h"
#include "modelgrow/sdk/data_pipeline.h"
#include "modelgrow/sdk/text_encoder.h"
#include "modelgrow/text/text_cache.h"
#include "modelgrow/train/trainer.h"

namespace modelgrow::testing {

// Two-frame 8x8 moving bars: the trainer tests' data (tests/fakes).
inline std::shared_ptr<MovingBars> TinyVideos(int64_t size = 32, bool detailed = true) {
  MovingBars::Settings s;
  s.size = size;
  s.frames = 2;
  s.detailed = detailed;
  return std::make_shared<MovingBars>(s);
}

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
               std::shared_ptr<DataPipeline> data = TinyVideos())
      : model(TinyModel(seed)) {
    LoaderOptions lo;
    lo.batch_size = spec.batch_size;
    lo.seed = seed;
    lo.workers = spec.workers;
    loader = std::make_unique<DataLoader>(std::move(data), lo);
    text = std::make_unique<TextEncoderCache>(std::make_shared<HashedWords>());
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
