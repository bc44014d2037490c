// Reads HDF5 video shards: the file format `modelgrow dataset export` writes and the `hdf5` data
// pipeline reads (schema in docs/formats.md; h5py reads and writes it).
//
//   /                       attrs: format = "modelgrow.video_shard", format_version = 1,
//                                  latent (0/1), source, created,
//                                  label_schema (JSON LabelSchema; optional)
//   /videos/<i>             float [C, T, H, W], one dataset per sample i = 0..N-1
//   /captions/short         string [N] (variable-length UTF-8); other kinds ("detailed") optional
//   /fps                    float [N]
//   /height, /width         integer [N]
//   /labels                 string [N], JSON (optional)
//   /targets                integer [N, K]: class index per category of label_schema, in name
//                           order, -1 where the video does not show it (with label_schema only)
//   /index                  integer [N], the sample's index in the pipeline it came from (optional)
//   /text/<name>/embedding  float [N, L, D] (optional, any number of names)
//   /text/<name>/mask       integer or bool [N, L] (optional; absent: every token valid)
//
// Reading one sample reads its own datasets only, never the whole shard. Plugins reach this
// header through modelgrow/sdk/video_shards.h, so it includes SDK headers only.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "modelgrow/sdk/data_pipeline.h"

namespace modelgrow {

inline constexpr char kVideoShardFormat[] = "modelgrow.video_shard";
// Version 1 throughout: label_schema and /targets were added without one, because a reader that
// does not know them ignores them and reads everything else unchanged.
inline constexpr int64_t kVideoShardVersion = 1;

// Reads one shard. Open() checks the whole schema (every dataset's presence, type and shape, and
// every target against the label schema), so a bad file fails at once with its path and the
// dataset inside it; Read() is thread-safe.
class VideoShardReader {
 public:
  static std::shared_ptr<VideoShardReader> Open(const std::filesystem::path& file);
  ~VideoShardReader();
  VideoShardReader(const VideoShardReader&) = delete;
  VideoShardReader& operator=(const VideoShardReader&) = delete;

  const std::filesystem::path& file() const;
  int64_t size() const;
  bool latent() const;
  std::array<int64_t, 4> Shape(int64_t i) const;  // of /videos/<i>
  std::vector<std::string> caption_kinds() const;
  std::vector<std::string> text_names() const;
  bool has_labels() const;
  // The labels the shard's targets index into (root attribute label_schema); nullopt: none.
  const std::optional<LabelSchema>& label_schema() const;
  // Root and /text/<name> attributes as JSON, for `modelgrow dataset info`.
  nlohmann::json Describe() const;

  // Sample i, with its targets; its `index` is i (callers offset it). Text embeddings are
  // [1, L, D] and [1, L].
  Sample Read(int64_t i, bool with_text_embeddings = true) const;

 private:
  VideoShardReader();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace modelgrow
