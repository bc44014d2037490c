// The safetensors header, read and checked without LibTorch: the part of a downloaded file that
// decides what gets allocated and where reads go, kept free of tensors so that it can be fuzzed
// with any compiler (tests/fuzz/safetensors_header_fuzz.cc).
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace modelgrow::safetensors {

struct HeaderEntry {
  std::string dtype;  // "F32", "BF16", ...
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte offsets inside the data, after the header
};

struct Header {
  std::map<std::string, HeaderEntry> entries;
  std::map<std::string, std::string> metadata;  // "__metadata__"; non-strings as their JSON text
  uint64_t data_offset = 0;                     // where the data starts in the file
};

// Bytes per value of a safetensors dtype name; 0 for a name the format does not have.
int64_t DtypeSize(std::string_view name);

// Reads the header of a whole file's `bytes`: its length field, its JSON, every entry's dtype,
// shape and offsets (inside the data, not overlapping, spanning what the shape needs, within
// the size limits). InputError "<file>: not a valid safetensors file: <what>" otherwise.
Header ParseHeader(std::span<const unsigned char> bytes, const std::string& file);

}  // namespace modelgrow::safetensors
