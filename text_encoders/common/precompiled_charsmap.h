// SentencePiece's precompiled normalization rules (`precompiled_charsmap`, as T5, XLM-R and other
// SentencePiece conversions carry them): a darts-clone double-array trie over UTF-8 byte strings
// whose values index a blob of NUL-terminated replacement strings.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace modelgrow::hf {

class PrecompiledCharsmap {
 public:
  // `blob`: the decoded bytes. TokenizerError (message without location) when malformed.
  explicit PrecompiledCharsmap(std::string_view blob);

  // The replacement for the shortest rule that is a prefix of `chunk`, as HF's Precompiled
  // normalizer looks it up (sentencepiece itself takes the longest; HF applies it per grapheme).
  std::optional<std::string_view> Transform(std::string_view chunk) const;

 private:
  std::vector<uint32_t> units_;
  std::string normalized_;
};

// Standard base64 (with padding) to bytes; TokenizerError on bad input.
std::string DecodeBase64(std::string_view text);

}  // namespace modelgrow::hf
