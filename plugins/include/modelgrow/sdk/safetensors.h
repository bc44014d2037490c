// safetensors files (Hugging Face's format): read with validation, written atomically.
//
// Layout: an 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, then the
// data. A truncated or corrupt file is an InputError naming the file and what is wrong: shapes are
// bounded and overflow-checked (sdk/limits.h), every tensor lies inside the data and no two
// overlap, and an index's shard names stay inside its folder.
// Sharded sets (`model.safetensors.index.json` + `model-0000k-of-0000n.safetensors`) are read
// and written by TensorStore / WriteTensorStore.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

namespace modelgrow {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

class SafetensorsFile {
 public:
  // Maps the file and validates its header against its size.
  static SafetensorsFile Open(const std::filesystem::path& file);

  const std::filesystem::path& path() const { return path_; }
  std::vector<std::string> Keys() const;  // in file order (by offset)
  bool Has(const std::string& key) const;
  std::vector<int64_t> Shape(const std::string& key) const;
  std::string Dtype(const std::string& key) const;  // "F32", "BF16", ...
  // A new CPU tensor with the stored values (as stored, or converted to `dtype` when given).
  at::Tensor Get(const std::string& key) const;
  at::Tensor Get(const std::string& key, c10::ScalarType dtype) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  struct Entry {
    std::string dtype;
    std::vector<int64_t> shape;
    uint64_t begin = 0, end = 0;
  };
  struct Mapping;
  std::filesystem::path path_;
  std::shared_ptr<Mapping> mapping_;
  std::map<std::string, Entry> entries_;
  std::map<std::string, std::string> metadata_;
  const Entry& Find(const std::string& key) const;
};

// Writes `tensors` to `file` atomically (temp file, fsync, rename). With `dtype` set, floating
// tensors are stored in it (F32, F16 or BF16); others keep theirs.
void WriteSafetensors(const std::filesystem::path& file, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {},
                      std::optional<c10::ScalarType> dtype = std::nullopt);

// The tensors of a model folder: `<base>.safetensors`, or shards listed by
// `<base>.safetensors.index.json`.
class TensorStore {
 public:
  static TensorStore Open(const std::filesystem::path& folder, const std::string& base = "model");
  std::vector<std::string> Keys() const;
  bool Has(const std::string& key) const;
  std::vector<int64_t> Shape(const std::string& key) const;
  at::Tensor Get(const std::string& key) const;
  at::Tensor Get(const std::string& key, c10::ScalarType dtype) const;
  // The file holding `key` (for messages).
  std::filesystem::path FileOf(const std::string& key) const;

 private:
  std::vector<SafetensorsFile> files_;
  std::map<std::string, size_t> where_;
  const SafetensorsFile& FileFor(const std::string& key) const;
};

// Writes a tensor set into `folder` as one file or, when larger than max_shard_bytes, as shards
// with an index (names as Hugging Face writes them). Not atomic by itself: callers write into a
// staging folder (see checkpoint.h).
void WriteTensorStore(const std::filesystem::path& folder, const NamedTensors& tensors,
                      const std::string& base = "model", int64_t max_shard_bytes = 5LL << 30,
                      const std::map<std::string, std::string>& metadata = {},
                      std::optional<c10::ScalarType> dtype = std::nullopt);

std::string SafetensorsDtypeName(c10::ScalarType type);

}  // namespace modelgrow
