// The regular expressions of tokenizer.json files, which Hugging Face compiles with Oniguruma
// (Ruby syntax), run on PCRE2 with UTF and Unicode properties. Patterns are translated where the
// two engines differ (\s, \w, \h, (?m), {,n}); constructs without an exact PCRE2 equivalent are
// rejected instead of being matched differently.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/json_view.h"
#include "common/normalized_string.h"

namespace modelgrow::hf {

class Regex {
 public:
  // An Oniguruma pattern; TokenizerError when it cannot be compiled or translated exactly.
  static std::unique_ptr<Regex> FromOniguruma(std::string_view pattern);
  // A literal string (HF escapes String patterns into regexes).
  static std::unique_ptr<Regex> FromLiteral(std::string_view literal);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Match ranges in order, iterated exactly as rust-onig's find_iter does (including how it
  // steps over empty matches). `text` must be valid UTF-8.
  std::vector<std::pair<size_t, size_t>> FindAll(std::string_view text) const;
  // The matches and the gaps between them, covering `text` (HF's Pattern::find_matches).
  std::vector<PatternSpan> Spans(std::string_view text) const;

 private:
  explicit Regex(std::string_view pcre_pattern);
  struct Code;
  std::unique_ptr<Code> code_;
};

// A tokenizer.json pattern object: {"String": "..."} (a literal) or {"Regex": "..."}; errors
// name the JSON path.
std::unique_ptr<Regex> PatternFromJson(const JsonView& pattern);

// Exposed for tests: the PCRE2 pattern an Oniguruma pattern becomes.
std::string TranslateOnigurumaPattern(std::string_view pattern);

}  // namespace modelgrow::hf
