#include "common/byte_level_alphabet.h"

#include <vector>

#include "common/unicode_text.h"

namespace modelgrow::hf {

namespace {

// Printable bytes stand for themselves; the others, in byte order, take 256, 257, ...
std::array<char32_t, 256> BuildTable() {
  std::array<char32_t, 256> table{};
  std::array<bool, 256> printable{};
  for (int b = '!'; b <= '~'; ++b) printable[b] = true;
  for (int b = 0xA1; b <= 0xAC; ++b) printable[b] = true;
  for (int b = 0xAE; b <= 0xFF; ++b) printable[b] = true;
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) table[b] = printable[b] ? static_cast<char32_t>(b) : next++;
  return table;
}

const std::array<char32_t, 256>& Table() {
  static const std::array<char32_t, 256> table = BuildTable();
  return table;
}

}  // namespace

const std::array<std::string, 256>& ByteToCharacter() {
  static const std::array<std::string, 256> strings = [] {
    std::array<std::string, 256> out;
    for (int b = 0; b < 256; ++b) unicode::AppendUtf8(out[b], Table()[b]);
    return out;
  }();
  return strings;
}

int CharacterToByte(char32_t c) {
  static const std::vector<int> reverse = [] {
    std::vector<int> out(512, -1);
    for (int b = 0; b < 256; ++b) out[Table()[b]] = b;
    return out;
  }();
  return c < reverse.size() ? reverse[c] : -1;
}

}  // namespace modelgrow::hf
