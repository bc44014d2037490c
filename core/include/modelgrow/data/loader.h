// The host's data loader: batches from any DataPipeline, shuffled with a seed, bucketed by shape,
// prefetched on worker threads, and resumable: its position saves to JSON and a restored loader
// yields exactly the batches the original would have.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "modelgrow/sdk/data_pipeline.h"

namespace modelgrow {

struct LoaderOptions {
  int64_t batch_size = 8;
  uint64_t seed = 0;
  bool shuffle = true;
  bool drop_last = true;  // false: the last batch of an epoch may be smaller
  int workers = 2;        // threads decoding samples ahead of the consumer
  int prefetch_batches = 4;
  // Data parallel: every rank plans the same global batches of `batch_size` and loads only part
  // `shard` of `shards` of each (batch_size must divide evenly; drop_last must be on).
  int shard = 0;
  int shards = 1;
};

struct Batch {
  at::Tensor video;               // [B, C, T, H, W]
  at::Tensor fps;                 // [B]
  int64_t height = 0, width = 0;  // pixel size (shared by the batch: bucketed)
  std::vector<std::map<std::string, std::string>> captions;  // per sample, by kind
  std::vector<nlohmann::json> labels;
  std::vector<std::map<std::string, int64_t>> targets;  // per sample (see Sample::targets)
  std::vector<int64_t> indices;                         // pipeline indices
  std::map<std::string, TextEncoding> text_embeddings;  // stacked, when every sample has them
  // The global number of the first sample: samples are numbered in the order the loader plans
  // them (global batch * batch_size + position), the same on every rank and after a resume.
  int64_t first_sample = 0;
  int64_t size() const { return static_cast<int64_t>(indices.size()); }
};

// Where the loader is: the next batch to yield is batch `batch` of epoch `epoch`.
struct LoaderPosition {
  int64_t epoch = 0;
  int64_t batch = 0;
  nlohmann::json ToJson() const;
  static LoaderPosition FromJson(const nlohmann::json& j);
};

class DataLoader {
 public:
  DataLoader(std::shared_ptr<DataPipeline> pipeline, LoaderOptions options);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // The next batch; epochs follow one another without end (each reshuffled with seed + epoch).
  Batch Next();
  LoaderPosition position() const;
  // Continues from a saved position: the following Next() calls return what the saved loader's
  // would have.
  void Restore(const LoaderPosition& position);
  int64_t batches_per_epoch() const;
  const LoaderOptions& options() const;
  // Samples skipped (SkipSample) so far, and the pipeline's own summary.
  nlohmann::json Stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace modelgrow
