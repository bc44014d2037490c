// UTF-8 and Unicode character properties as Hugging Face's tokenizers (Rust) sees them, with the
// property data and normalization forms coming from ICU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "modelgrow/sdk/utf8.h"

namespace modelgrow::hf::unicode {

// Length of the UTF-8 sequence that starts with `lead` (1 for bytes that cannot start one).
inline size_t SequenceLength(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xF0) return 4;
  if (lead >= 0xE0) return 3;
  if (lead >= 0xC0) return 2;
  return 1;
}

// The code point at `pos` of valid UTF-8; `*length` receives its byte length.
inline char32_t DecodeAt(std::string_view text, size_t pos, size_t* length) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data()) + pos;
  if (s[0] < 0x80) {
    *length = 1;
    return s[0];
  }
  if (s[0] < 0xE0) {
    *length = 2;
    return ((s[0] & 0x1Fu) << 6) | (s[1] & 0x3Fu);
  }
  if (s[0] < 0xF0) {
    *length = 3;
    return ((s[0] & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
  }
  *length = 4;
  return ((s[0] & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu);
}

void AppendUtf8(std::string& out, char32_t cp);
size_t Utf8Length(char32_t cp);

using ::modelgrow::FindInvalidUtf8;  // the offset of the first invalid byte, or npos
// Rust's String::from_utf8_lossy: each maximal invalid subsequence becomes U+FFFD.
std::string FromUtf8Lossy(std::string_view bytes);

// Rust char::is_whitespace (the White_Space property).
bool IsWhitespace(char32_t c);
// Rust char::is_numeric (general categories Nd, Nl, No).
bool IsNumeric(char32_t c);
// The next four follow the Rust crates HF uses, whose tables are older than ICU's: characters
// assigned after Unicode 8.0 (unicode_categories) or 9.0 (unicode-normalization-alignments)
// have no category there, and ICU's u_charAge tells which ones those are.
//
// ASCII punctuation or a P* general category, as the Punctuation and BertPreTokenizer use it.
bool IsPunctuation(char32_t c);
// BERT's "control": general category Cc, Cf, Co or Cs (unassigned code points are not).
bool IsOther(char32_t c);
bool IsMarkNonspacing(char32_t c);  // Mn, for BertNormalizer's accent stripping
bool IsCombiningMark(char32_t c);   // Mn, Mc, Me, for the StripAccents normalizer
// The regex crate's Unicode \w (Alphabetic, marks, Nd, Pc, join controls), which HF's added
// tokens use to decide what a word boundary is.
bool IsWordChar(char32_t c);
// The CJK ideograph ranges BERT puts spaces around.
bool IsChineseChar(char32_t c);

// Rust char::to_lowercase: context-free full lowercase mapping of one code point.
void AppendLowercase(char32_t c, std::vector<char32_t>& out);

enum class NormalForm { kNfc, kNfd, kNfkc, kNfkd };

// A span of the normalized output and the span of the input it came from.
struct NormalizationEdit {
  size_t source_begin, source_end;
  size_t target_begin, target_end;
  bool changed;
};
// Normalizes valid UTF-8; `edits`, when given, receives the changed and unchanged spans in order.
std::string Normalize(std::string_view text, NormalForm form,
                      std::vector<NormalizationEdit>* edits = nullptr);
bool IsNormalized(std::string_view text, NormalForm form);

// Byte offsets where extended grapheme clusters start, plus text.size() at the end.
std::vector<size_t> GraphemeBoundaries(std::string_view text);

}  // namespace modelgrow::hf::unicode
