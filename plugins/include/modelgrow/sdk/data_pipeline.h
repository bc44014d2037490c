// The data-pipeline interface: a deterministic, indexable source of video samples. The host's
// loader does batching, shuffling, bucketing, prefetching and resuming on top of it.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "modelgrow/base/errors.h"
#include "modelgrow/sdk/plugin.h"
#include "modelgrow/sdk/text_encoder.h"

namespace modelgrow {

// Thrown by Get() for a sample that cannot be used (a corrupt video, too few frames) when the
// pipeline is configured to skip such samples: the loader counts it and takes the next one.
class SkipSample : public InputError {
 public:
  using InputError::InputError;
};

struct Sample {
  at::Tensor video;  // [C, T, H, W] float32: pixels in [-1, 1], or latents
  // Captions by kind: "short" always; "detailed" where the source has one.
  std::map<std::string, std::string> captions;
  double fps = 24;
  int64_t height = 0;  // pixel size of the video (for latents: of the decoded video)
  int64_t width = 0;
  int64_t index = 0;      // index in the pipeline
  nlohmann::json labels;  // ground truth where known (the synthetic world's objects, ...)
  // Text embeddings that came with the data (e.g. an HDF5 shard), by encoder name.
  std::map<std::string, TextEncoding> text_embeddings;
};

class DataPipeline {
 public:
  virtual ~DataPipeline() = default;
  virtual int64_t size() const = 0;
  // Sample `index` (0 <= index < size()). Must be safe to call from several threads at once and
  // return the same sample every time. Throws InputError for unusable data it cannot skip.
  virtual Sample Get(int64_t index) = 0;
  // Identifies the data and settings (for caches and stage hashes).
  virtual std::string CacheKey() const = 0;
  // Whether samples are latents (true) or pixels in [-1, 1] (false).
  virtual bool latent() const { return false; }
  // Counts worth reporting at the end of a run (skipped files, ...).
  virtual nlohmann::json Summary() const { return nlohmann::json::object(); }
  // The [C, T, H, W] shape Get(index).video will have, known without decoding, so the loader can
  // bucket samples of different shapes. nullopt (the default): every sample has the same shape.
  // Must be cheap: the loader asks for every index once.
  virtual std::optional<std::array<int64_t, 4>> ShapeOf(int64_t index) const {
    (void)index;
    return std::nullopt;
  }
};

}  // namespace modelgrow
