// HDF5 video shards: the file format `modelgrow dataset export` writes and the `hdf5` data
// pipeline reads (schema in docs/formats.md; h5py reads and writes it).
//
//   /                       attrs: format = "modelgrow.video_shard", format_version = 1,
//                                  latent (0/1), source, created
//   /videos/<i>             float [C, T, H, W], one dataset per sample i = 0..N-1
//   /captions/short         string [N] (variable-length UTF-8); other kinds ("detailed") optional
//   /fps                    float [N]
//   /height, /width         integer [N]
//   /labels                 string [N], JSON (optional)
//   /index                  integer [N], the sample's index in the pipeline it came from (optional)
//   /text/<name>/embedding  float [N, L, D] (optional, any number of names)
//   /text/<name>/mask       integer or bool [N, L] (optional; absent: every token valid)
//
// Reading one sample reads its own datasets only, never the whole shard.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "modelgrow/sdk/data_pipeline.h"

namespace modelgrow {

inline constexpr char kVideoShardFormat[] = "modelgrow.video_shard";
inline constexpr int64_t kVideoShardVersion = 1;

struct VideoShardWriterOptions {
  int compression = 0;  // gzip level 0-9 for the videos (0: stored contiguous, fastest)
  bool latent = false;
  std::string source;  // what the samples came from (a pipeline's cache key)
  // Attributes of /text/<name> groups, e.g. {"caption": "detailed", "encoder": "..."}.
  std::map<std::string, std::map<std::string, std::string>> text_attributes;
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
  // [C, T, H, W], text embeddings whose names or sizes differ from the first sample's).
  void Add(const Sample& sample);
  int64_t size() const;
  void Commit();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Reads one shard. Open() checks the whole schema (every dataset's presence, type and shape), so
// a bad file fails at once with its path and the dataset inside it; Read() is thread-safe.
class VideoShardReader {
 public:
  static std::shared_ptr<VideoShardReader> Open(const std::filesystem::path& file);
  ~VideoShardReader();

  const std::filesystem::path& file() const;
  int64_t size() const;
  bool latent() const;
  std::array<int64_t, 4> Shape(int64_t i) const;  // of /videos/<i>
  std::vector<std::string> caption_kinds() const;
  std::vector<std::string> text_names() const;
  bool has_labels() const;
  // Root and /text/<name> attributes as JSON, for `modelgrow dataset info`.
  nlohmann::json Describe() const;

  // Sample i; its `index` is i (callers offset it). Text embeddings are [1, L, D] and [1, L].
  Sample Read(int64_t i, bool with_text_embeddings = true) const;

 private:
  VideoShardReader();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Shard files named by a list of entries, each a file, a folder (its *.h5 files, sorted) or a
// glob pattern (matches sorted). InputError when an entry names nothing.
std::vector<std::filesystem::path> ResolveShardPaths(const std::vector<std::string>& entries);

}  // namespace modelgrow
