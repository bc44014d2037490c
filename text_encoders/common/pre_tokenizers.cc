#include "common/pre_tokenizers.h"

#include <string>
#include <utility>

#include "common/byte_level_alphabet.h"
#include "common/onig_regex.h"
#include "common/tokenizer_error.h"
#include "common/unicode_text.h"

namespace modelgrow::hf {

namespace {

constexpr std::string_view kSupported =
    "BertPreTokenizer, ByteLevel, CharDelimiterSplit, Digits, Metaspace, Punctuation, Sequence, "
    "Split, Whitespace, WhitespaceSplit";

// HF's PreTokenizedString::split: every piece not yet tokenized is replaced by the non-empty
// pieces `split` makes of it.
template <typename SplitFn>
void SplitEach(std::vector<Piece>& pieces, SplitFn split) {
  std::vector<Piece> out;
  out.reserve(pieces.size() * 2);
  std::vector<NormalizedString> parts;
  for (Piece& piece : pieces) {
    if (piece.added_id >= 0) {
      out.push_back(std::move(piece));
      continue;
    }
    parts.clear();
    split(piece.text, parts);
    for (NormalizedString& part : parts) {
      if (!part.empty()) out.push_back(Piece{std::move(part), -1});
    }
  }
  pieces = std::move(out);
}

std::vector<PatternSpan> Inverted(std::vector<PatternSpan> spans) {
  for (PatternSpan& span : spans) span.is_match = !span.is_match;
  return spans;
}

class SequencePreTokenizer : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> parts)
      : parts_(std::move(parts)) {}
  void PreTokenize(std::vector<Piece>& pieces) const override {
    for (const auto& part : parts_) part->PreTokenize(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

class SplitPreTokenizer : public PreTokenizer {
 public:
  SplitPreTokenizer(std::unique_ptr<Regex> pattern, SplitBehavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}
  void PreTokenize(std::vector<Piece>& pieces) const override {
    SplitEach(pieces, [&](const NormalizedString& text, std::vector<NormalizedString>& out) {
      auto spans = pattern_->Spans(text.text());
      SplitPiece(text, invert_ ? Inverted(std::move(spans)) : spans, behavior_, out);
    });
  }

 private:
  std::unique_ptr<Regex> pattern_;
  SplitBehavior behavior_;
  bool invert_;
};

class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space),
        // GPT-2's pattern as HF compiles it with Oniguruma.
        regex_(use_regex ? Regex::FromOniguruma("'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| "
                                                "?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+")
                         : nullptr) {}

  void PreTokenize(std::vector<Piece>& pieces) const override {
    SplitEach(pieces, [&](const NormalizedString& text, std::vector<NormalizedString>& out) {
      NormalizedString piece = text;
      if (add_prefix_space_ && piece.text()[0] != ' ') piece.Prepend(" ");
      if (regex_) {
        SplitPiece(piece, regex_->Spans(piece.text()), SplitBehavior::kIsolated, out);
      } else {
        out.push_back(std::move(piece));
      }
    });
    const auto& table = ByteToCharacter();
    for (Piece& piece : pieces) {
      if (piece.added_id >= 0) continue;
      NormalizedString& text = piece.text;
      const std::string& s = text.text();
      std::string mapped;
      mapped.reserve(s.size() * 2);
      std::vector<uint32_t> origins;
      if (text.tracked()) origins.reserve(s.size() * 2);
      size_t pos = 0;
      while (pos < s.size()) {
        const size_t length = unicode::SequenceLength(static_cast<unsigned char>(s[pos]));
        // Every byte of one character descends from that character.
        const uint32_t origin = text.tracked() ? text.OriginAt(pos) : 0;
        for (size_t k = 0; k < length; ++k) {
          const std::string& c = table[static_cast<unsigned char>(s[pos + k])];
          mapped += c;
          if (text.tracked()) origins.insert(origins.end(), c.size(), origin);
        }
        pos += length;
      }
      text.Set(std::move(mapped), std::move(origins));
    }
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<Regex> regex_;
};

enum class PrependScheme { kAlways, kFirst, kNever };

class MetaspacePreTokenizer : public PreTokenizer {
 public:
  MetaspacePreTokenizer(char32_t replacement, PrependScheme scheme, bool split)
      : replacement_(replacement), scheme_(scheme), split_(split) {
    unicode::AppendUtf8(replacement_text_, replacement);
  }

  void PreTokenize(std::vector<Piece>& pieces) const override {
    SplitEach(pieces, [&](const NormalizedString& text, std::vector<NormalizedString>& out) {
      NormalizedString piece = ReplaceSpaces(text);
      const bool starts_with_replacement = piece.text().starts_with(replacement_text_);
      if (scheme_ == PrependScheme::kAlways && !starts_with_replacement) {
        piece.Prepend(replacement_text_);
      } else if (scheme_ == PrependScheme::kFirst && !starts_with_replacement &&
                 piece.original_start() == 0) {
        piece.Prepend(replacement_text_);
      }
      if (split_) {
        SplitPiece(piece, CharSpans(piece.text(), [&](char32_t c) { return c == replacement_; }),
                   SplitBehavior::kMergedWithNext, out);
      } else {
        out.push_back(std::move(piece));
      }
    });
  }

 private:
  NormalizedString ReplaceSpaces(const NormalizedString& text) const {
    NormalizedString piece = text;
    const std::string& s = text.text();
    if (s.find(' ') == std::string::npos) return piece;
    std::string out;
    out.reserve(s.size() + 8);
    std::vector<uint32_t> origins;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == ' ') {
        out += replacement_text_;
        if (text.tracked())
          origins.insert(origins.end(), replacement_text_.size(), text.OriginAt(i));
      } else {
        out += s[i];
        if (text.tracked()) origins.push_back(text.OriginAt(i));
      }
    }
    piece.Set(std::move(out), std::move(origins));
    return piece;
  }

  char32_t replacement_;
  std::string replacement_text_;
  PrependScheme scheme_;
  bool split_;
};

// Splits on characters for which `Predicate` holds, with a fixed behaviour.
template <typename Predicate>
class CharSplitPreTokenizer : public PreTokenizer {
 public:
  CharSplitPreTokenizer(Predicate predicate, SplitBehavior behavior)
      : predicate_(predicate), behavior_(behavior) {}
  void PreTokenize(std::vector<Piece>& pieces) const override {
    SplitEach(pieces, [&](const NormalizedString& text, std::vector<NormalizedString>& out) {
      SplitPiece(text, CharSpans(text.text(), predicate_), behavior_, out);
    });
  }

 private:
  Predicate predicate_;
  SplitBehavior behavior_;
};

template <typename Predicate>
std::unique_ptr<PreTokenizer> MakeCharSplit(Predicate predicate, SplitBehavior behavior) {
  return std::make_unique<CharSplitPreTokenizer<Predicate>>(predicate, behavior);
}

// HF's Whitespace splits with the Rust-regex pattern \w+|[^\w\s]+ and keeps the matches: runs of
// word characters and runs of other non-space characters. Done by hand so that the character
// classes come from ICU's current tables, like the regex crate's.
class WhitespacePreTokenizer : public PreTokenizer {
 public:
  void PreTokenize(std::vector<Piece>& pieces) const override {
    SplitEach(pieces, [](const NormalizedString& text, std::vector<NormalizedString>& out) {
      const std::string& s = text.text();
      size_t run_start = 0;
      int run_kind = 0;  // 0 none, 1 word characters, 2 other non-space characters
      size_t pos = 0;
      while (pos <= s.size()) {
        int kind = 0;
        size_t length = 1;
        if (pos < s.size()) {
          const char32_t c = unicode::DecodeAt(s, pos, &length);
          kind = unicode::IsWordChar(c) ? 1 : unicode::IsWhitespace(c) ? 0 : 2;
        }
        if (kind != run_kind) {
          if (run_kind != 0) out.push_back(text.Slice(run_start, pos));
          run_start = pos;
          run_kind = kind;
        }
        pos += length;
      }
    });
  }
};

class BertPreTokenizer : public PreTokenizer {
 public:
  void PreTokenize(std::vector<Piece>& pieces) const override {
    SplitEach(pieces, [](const NormalizedString& text, std::vector<NormalizedString>& out) {
      SplitPiece(text, CharSpans(text.text(), unicode::IsWhitespace), SplitBehavior::kRemoved, out);
    });
    SplitEach(pieces, [](const NormalizedString& text, std::vector<NormalizedString>& out) {
      SplitPiece(text, CharSpans(text.text(), unicode::IsPunctuation), SplitBehavior::kIsolated,
                 out);
    });
  }
};

}  // namespace

SplitBehavior ParseSplitBehavior(const JsonView& json) {
  const std::string value = json.String();
  if (value == "Removed") return SplitBehavior::kRemoved;
  if (value == "Isolated") return SplitBehavior::kIsolated;
  if (value == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (value == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (value == "Contiguous") return SplitBehavior::kContiguous;
  json.Fail("unsupported '" + value +
            "' (expected Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous)");
}

char32_t ParseSingleChar(const JsonView& json) {
  const std::string value = json.String();
  size_t length = 0;
  if (value.empty() || unicode::FindInvalidUtf8(value) != std::string::npos ||
      (unicode::DecodeAt(value, 0, &length), length != value.size())) {
    json.Fail("expected a single character, got '" + value + "'");
  }
  return unicode::DecodeAt(value, 0, &length);
}

std::unique_ptr<PreTokenizer> MakePreTokenizer(const JsonView& json, PreTokenizerInfo& info) {
  const std::string type = json.Type();
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    for (const JsonView& part : json["pretokenizers"].Elements()) {
      parts.push_back(MakePreTokenizer(part, info));
    }
    return std::make_unique<SequencePreTokenizer>(std::move(parts));
  }
  if (type == "Split") {
    return std::make_unique<SplitPreTokenizer>(PatternFromJson(json["pattern"]),
                                               ParseSplitBehavior(json["behavior"]),
                                               json["invert"].Bool());
  }
  if (type == "ByteLevel") {
    json["trim_offsets"].Bool();  // offsets only; checked so a malformed file is still refused
    return std::make_unique<ByteLevelPreTokenizer>(json["add_prefix_space"].Bool(),
                                                   json.BoolOr("use_regex", true));
  }
  if (type == "Metaspace") {
    const char32_t replacement = ParseSingleChar(json["replacement"]);
    PrependScheme scheme = PrependScheme::kAlways;
    if (json.Has("prepend_scheme")) {
      const JsonView value = json["prepend_scheme"];
      const std::string name = value.String();
      if (name == "always") {
        scheme = PrependScheme::kAlways;
      } else if (name == "first") {
        scheme = PrependScheme::kFirst;
      } else if (name == "never") {
        scheme = PrependScheme::kNever;
      } else {
        value.Fail("unsupported '" + name + "' (expected always, first or never)");
      }
    }
    if (json.Has("add_prefix_space") && !json["add_prefix_space"].Bool()) {
      // HF refuses the legacy flag when it contradicts the scheme (absent means "always").
      if (scheme != PrependScheme::kNever) {
        json["add_prefix_space"].Fail("add_prefix_space does not match declared prepend_scheme");
      }
    }
    if (scheme == PrependScheme::kFirst) info.needs_origins = true;
    return std::make_unique<MetaspacePreTokenizer>(replacement, scheme, json.BoolOr("split", true));
  }
  if (type == "Whitespace") return std::make_unique<WhitespacePreTokenizer>();
  if (type == "WhitespaceSplit") {
    return MakeCharSplit(unicode::IsWhitespace, SplitBehavior::kRemoved);
  }
  if (type == "Digits") {
    const bool individual = json["individual_digits"].Bool();
    return MakeCharSplit(unicode::IsNumeric,
                         individual ? SplitBehavior::kIsolated : SplitBehavior::kContiguous);
  }
  if (type == "Punctuation") {
    const SplitBehavior behavior =
        json.Has("behavior") ? ParseSplitBehavior(json["behavior"]) : SplitBehavior::kIsolated;
    return MakeCharSplit(unicode::IsPunctuation, behavior);
  }
  if (type == "BertPreTokenizer") return std::make_unique<BertPreTokenizer>();
  if (type == "CharDelimiterSplit") {
    const char32_t delimiter = ParseSingleChar(json["delimiter"]);
    return MakeCharSplit([delimiter](char32_t c) { return c == delimiter; },
                         SplitBehavior::kRemoved);
  }
  json.Unsupported(type, kSupported);
}

}  // namespace modelgrow::hf
