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

 private:
  struct Impl;
  std::shared_ptr<TextEncoder> encoder_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace modelgrow
