#include "safetensors_header.h"

#include <algorithm>
#include <optional>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/limits.h"

namespace modelgrow::safetensors {

namespace {

using json = nlohmann::json;

// 100 MB of JSON header is far beyond any real file; above it the length field is garbage.
constexpr uint64_t kMaxHeader = 100ull << 20;

}  // namespace

int64_t DtypeSize(std::string_view name) {
  static constexpr std::pair<std::string_view, int64_t> kSizes[] = {
      {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},
      {"I32", 4}, {"I16", 2}, {"I8", 1},  {"U8", 1},   {"BOOL", 1},
  };
  for (const auto& [n, size] : kSizes) {
    if (n == name) return size;
  }
  return 0;
}

Header ParseHeader(std::span<const unsigned char> bytes, const std::string& file) {
  auto fail = [&](const std::string& what) {
    throw InputError(fmt::format("{}: not a valid safetensors file: {}", file, what));
  };
  if (bytes.size() < 8) fail(fmt::format("{} bytes, too short for a header", bytes.size()));
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
  if (header_len > kMaxHeader || header_len > bytes.size() - 8) {
    fail(fmt::format("header length {} does not fit in the file's {} bytes (truncated?)",
                     header_len, bytes.size()));
  }
  json header;
  try {
    header = json::parse(reinterpret_cast<const char*>(bytes.data() + 8),
                         reinterpret_cast<const char*>(bytes.data() + 8 + header_len));
  } catch (const json::exception& e) {
    fail(fmt::format("header is not JSON ({})", e.what()));
  }
  if (!header.is_object()) fail("header is not a JSON object");
  if (static_cast<int64_t>(header.size()) > limits::kMaxCount) {
    fail(fmt::format("header lists {} entries, above the limit of {}", header.size(),
                     limits::kMaxCount));
  }
  Header out;
  out.data_offset = 8 + header_len;
  const uint64_t data_size = bytes.size() - out.data_offset;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      if (value.is_object()) {
        for (const auto& [mk, mv] : value.items())
          out.metadata[mk] = mv.is_string() ? mv.get<std::string>() : mv.dump();
      }
      continue;
    }
    HeaderEntry e;
    try {
      e.dtype = value.at("dtype").get<std::string>();
      const json& offsets = value.at("data_offsets");
      if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
          !offsets[1].is_number_unsigned())
        fail(fmt::format("tensor '{}' has malformed data_offsets (expected [begin, end])", key));
      const json& shape = value.at("shape");
      if (!shape.is_array()) fail(fmt::format("tensor '{}' has a shape that is not a list", key));
      for (const json& s : shape) {
        if (!s.is_number_integer())
          fail(fmt::format("tensor '{}' has a shape entry that is not an integer ({})", key,
                           s.dump()));
      }
      e.shape = shape.get<std::vector<int64_t>>();
      e.begin = offsets[0].get<uint64_t>();
      e.end = offsets[1].get<uint64_t>();
    } catch (const json::exception&) {
      fail(fmt::format("tensor '{}' lacks dtype, shape or data_offsets", key));
    }
    const int64_t value_size = DtypeSize(e.dtype);
    if (value_size == 0) fail(fmt::format("tensor '{}' has unknown dtype '{}'", key, e.dtype));
    // Checked before anything trusts it: a shape whose product wraps around would otherwise
    // match a small byte span and allocate the wrapped-around size's true value.
    std::optional<int64_t> numel = limits::CheckedProduct(e.shape);
    if (!numel) {
      fail(fmt::format("tensor '{}' has shape [{}]: a negative dimension, or more than {} values",
                       key, fmt::join(e.shape, ", "), limits::kMaxElements));
    }
    const uint64_t bytes_needed = static_cast<uint64_t>(*numel) * value_size;
    if (e.end < e.begin || e.end - e.begin != bytes_needed) {
      fail(fmt::format("tensor '{}' spans {} bytes but its shape needs {}", key,
                       e.end < e.begin ? 0 : e.end - e.begin, bytes_needed));
    }
    if (e.end > data_size) {
      fail(fmt::format("tensor '{}' ends at byte {} but the data holds {} (truncated?)", key, e.end,
                       data_size));
    }
    out.entries[key] = std::move(e);
  }
  // Two tensors may not share bytes: a write through one would change the other, and a file that
  // claims so was not written by a safetensors writer.
  std::vector<std::pair<uint64_t, const std::string*>> spans;
  for (const auto& [key, e] : out.entries) {
    if (e.end > e.begin) spans.emplace_back(e.begin, &key);
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i) {
    const HeaderEntry& previous = out.entries.at(*spans[i - 1].second);
    if (spans[i].first < previous.end) {
      fail(fmt::format("tensors '{}' and '{}' overlap (bytes {}..{} and {}..)",
                       *spans[i - 1].second, *spans[i].second, previous.begin, previous.end,
                       spans[i].first));
    }
  }
  return out;
}

}  // namespace modelgrow::safetensors
