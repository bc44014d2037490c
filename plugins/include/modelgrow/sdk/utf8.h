// Well-formed UTF-8 (the Unicode standard's table 3-7: no overlong forms, surrogates or code
// points past U+10FFFF). Header-only, so the core's readers (strings in HDF5 shards end up in
// JSON) and the tokenizer library, which links no toolkit library, check text the same way.
#pragma once

#include <cstddef>
#include <string_view>

namespace modelgrow {

// Length of the well-formed sequence that starts at `pos` (< bytes.size()), or 0 with `*bad` set
// to the length of the maximal subpart of a sequence (at least 1), which the standard replaces
// with one U+FFFD.
inline size_t Utf8SequenceAt(std::string_view bytes, size_t pos, size_t* bad) {
  const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
  const unsigned char lead = s[pos];
  if (lead < 0x80) return 1;
  size_t need;
  unsigned char low = 0x80, high = 0xBF;  // the range of the byte after the lead byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    need = 1;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    need = 2;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    need = 3;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    *bad = 1;
    return 0;
  }
  for (size_t k = 1; k <= need; ++k) {
    if (pos + k >= bytes.size() || s[pos + k] < (k == 1 ? low : 0x80) ||
        s[pos + k] > (k == 1 ? high : 0xBF)) {
      *bad = k;
      return 0;
    }
  }
  return need + 1;
}

// Byte offset of the first byte that is not part of well-formed UTF-8, or npos.
inline size_t FindInvalidUtf8(std::string_view bytes) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    size_t bad = 0;
    const size_t length = Utf8SequenceAt(bytes, pos, &bad);
    if (length == 0) return pos;
    pos += length;
  }
  return std::string_view::npos;
}

}  // namespace modelgrow
