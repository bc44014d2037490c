#include "common/normalized_string.h"

#include <algorithm>

namespace modelgrow::hf {

NormalizedString::NormalizedString(std::string text, bool track_origins)
    : text_(std::move(text)), tracked_(track_origins) {
  if (tracked_) {
    origins_.resize(text_.size());
    size_t pos = 0;
    while (pos < text_.size()) {
      const size_t length = unicode::SequenceLength(static_cast<unsigned char>(text_[pos]));
      for (size_t k = 0; k < length && pos + k < text_.size(); ++k) {
        origins_[pos + k] = static_cast<uint32_t>(pos);
      }
      pos += length;
    }
  }
}

NormalizedString NormalizedString::Slice(size_t begin, size_t end) const {
  NormalizedString out;
  out.text_ = text_.substr(begin, end - begin);
  out.tracked_ = tracked_;
  out.shift_ = shift_;
  if (tracked_) {
    out.origins_.assign(origins_.begin() + static_cast<ptrdiff_t>(begin),
                        origins_.begin() + static_cast<ptrdiff_t>(end));
    if (begin < end) out.shift_ = origins_[begin];
  }
  return out;
}

void NormalizedString::Prepend(std::string_view prefix) {
  if (text_.empty() || prefix.empty()) return;
  if (tracked_) origins_.insert(origins_.begin(), prefix.size(), OriginAt(0));
  text_.insert(0, prefix);
}

void NormalizedString::Set(std::string text, std::vector<uint32_t> origins) {
  text_ = std::move(text);
  if (tracked_) origins_ = std::move(origins);
}

uint32_t NormalizedString::OriginBefore(size_t offset) const {
  if (offset < 1 || origins_.empty()) return shift_;
  return origins_[std::min(offset, origins_.size()) - 1];
}

uint32_t NormalizedString::OriginAt(size_t offset) const {
  if (origins_.empty()) return shift_;
  // HF would index out of bounds here only on inconsistent change lists; the last byte's origin
  // is the closest meaningful answer.
  return origins_[std::min(offset, origins_.size() - 1)];
}

Rewriter::Rewriter(NormalizedString& target, size_t removed_at_start)
    : target_(target), removed_at_start_(removed_at_start) {
  if (!target_.tracked()) text_.reserve(target_.size());
}

void Rewriter::Add(char32_t c, int change) {
  if (target_.tracked()) {
    changes_.emplace_back(c, change);
  } else {
    unicode::AppendUtf8(text_, c);
  }
}

void Rewriter::AdjustLast(int delta) {
  if (target_.tracked() && !changes_.empty()) changes_.back().second += delta;
}

void Rewriter::Finish() {
  if (!target_.tracked()) {
    target_.SetUntracked(std::move(text_));
    return;
  }
  const std::string& old = target_.text();
  size_t offset = 0;
  for (size_t k = 0; k < removed_at_start_ && offset < old.size(); ++k) {
    offset += unicode::SequenceLength(static_cast<unsigned char>(old[offset]));
  }
  auto next_old_char = [&]() -> size_t {
    if (offset >= old.size()) return 0;
    return unicode::SequenceLength(static_cast<unsigned char>(old[offset]));
  };
  std::string text;
  std::vector<uint32_t> origins;
  text.reserve(old.size());
  origins.reserve(old.size());
  for (const auto& [c, change] : changes_) {
    const uint32_t origin = change > 0 ? target_.OriginBefore(offset) : target_.OriginAt(offset);
    if (change <= 0) offset += next_old_char();
    for (int k = 0; k < -change; ++k) offset += next_old_char();
    const size_t before = text.size();
    unicode::AppendUtf8(text, c);
    origins.insert(origins.end(), text.size() - before, origin);
  }
  target_.Set(std::move(text), std::move(origins));
}

void SplitPiece(const NormalizedString& piece, const std::vector<PatternSpan>& spans,
                SplitBehavior behavior, std::vector<NormalizedString>& out) {
  struct Kept {
    size_t begin, end;
    bool remove;
  };
  std::vector<Kept> kept;
  kept.reserve(spans.size());
  switch (behavior) {
    case SplitBehavior::kIsolated:
      for (const PatternSpan& s : spans) kept.push_back({s.begin, s.end, false});
      break;
    case SplitBehavior::kRemoved:
      for (const PatternSpan& s : spans) kept.push_back({s.begin, s.end, s.is_match});
      break;
    case SplitBehavior::kContiguous: {
      bool previous_match = false;
      for (const PatternSpan& s : spans) {
        if (s.is_match == previous_match && !kept.empty()) {
          kept.back().end = s.end;
        } else {
          kept.push_back({s.begin, s.end, false});
        }
        previous_match = s.is_match;
      }
      break;
    }
    case SplitBehavior::kMergedWithPrevious: {
      bool previous_match = false;
      for (const PatternSpan& s : spans) {
        if (s.is_match && !previous_match && !kept.empty()) {
          kept.back().end = s.end;
        } else {
          kept.push_back({s.begin, s.end, false});
        }
        previous_match = s.is_match;
      }
      break;
    }
    case SplitBehavior::kMergedWithNext: {
      bool previous_match = false;
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->is_match && !previous_match && !kept.empty()) {
          kept.back().begin = it->begin;
        } else {
          kept.push_back({it->begin, it->end, false});
        }
        previous_match = it->is_match;
      }
      std::reverse(kept.begin(), kept.end());
      break;
    }
  }
  for (const Kept& k : kept) {
    if (!k.remove && k.begin < k.end) out.push_back(piece.Slice(k.begin, k.end));
  }
}

}  // namespace modelgrow::hf
