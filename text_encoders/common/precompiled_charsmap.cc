#include "common/precompiled_charsmap.h"

#include "common/tokenizer_error.h"
#include "common/unicode_text.h"

namespace modelgrow::hf {

namespace {

// darts-clone unit layout.
bool HasLeaf(uint32_t unit) { return ((unit >> 8) & 1) == 1; }
uint32_t Value(uint32_t unit) { return unit & ((1u << 31) - 1); }
uint32_t Label(uint32_t unit) { return unit & ((1u << 31) | 0xFF); }
uint32_t Offset(uint32_t unit) { return (unit >> 10) << ((unit & (1u << 9)) >> 6); }

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

std::string DecodeBase64(std::string_view text) {
  if (text.size() % 4 != 0) throw TokenizerError("base64 length is not a multiple of 4");
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    int values[4];
    int padding = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = text[i + k];
      if (c == '=' && i + 4 == text.size() && k >= 2) {
        values[k] = 0;
        ++padding;
      } else {
        values[k] = Base64Value(c);
        if (values[k] < 0 || padding > 0) {
          throw TokenizerError("invalid base64 character at offset " + std::to_string(i + k));
        }
      }
    }
    const uint32_t group = (values[0] << 18) | (values[1] << 12) | (values[2] << 6) | values[3];
    out.push_back(static_cast<char>(group >> 16));
    if (padding < 2) out.push_back(static_cast<char>((group >> 8) & 0xFF));
    if (padding < 1) out.push_back(static_cast<char>(group & 0xFF));
  }
  return out;
}

PrecompiledCharsmap::PrecompiledCharsmap(std::string_view blob) {
  if (blob.size() < 4) throw TokenizerError("precompiled_charsmap is shorter than its header");
  const auto* bytes = reinterpret_cast<const unsigned char*>(blob.data());
  const uint32_t trie_size =
      bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (static_cast<uint32_t>(bytes[3]) << 24);
  if (trie_size % 4 != 0 || 4 + static_cast<size_t>(trie_size) > blob.size()) {
    throw TokenizerError("precompiled_charsmap trie size " + std::to_string(trie_size) +
                         " does not fit its " + std::to_string(blob.size()) + " bytes");
  }
  units_.resize(trie_size / 4);
  for (size_t i = 0; i < units_.size(); ++i) {
    const unsigned char* u = bytes + 4 + 4 * i;
    units_[i] = u[0] | (u[1] << 8) | (u[2] << 16) | (static_cast<uint32_t>(u[3]) << 24);
  }
  if (units_.empty()) throw TokenizerError("precompiled_charsmap has an empty trie");
  normalized_ = std::string(blob.substr(4 + trie_size));
  const size_t invalid = unicode::FindInvalidUtf8(normalized_);
  if (invalid != std::string::npos) {
    throw TokenizerError("precompiled_charsmap replacement strings are not UTF-8 (byte " +
                         std::to_string(invalid) + ")");
  }
}

std::optional<std::string_view> PrecompiledCharsmap::Transform(std::string_view chunk) const {
  size_t node = Offset(units_[0]);
  for (char ch : chunk) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == 0) break;
    node ^= c;
    if (node >= units_.size()) return std::nullopt;
    const uint32_t unit = units_[node];
    if (Label(unit) != c) return std::nullopt;
    node ^= Offset(unit);
    if (node >= units_.size()) return std::nullopt;
    if (HasLeaf(unit)) {
      const size_t index = Value(units_[node]);
      if (index > normalized_.size()) return std::nullopt;
      const size_t end = normalized_.find('\0', index);
      return std::string_view(normalized_)
          .substr(index, (end == std::string::npos ? normalized_.size() : end) - index);
    }
  }
  return std::nullopt;
}

}  // namespace modelgrow::hf
