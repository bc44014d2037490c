// Writes any data pipeline's samples into HDF5 video shards (see video_shard_writer.h), with the
// pipeline's label schema and targets when it declares one, and optionally with text embeddings
// precomputed by text encoders: what `modelgrow dataset export` runs.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "modelgrow/sdk/data_pipeline.h"
#include "modelgrow/sdk/text_encoder.h"
#include "modelgrow/sdk/video_autoencoder.h"

namespace modelgrow {

// Stores encoder(captions[caption]) of every sample as /text/<name>.
struct ExportTextEncoder {
  std::string name;
  std::shared_ptr<TextEncoder> encoder;
  std::string caption = "short";
};

struct ExportProgress {
  int64_t done = 0;  // samples looked at (written + skipped)
  int64_t total = 0;
  int64_t written = 0;
  int64_t skipped = 0;
  int64_t shards = 0;   // shards committed
  int64_t resumed = 0;  // samples a resumed export found done (not counted in the rate)
  double seconds = 0;
};

struct ExportOptions {
  int64_t begin = 0;   // first pipeline index
  int64_t limit = -1;  // samples to look at; -1: to the end of the pipeline
  int compression = 0;
  int workers = 2;  // threads reading samples ahead of the writer
  bool overwrite = false;
  std::vector<ExportTextEncoder> text_encoders;
  int64_t encode_batch = 16;
  // Encodes every video through this VAE (loaded) before it is written: the shards hold latents.
  // Frames whose sides its spatial factor does not divide are cropped or padded (`fit`, see
  // data/fit_frames.h). A sampled encoding of sample i draws from DeriveSeed(seed, {i}), so a
  // resumed export gives the same latents.
  std::shared_ptr<VideoAutoencoder> vae;
  VaeEncodeOptions vae_options;
  std::string fit = "crop";
  nlohmann::json vae_record = nlohmann::json::object();  // {plugin, options}: export.json, shards
  // Continues an export a killed run left in out_dir (its export.progress.json): the finished
  // shards are kept and the rest is written exactly as an uninterrupted export would write it.
  bool resume = false;
  nlohmann::json source = nlohmann::json::object();  // recorded in export.json (plugin, options)
  // Called after every shard and at most every ~2 s in between.
  std::function<void(const ExportProgress&)> progress;
};

struct ExportResult {
  int64_t written = 0;
  int64_t skipped = 0;
  std::vector<int64_t> skipped_indices;
  std::vector<std::filesystem::path> shards;
  double seconds = 0;
  int64_t resumed_at = -1;  // the pipeline index a resumed export continued from; -1: fresh
  nlohmann::json pipeline_summary;
};

// Writes shard-00000.h5, shard-00001.h5, ... of up to `samples_per_shard` samples each into
// `out_dir`, then export.json describing the export. The pipeline must be open (Open()) and the
// text encoders loaded (Load()). Samples the pipeline skips (SkipSample) are counted and left
// out. InputError when out_dir already holds an export and neither `overwrite` nor `resume` is
// on. After every shard, export.progress.json records how far the export got (removed at the end).
ExportResult ExportDataset(DataPipeline& pipeline, const std::filesystem::path& out_dir,
                           int64_t samples_per_shard, const ExportOptions& options = {});

}  // namespace modelgrow
