// The one content-hash helper every cache key in the toolkit and its plugins is built with:
// SHA-256 over length-prefixed, named fields, so two different inputs can never produce the same
// stream of bytes ("ab" + "c" and "a" + "bc" hash differently).
//
//   ContentHash key("stage");
//   key.Add("table", table.ToToml()).Add("init", FolderFingerprint(init));
//   std::string folder = "pretrain-" + key.Short();
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace modelgrow {

// Streaming SHA-256 (FIPS 180-4).
class Sha256 {
 public:
  Sha256();
  void Update(std::string_view bytes);
  // The digest as 64 lowercase hex digits; the object is spent afterwards.
  std::string HexDigest();

 private:
  void Compress(const unsigned char* block);
  std::array<uint32_t, 8> state_;
  unsigned char buffer_[64];
  size_t buffered_ = 0;
  uint64_t length_ = 0;
};

// SHA-256 of bytes as lowercase hex: Python's hashlib.sha256(bytes).hexdigest(). Prompt files of
// the text cache and of precomputed embeddings are named by it.
std::string Sha256Hex(std::string_view bytes);

class ContentHash {
 public:
  // `domain` separates the key spaces of different caches (a stage, a tiny model, a classifier).
  explicit ContentHash(std::string_view domain);
  // Adds one named field; the order of calls matters.
  ContentHash& Add(std::string_view name, std::string_view value);
  ContentHash& Add(std::string_view name, int64_t value);
  // 64 hex digits.
  std::string Hex() const;
  // The first 16 hex digits: short enough for folder names, 64 bits against accidental clashes.
  std::string Short() const;

 private:
  std::string stream_;
};

// A file's size and the SHA-256 of its bytes (of its first and last MiB for files over 2 MiB, so
// a 10 GB weight file costs two reads, not a pass over all of it).
std::string FileFingerprint(const std::filesystem::path& file);
// The same with heads and tails of `chunk` bytes (files up to 2 chunks hashed whole): for data
// sets of many files, where reading a MiB of each would cost more than the work it keys.
std::string FileFingerprint(const std::filesystem::path& file, std::uintmax_t chunk);
// The fingerprints of a model folder's files that define the model (weights, JSON configs,
// tokenizer models and vocabularies), by file name.
std::string FolderFingerprint(const std::filesystem::path& folder);

}  // namespace modelgrow
