#include "common/normalizers.h"

#include <optional>
#include <string>
#include <vector>

#include "common/byte_level_alphabet.h"
#include "common/onig_regex.h"
#include "common/precompiled_charsmap.h"
#include "common/tokenizer_error.h"
#include "common/unicode_text.h"

namespace modelgrow::hf {

namespace {

constexpr std::string_view kSupported =
    "BertNormalizer, ByteLevel, Lowercase, NFC, NFD, NFKC, NFKD, Nmt, Precompiled, Prepend, "
    "Replace, Sequence, Strip, StripAccents";

bool IsAscii(const std::string& text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

// HF's NormalizedString::filter: kept characters carry the count of removed ones after them.
template <typename Keep>
void Filter(NormalizedString& text, Keep keep) {
  const std::string& s = text.text();
  std::vector<char32_t> kept_chars;
  std::vector<int> removed_after;
  size_t removed_start = 0;
  int removed = 0;
  bool any_removed = false;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t length = 0;
    const char32_t c = unicode::DecodeAt(s, pos, &length);
    pos += length;
    if (keep(c)) {
      if (kept_chars.empty()) {
        removed_start = static_cast<size_t>(removed);
      } else {
        removed_after.back() = removed;
      }
      kept_chars.push_back(c);
      removed_after.push_back(0);
      removed = 0;
    } else {
      ++removed;
      any_removed = true;
    }
  }
  if (!any_removed) return;
  if (!kept_chars.empty()) removed_after.back() = removed;
  Rewriter rewriter(text, kept_chars.empty() ? 0 : removed_start);
  for (size_t i = 0; i < kept_chars.size(); ++i) rewriter.Add(kept_chars[i], -removed_after[i]);
  rewriter.Finish();
}

// HF's NormalizedString::map: one character for one character.
template <typename Map>
void MapChars(NormalizedString& text, Map map) {
  const std::string& s = text.text();
  bool changed = false;
  std::vector<char32_t> mapped;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t length = 0;
    const char32_t c = unicode::DecodeAt(s, pos, &length);
    const char32_t m = map(c);
    changed |= m != c;
    mapped.push_back(m);
    pos += length;
  }
  if (!changed) return;
  Rewriter rewriter(text);
  for (char32_t m : mapped) rewriter.Add(m, 0);
  rewriter.Finish();
}

void Lowercase(NormalizedString& text) {
  const std::string& s = text.text();
  if (IsAscii(s)) {
    bool upper = false;
    for (char c : s) upper |= c >= 'A' && c <= 'Z';
    if (!upper) return;
    if (!text.tracked()) {
      std::string lowered = s;
      for (char& c : lowered) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
      }
      text.SetUntracked(std::move(lowered));
      return;
    }
  }
  Rewriter rewriter(text);
  std::vector<char32_t> lowered;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t length = 0;
    const char32_t c = unicode::DecodeAt(s, pos, &length);
    pos += length;
    lowered.clear();
    unicode::AppendLowercase(c, lowered);
    for (size_t k = 0; k < lowered.size(); ++k) rewriter.Add(lowered[k], k > 0 ? 1 : 0);
  }
  rewriter.Finish();
}

void UnicodeNormalize(NormalizedString& text, unicode::NormalForm form) {
  if (IsAscii(text.text()) || unicode::IsNormalized(text.text(), form)) return;
  if (!text.tracked()) {
    text.SetUntracked(unicode::Normalize(text.text(), form));
    return;
  }
  std::vector<unicode::NormalizationEdit> edits;
  std::string normalized = unicode::Normalize(text.text(), form, &edits);
  std::vector<uint32_t> origins(normalized.size());
  for (const unicode::NormalizationEdit& edit : edits) {
    for (size_t t = edit.target_begin; t < edit.target_end; ++t) {
      if (!edit.changed) {
        origins[t] = text.OriginAt(edit.source_begin + (t - edit.target_begin));
      } else {
        // A changed span (a decomposition or composition) descends from its first character.
        origins[t] = edit.source_begin < edit.source_end ? text.OriginAt(edit.source_begin)
                                                         : text.OriginBefore(edit.source_begin);
      }
    }
  }
  text.Set(std::move(normalized), std::move(origins));
}

void StripWhitespace(NormalizedString& text, bool left, bool right) {
  const std::string& s = text.text();
  std::vector<char32_t> chars;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t length = 0;
    chars.push_back(unicode::DecodeAt(s, pos, &length));
    pos += length;
  }
  size_t leading = 0;
  if (left) {
    while (leading < chars.size() && unicode::IsWhitespace(chars[leading])) ++leading;
  }
  size_t trailing = 0;
  if (right) {
    while (trailing < chars.size() && unicode::IsWhitespace(chars[chars.size() - 1 - trailing])) {
      ++trailing;
    }
  }
  if (leading == 0 && trailing == 0) return;
  Rewriter rewriter(text, leading);
  const size_t count = chars.size();
  for (size_t i = 0; i < count; ++i) {
    if (i < leading || i >= count - trailing) continue;
    // HF compares the character index with the byte length here; mirrored so that the origins
    // come out the same on non-ASCII text.
    const bool last = i + trailing + 1 == s.size();
    rewriter.Add(chars[i], last ? -static_cast<int>(trailing) : 0);
  }
  rewriter.Finish();
}

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> parts)
      : parts_(std::move(parts)) {}
  void Normalize(NormalizedString& text) const override {
    for (const auto& part : parts_) part->Normalize(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

class UnicodeFormNormalizer : public Normalizer {
 public:
  explicit UnicodeFormNormalizer(unicode::NormalForm form) : form_(form) {}
  void Normalize(NormalizedString& text) const override { UnicodeNormalize(text, form_); }

 private:
  unicode::NormalForm form_;
};

class LowercaseNormalizer : public Normalizer {
 public:
  void Normalize(NormalizedString& text) const override { Lowercase(text); }
};

class StripNormalizer : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  void Normalize(NormalizedString& text) const override { StripWhitespace(text, left_, right_); }

 private:
  bool left_, right_;
};

class StripAccentsNormalizer : public Normalizer {
 public:
  void Normalize(NormalizedString& text) const override {
    Filter(text, [](char32_t c) { return !unicode::IsCombiningMark(c); });
  }
};

class ReplaceNormalizer : public Normalizer {
 public:
  ReplaceNormalizer(std::unique_ptr<Regex> pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void Normalize(NormalizedString& text) const override {
    const std::string& s = text.text();
    const auto matches = pattern_->FindAll(s);
    if (matches.empty()) return;
    std::string out;
    out.reserve(s.size());
    std::vector<uint32_t> origins;
    size_t last = 0;
    for (const auto& [start, end] : matches) {
      out.append(s, last, start - last);
      if (text.tracked()) {
        origins.insert(origins.end(), text.origins().begin() + static_cast<ptrdiff_t>(last),
                       text.origins().begin() + static_cast<ptrdiff_t>(start));
        // Inserted characters inherit the origin of the last byte they replace.
        origins.insert(origins.end(), content_.size(), text.OriginBefore(end));
      }
      out += content_;
      last = end;
    }
    out.append(s, last, std::string::npos);
    if (text.tracked()) {
      origins.insert(origins.end(), text.origins().begin() + static_cast<ptrdiff_t>(last),
                     text.origins().end());
    }
    text.Set(std::move(out), std::move(origins));
  }

 private:
  std::unique_ptr<Regex> pattern_;
  std::string content_;
};

class PrependNormalizer : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  void Normalize(NormalizedString& text) const override { text.Prepend(prefix_); }

 private:
  std::string prefix_;
};

class PrecompiledNormalizer : public Normalizer {
 public:
  explicit PrecompiledNormalizer(PrecompiledCharsmap charsmap) : charsmap_(std::move(charsmap)) {}

  void Normalize(NormalizedString& text) const override {
    const std::string& s = text.text();
    const std::vector<size_t> bounds = unicode::GraphemeBoundaries(s);
    Rewriter rewriter(text);
    bool modified = false;
    auto replace = [&](std::string_view old_part, std::string_view new_part) {
      const int old_count = CountChars(old_part);
      const int new_count = CountChars(new_part);
      const int diff = new_count - old_count;
      std::vector<char32_t> chars = Chars(new_part);
      for (size_t k = 0; k < chars.size(); ++k) {
        // The last `diff` characters of a longer replacement are new.
        const bool added = diff > 0 && static_cast<int>(chars.size() - k) <= diff;
        rewriter.Add(chars[k], added ? 1 : 0);
      }
      // A shorter replacement folds the difference into the last character added so far, even
      // one of an earlier grapheme (what HF does).
      if (diff < 0) rewriter.AdjustLast(diff);
    };
    for (size_t g = 0; g + 1 < bounds.size(); ++g) {
      const std::string_view grapheme(s.data() + bounds[g], bounds[g + 1] - bounds[g]);
      if (grapheme.size() < 6) {
        if (auto norm = charsmap_.Transform(grapheme)) {
          modified = true;
          replace(grapheme, *norm);
          continue;
        }
      }
      size_t pos = 0;
      while (pos < grapheme.size()) {
        size_t length = 0;
        const char32_t c = unicode::DecodeAt(grapheme, pos, &length);
        const std::string_view part = grapheme.substr(pos, length);
        if (auto norm = charsmap_.Transform(part)) {
          modified = true;
          replace(part, *norm);
        } else {
          rewriter.Add(c, 0);
        }
        pos += length;
      }
    }
    if (modified) rewriter.Finish();
  }

 private:
  static int CountChars(std::string_view s) {
    int count = 0;
    for (char c : s) count += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    return count;
  }
  static std::vector<char32_t> Chars(std::string_view s) {
    std::vector<char32_t> out;
    size_t pos = 0;
    while (pos < s.size()) {
      size_t length = 0;
      out.push_back(unicode::DecodeAt(s, pos, &length));
      pos += length;
    }
    return out;
  }

  PrecompiledCharsmap charsmap_;
};

class NmtNormalizer : public Normalizer {
 public:
  void Normalize(NormalizedString& text) const override {
    Filter(text, [](char32_t c) {
      return !((c >= 0x01 && c <= 0x08) || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F ||
               c == 0x8F || c == 0x9F);
    });
    MapChars(text, [](char32_t c) -> char32_t {
      switch (c) {
        case 0x09:
        case 0x0A:
        case 0x0C:
        case 0x0D:
        case 0x1680:
        case 0x2028:
        case 0x2029:
        case 0x2581:
        case 0xFEFF:
        case 0xFFFD:
          return ' ';
        default:
          return c >= 0x200B && c <= 0x200F ? U' ' : c;
      }
    });
  }
};

class BertNormalizer : public Normalizer {
 public:
  BertNormalizer(bool clean_text, bool chinese, bool strip_accents, bool lowercase)
      : clean_text_(clean_text),
        chinese_(chinese),
        strip_accents_(strip_accents),
        lowercase_(lowercase) {}

  void Normalize(NormalizedString& text) const override {
    if (clean_text_) {
      Filter(text, [](char32_t c) {
        const bool bert_control = c != '\t' && c != '\n' && c != '\r' && unicode::IsOther(c);
        return !(c == 0 || c == 0xFFFD || bert_control);
      });
      MapChars(text, [](char32_t c) -> char32_t {
        const bool bert_space = c == '\t' || c == '\n' || c == '\r' || unicode::IsWhitespace(c);
        return bert_space ? U' ' : c;
      });
    }
    if (chinese_) SpaceChineseChars(text);
    if (strip_accents_) {
      UnicodeNormalize(text, unicode::NormalForm::kNfd);
      Filter(text, [](char32_t c) { return !unicode::IsMarkNonspacing(c); });
    }
    if (lowercase_) Lowercase(text);
  }

 private:
  static void SpaceChineseChars(NormalizedString& text) {
    const std::string& s = text.text();
    bool any = false;
    std::vector<char32_t> chars;
    size_t pos = 0;
    while (pos < s.size()) {
      size_t length = 0;
      chars.push_back(unicode::DecodeAt(s, pos, &length));
      any |= unicode::IsChineseChar(chars.back());
      pos += length;
    }
    if (!any) return;
    Rewriter rewriter(text);
    for (char32_t c : chars) {
      if (unicode::IsChineseChar(c)) {
        rewriter.Add(' ', 0);
        rewriter.Add(c, 1);
        rewriter.Add(' ', 1);
      } else {
        rewriter.Add(c, 0);
      }
    }
    rewriter.Finish();
  }

  bool clean_text_, chinese_, strip_accents_, lowercase_;
};

class ByteLevelNormalizer : public Normalizer {
 public:
  void Normalize(NormalizedString& text) const override {
    if (text.empty()) return;
    const auto& table = ByteToCharacter();
    const std::string& s = text.text();
    if (!text.tracked()) {
      std::string out;
      out.reserve(s.size() * 2);
      for (char c : s) out += table[static_cast<unsigned char>(c)];
      text.SetUntracked(std::move(out));
      return;
    }
    Rewriter rewriter(text);
    size_t pos = 0;
    while (pos < s.size()) {
      const size_t length = unicode::SequenceLength(static_cast<unsigned char>(s[pos]));
      for (size_t k = 0; k < length; ++k) {
        size_t unused = 0;
        const auto byte = static_cast<unsigned char>(s[pos + k]);
        rewriter.Add(unicode::DecodeAt(table[byte], 0, &unused), k > 0 ? 1 : 0);
      }
      pos += length;
    }
    rewriter.Finish();
  }
};

}  // namespace

std::unique_ptr<Normalizer> MakeNormalizer(const JsonView& json) {
  const std::string type = json.Type();
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Normalizer>> parts;
    for (const JsonView& part : json["normalizers"].Elements())
      parts.push_back(MakeNormalizer(part));
    return std::make_unique<SequenceNormalizer>(std::move(parts));
  }
  if (type == "NFC") return std::make_unique<UnicodeFormNormalizer>(unicode::NormalForm::kNfc);
  if (type == "NFD") return std::make_unique<UnicodeFormNormalizer>(unicode::NormalForm::kNfd);
  if (type == "NFKC") return std::make_unique<UnicodeFormNormalizer>(unicode::NormalForm::kNfkc);
  if (type == "NFKD") return std::make_unique<UnicodeFormNormalizer>(unicode::NormalForm::kNfkd);
  if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
  if (type == "Strip") {
    return std::make_unique<StripNormalizer>(json["strip_left"].Bool(), json["strip_right"].Bool());
  }
  if (type == "StripAccents") return std::make_unique<StripAccentsNormalizer>();
  if (type == "Replace") {
    return std::make_unique<ReplaceNormalizer>(PatternFromJson(json["pattern"]),
                                               json["content"].String());
  }
  if (type == "Prepend") return std::make_unique<PrependNormalizer>(json["prepend"].String());
  if (type == "Precompiled") {
    const JsonView charsmap = json["precompiled_charsmap"];
    try {
      return std::make_unique<PrecompiledNormalizer>(
          PrecompiledCharsmap(DecodeBase64(charsmap.String())));
    } catch (const TokenizerError& e) {
      if (std::string_view(e.what()).starts_with(json.file())) throw;
      charsmap.Fail(e.what());
    }
  }
  if (type == "Nmt") return std::make_unique<NmtNormalizer>();
  if (type == "BertNormalizer") {
    const bool lowercase = json["lowercase"].Bool();
    const bool strip_accents = json.Has("strip_accents") ? json["strip_accents"].Bool() : lowercase;
    return std::make_unique<BertNormalizer>(
        json["clean_text"].Bool(), json["handle_chinese_chars"].Bool(), strip_accents, lowercase);
  }
  if (type == "ByteLevel") return std::make_unique<ByteLevelNormalizer>();
  json.Unsupported(type, kSupported);
}

}  // namespace modelgrow::hf
