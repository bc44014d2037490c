// Caches a frozen text encoder's outputs per prompt, in memory and optionally on disk, so a run
// encodes each distinct caption once (and a later run with the same encoder not at all).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "modelgrow/sdk/text_encoder.h"

namespace modelgrow {

class TextEncoderCache {
 public:
  // `disk_dir` empty: memory only. On disk, entries live under disk_dir / encoder->CacheKey().
  TextEncoderCache(std::shared_ptr<TextEncoder> encoder, std::filesystem::path disk_dir = {});
  ~TextEncoderCache();

  // Same result as encoder->Encode(prompts); only prompts never seen reach the encoder.
  TextEncoding Encode(const std::vector<std::string>& prompts);

  TextEncoder& encoder() { return *encoder_; }
  int64_t encoder_calls() const;    // batches passed to the encoder
  int64_t prompts_encoded() const;  // prompts the encoder actually encoded
  int64_t hits() const;             // prompts served from the cache
  int64_t disk_hits() const;        // of those, prompts read back from disk

  // Memory entries beyond this many bytes are dropped, least recently used first (they stay on
  // disk when there is a disk cache). Default 2 GiB: a T5-XXL entry (300 x 4096 floats) is 4.9 MB.
  void set_memory_limit_bytes(int64_t bytes);
  int64_t memory_bytes() const;
  // The folder entries are written to (empty for a memory-only cache).
  std::filesystem::path disk_folder() const;

 private:
  struct Impl;
  std::shared_ptr<TextEncoder> encoder_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace modelgrow
