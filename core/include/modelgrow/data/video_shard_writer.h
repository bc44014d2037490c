// Writes HDF5 video shards (the format is described in video_shard_reader.h and docs/formats.md).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "modelgrow/data/video_shard_reader.h"
#include "modelgrow/sdk/data_pipeline.h"

namespace modelgrow {

struct VideoShardWriterOptions {
  int compression = 0;  // gzip level 0-9 for the videos (0: stored contiguous, fastest)
  bool latent = false;
  std::string source;  // what the samples came from (a pipeline's cache key)
  // Attributes of /text/<name> groups, e.g. {"caption": "detailed", "encoder": "..."}.
  std::map<std::string, std::map<std::string, std::string>> text_attributes;
  // The labels samples' targets index into (the pipeline's label_schema()). When set, the shard
  // stores it and every sample's targets; when not, samples must carry no targets.
  std::optional<LabelSchema> label_schema;
};

// Writes one shard. Videos and text embeddings go to the file as samples are added (nothing
// large is held in memory); Commit() writes the per-sample tables and publishes the file
// atomically (temporary name, fsync, rename). Destroying an uncommitted writer removes the
// temporary file.
class VideoShardWriter {
 public:
  VideoShardWriter(std::filesystem::path path, VideoShardWriterOptions options);
  ~VideoShardWriter();
  VideoShardWriter(const VideoShardWriter&) = delete;
  VideoShardWriter& operator=(const VideoShardWriter&) = delete;

  // InputError when the sample does not fit the shard (no short caption, a video that is not
  // [C, T, H, W], text embeddings whose names or sizes differ from the first sample's, targets
  // outside the label schema).
  void Add(const Sample& sample);
  int64_t size() const;
  void Commit();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace modelgrow
