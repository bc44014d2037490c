// A piece of input text as it moves through normalization and pre-tokenization, with just enough
// of Hugging Face's alignment bookkeeping to answer "does this piece start at the very beginning
// of the original text?" (what Metaspace's prepend_scheme "first" asks).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/unicode_text.h"

namespace modelgrow::hf {

class NormalizedString {
 public:
  NormalizedString() = default;
  // The whole input; `track_origins` turns on the per-byte origin bookkeeping.
  NormalizedString(std::string text, bool track_origins);

  const std::string& text() const { return text_; }
  size_t size() const { return text_.size(); }
  bool empty() const { return text_.empty(); }
  bool tracked() const { return tracked_; }
  // Byte offset in the original input where this piece starts (HF's offsets_original().0).
  uint32_t original_start() const { return shift_; }

  // The bytes [begin, end) as a new piece, keeping their origins.
  NormalizedString Slice(size_t begin, size_t end) const;

  // HF's NormalizedString::prepend: the new characters take the origin of the first one. No-op on
  // an empty piece.
  void Prepend(std::string_view prefix);

  // Replaces the text when nothing needs tracking (callers check tracked() first).
  void SetUntracked(std::string text) { text_ = std::move(text); }
  // Replaces text and origins together.
  void Set(std::string text, std::vector<uint32_t> origins);
  const std::vector<uint32_t>& origins() const { return origins_; }
  // Origin of the byte before `offset`, or of the piece start when there is none: what a newly
  // inserted character inherits.
  uint32_t OriginBefore(size_t offset) const;
  uint32_t OriginAt(size_t offset) const;

 private:
  std::string text_;
  std::vector<uint32_t> origins_;  // one per byte of text_ when tracked_
  uint32_t shift_ = 0;
  bool tracked_ = false;
};

// Rebuilds a NormalizedString character by character the way HF's NormalizedString::transform
// does: each output character either replaces the next input character (change 0), replaces it
// and swallows -change more (change < 0), or is new (change > 0) and inherits the origin of the
// byte before it. Without tracking it only assembles the text.
class Rewriter {
 public:
  // `removed_at_start`: input characters dropped before the first output character.
  explicit Rewriter(NormalizedString& target, size_t removed_at_start = 0);
  void Add(char32_t c, int change);
  // Adds `delta` to the change of the last character added (HF's Precompiled does this).
  void AdjustLast(int delta);
  void Finish();

 private:
  NormalizedString& target_;
  size_t removed_at_start_;
  std::string text_;
  std::vector<std::pair<char32_t, int>> changes_;
};

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

// A span of a piece and whether it matched the split pattern; a list of these covers the piece.
struct PatternSpan {
  size_t begin, end;
  bool is_match;
};

// HF's NormalizedString::split: groups the spans by `behavior` and returns the non-empty pieces.
void SplitPiece(const NormalizedString& piece, const std::vector<PatternSpan>& spans,
                SplitBehavior behavior, std::vector<NormalizedString>& out);

// Spans of the characters for which `predicate` holds (each its own match), covering `text`.
template <typename Predicate>
std::vector<PatternSpan> CharSpans(const std::string& text, Predicate predicate) {
  std::vector<PatternSpan> spans;
  if (text.empty()) {
    spans.push_back({0, 0, false});
    return spans;
  }
  size_t last = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t length = 0;
    const char32_t c = unicode::DecodeAt(text, pos, &length);
    if (predicate(c)) {
      if (last < pos) spans.push_back({last, pos, false});
      spans.push_back({pos, pos + length, true});
      last = pos + length;
    }
    pos += length;
  }
  if (last < text.size()) spans.push_back({last, text.size(), false});
  return spans;
}

}  // namespace modelgrow::hf
