#include "common/decoders.h"

#include "common/byte_level_alphabet.h"
#include "common/onig_regex.h"
#include "common/pre_tokenizers.h"
#include "common/tokenizer_error.h"
#include "common/unicode_text.h"

namespace modelgrow::hf {

namespace {

constexpr std::string_view kSupported =
    "BPEDecoder, ByteFallback, ByteLevel, CTC, Fuse, Metaspace, Replace, Sequence, Strip, "
    "WordPiece";

// Rust's str::replace, including its handling of an empty pattern (a match at every character
// boundary).
std::string RustReplace(std::string_view text, std::string_view from, std::string_view to) {
  std::string out;
  if (from.empty()) {
    out += to;
    size_t pos = 0;
    while (pos < text.size()) {
      const size_t length = unicode::SequenceLength(static_cast<unsigned char>(text[pos]));
      out.append(text.substr(pos, length));
      out += to;
      pos += length;
    }
    return out;
  }
  size_t pos = 0;
  while (true) {
    const size_t found = text.find(from, pos);
    if (found == std::string_view::npos) break;
    out.append(text.substr(pos, found - pos));
    out += to;
    pos = found + from.size();
  }
  out.append(text.substr(pos));
  return out;
}

std::string WordPieceCleanup(const std::string& text) {
  std::string out = RustReplace(text, " .", ".");
  out = RustReplace(out, " ?", "?");
  out = RustReplace(out, " !", "!");
  out = RustReplace(out, " ,", ",");
  out = RustReplace(out, " ' ", "'");
  out = RustReplace(out, " n't", "n't");
  out = RustReplace(out, " 'm", "'m");
  out = RustReplace(out, " do not", " don't");
  out = RustReplace(out, " 's", "'s");
  out = RustReplace(out, " 've", "'ve");
  out = RustReplace(out, " 're", "'re");
  return out;
}

std::vector<char32_t> Chars(std::string_view text) {
  std::vector<char32_t> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t length = 0;
    out.push_back(unicode::DecodeAt(text, pos, &length));
    pos += length;
  }
  return out;
}

class ByteLevelDecoder : public Decoder {
 public:
  std::vector<std::string> DecodeChain(std::vector<std::string> tokens) const override {
    std::string bytes;
    for (const std::string& token : tokens) {
      std::string mapped;
      bool all_mapped = true;
      for (char32_t c : Chars(token)) {
        const int byte = CharacterToByte(c);
        if (byte < 0) {
          all_mapped = false;
          break;
        }
        mapped.push_back(static_cast<char>(byte));
      }
      bytes += all_mapped ? mapped : token;
    }
    return {unicode::FromUtf8Lossy(bytes)};
  }
};

class MetaspaceDecoder : public Decoder {
 public:
  MetaspaceDecoder(char32_t replacement, bool prepend)
      : replacement_(replacement), prepend_(prepend) {}
  std::vector<std::string> DecodeChain(std::vector<std::string> tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string out;
      for (char32_t c : Chars(tokens[i])) {
        if (c == replacement_) {
          if (!(i == 0 && prepend_)) out += ' ';
        } else {
          unicode::AppendUtf8(out, c);
        }
      }
      tokens[i] = std::move(out);
    }
    return tokens;
  }

 private:
  char32_t replacement_;
  bool prepend_;  // prepend_scheme is not "never"
};

class WordPieceDecoder : public Decoder {
 public:
  WordPieceDecoder(std::string prefix, bool cleanup)
      : prefix_(std::move(prefix)), cleanup_(cleanup) {}
  std::vector<std::string> DecodeChain(std::vector<std::string> tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i != 0) {
        if (tokens[i].starts_with(prefix_)) {
          tokens[i] = tokens[i].substr(prefix_.size());
        } else {
          tokens[i] = " " + tokens[i];
        }
      }
      if (cleanup_) tokens[i] = WordPieceCleanup(tokens[i]);
    }
    return tokens;
  }

 private:
  std::string prefix_;
  bool cleanup_;
};

class BpeDecoder : public Decoder {
 public:
  explicit BpeDecoder(std::string suffix) : suffix_(std::move(suffix)) {}
  std::vector<std::string> DecodeChain(std::vector<std::string> tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      tokens[i] = RustReplace(tokens[i], suffix_, i + 1 == tokens.size() ? "" : " ");
    }
    return tokens;
  }

 private:
  std::string suffix_;
};

class ByteFallbackDecoder : public Decoder {
 public:
  std::vector<std::string> DecodeChain(std::vector<std::string> tokens) const override {
    std::vector<std::string> out;
    std::string pending;
    auto flush = [&]() {
      if (pending.empty()) return;
      if (unicode::FindInvalidUtf8(pending) == std::string::npos) {
        out.push_back(pending);
      } else {
        // HF gives up on the whole run: one replacement character per byte.
        for (size_t k = 0; k < pending.size(); ++k) out.push_back("\xEF\xBF\xBD");
      }
      pending.clear();
    };
    for (std::string& token : tokens) {
      int byte = -1;
      if (token.size() == 6 && token.starts_with("<0x") && token.back() == '>') {
        byte = ParseHexByte(token[3], token[4]);
      }
      if (byte >= 0) {
        pending.push_back(static_cast<char>(byte));
      } else {
        flush();
        out.push_back(std::move(token));
      }
    }
    flush();
    return out;
  }

 private:
  static int HexDigit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  static int ParseHexByte(char high, char low) {
    const int h = HexDigit(high), l = HexDigit(low);
    return h < 0 || l < 0 ? -1 : h * 16 + l;
  }
};

class FuseDecoder : public Decoder {
 public:
  std::vector<std::string> DecodeChain(std::vector<std::string> tokens) const override {
    std::string joined;
    for (const std::string& token : tokens) joined += token;
    return {joined};
  }
};

class StripDecoder : public Decoder {
 public:
  StripDecoder(char32_t content, size_t start, size_t stop)
      : content_(content), start_(start), stop_(stop) {}
  std::vector<std::string> DecodeChain(std::vector<std::string> tokens) const override {
    for (std::string& token : tokens) {
      const std::vector<char32_t> chars = Chars(token);
      size_t start_cut = 0;
      for (size_t i = 0; i < std::min(start_, chars.size()); ++i) {
        if (chars[i] != content_) break;
        start_cut = i + 1;
      }
      size_t stop_cut = chars.size();
      for (size_t i = 0; i < std::min(stop_, chars.size()); ++i) {
        const size_t index = chars.size() - i - 1;
        if (chars[index] != content_) break;
        stop_cut = index;
      }
      std::string out;
      for (size_t i = start_cut; i < stop_cut; ++i) unicode::AppendUtf8(out, chars[i]);
      token = std::move(out);
    }
    return tokens;
  }

 private:
  char32_t content_;
  size_t start_, stop_;
};

class ReplaceDecoder : public Decoder {
 public:
  ReplaceDecoder(std::unique_ptr<Regex> pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  std::vector<std::string> DecodeChain(std::vector<std::string> tokens) const override {
    for (std::string& token : tokens) {
      std::string out;
      for (const PatternSpan& span : pattern_->Spans(token)) {
        if (span.is_match) {
          out += content_;
        } else {
          out.append(token, span.begin, span.end - span.begin);
        }
      }
      token = std::move(out);
    }
    return tokens;
  }

 private:
  std::unique_ptr<Regex> pattern_;
  std::string content_;
};

class CtcDecoder : public Decoder {
 public:
  CtcDecoder(std::string pad, std::string delimiter, bool cleanup)
      : pad_(std::move(pad)), delimiter_(std::move(delimiter)), cleanup_(cleanup) {}
  std::vector<std::string> DecodeChain(std::vector<std::string> tokens) const override {
    std::vector<std::string> out;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0 && tokens[i] == tokens[i - 1]) continue;  // consecutive duplicates collapse
      std::string replaced = RustReplace(tokens[i], pad_, "");
      if (cleanup_) replaced = RustReplace(WordPieceCleanup(replaced), delimiter_, " ");
      if (!replaced.empty()) out.push_back(std::move(replaced));
    }
    return out;
  }

 private:
  std::string pad_, delimiter_;
  bool cleanup_;
};

class SequenceDecoder : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> parts)
      : parts_(std::move(parts)) {}
  std::vector<std::string> DecodeChain(std::vector<std::string> tokens) const override {
    for (const auto& part : parts_) tokens = part->DecodeChain(std::move(tokens));
    return tokens;
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

size_t ParseCount(const JsonView& json) {
  const int64_t value = json.Int();
  if (value < 0) json.Fail("expected a non-negative integer");
  return static_cast<size_t>(value);
}

}  // namespace

std::unique_ptr<Decoder> MakeDecoder(const JsonView& json) {
  const std::string type = json.Type();
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "Metaspace") {
    // Parsed by the pre-tokenizer's rules so both accept and refuse the same files.
    PreTokenizerInfo unused;
    MakePreTokenizer(json, unused);
    bool prepend = true;
    if (json.Has("prepend_scheme")) prepend = json["prepend_scheme"].String() != "never";
    if (json.Has("add_prefix_space") && !json["add_prefix_space"].Bool()) prepend = false;
    return std::make_unique<MetaspaceDecoder>(ParseSingleChar(json["replacement"]), prepend);
  }
  if (type == "WordPiece") {
    return std::make_unique<WordPieceDecoder>(json.StringOr("prefix", "##"),
                                              json.BoolOr("cleanup", true));
  }
  if (type == "BPEDecoder") return std::make_unique<BpeDecoder>(json.StringOr("suffix", "</w>"));
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip") {
    return std::make_unique<StripDecoder>(ParseSingleChar(json["content"]),
                                          ParseCount(json["start"]), ParseCount(json["stop"]));
  }
  if (type == "Replace") {
    return std::make_unique<ReplaceDecoder>(PatternFromJson(json["pattern"]),
                                            json["content"].String());
  }
  if (type == "CTC") {
    return std::make_unique<CtcDecoder>(json.StringOr("pad_token", "<pad>"),
                                        json.StringOr("word_delimiter_token", "|"),
                                        json.BoolOr("cleanup", true));
  }
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Decoder>> parts;
    for (const JsonView& part : json["decoders"].Elements()) parts.push_back(MakeDecoder(part));
    return std::make_unique<SequenceDecoder>(std::move(parts));
  }
  json.Unsupported(type, kSupported);
}

}  // namespace modelgrow::hf
