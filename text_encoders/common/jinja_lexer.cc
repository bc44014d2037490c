#include "common/jinja_lexer.h"

#include <cstdlib>
#include <string>

#include "common/jinja_error.h"
#include "common/jinja_unicode.h"
#include "common/jinja_value.h"

namespace modelgrow::jinja {

namespace {

// Python's str.isspace for the code point starting at byte i; sets `length` to its size.
bool SpaceAt(std::string_view s, size_t i, size_t& length) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) {
    length = 1;
    return unicode::IsSpace(c);
  }
  size_t end = i + 1;
  while (end < s.size() && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) ++end;
  length = end - i;
  std::u32string cp = unicode::Decode(s.substr(i, length));
  return cp.size() == 1 && unicode::IsSpace(cp[0]);
}

size_t SkipSpace(std::string_view s, size_t i) {
  size_t length = 0;
  while (i < s.size() && SpaceAt(s, i, length)) i += length;
  return i;
}

std::string RStrip(std::string_view s) {
  std::u32string text = unicode::Decode(s);
  size_t end = text.size();
  while (end > 0 && unicode::IsSpace(text[end - 1])) --end;
  return unicode::Encode(std::u32string_view(text).substr(0, end));
}

bool AllSpace(std::string_view s) {
  if (s.empty()) return false;
  size_t length = 0;
  for (size_t i = 0; i < s.size(); i += length) {
    if (!SpaceAt(s, i, length)) return false;
  }
  return true;
}

bool IsNameStart(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

bool IsNameChar(unsigned char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

class Lexer {
 public:
  Lexer(std::string source, const std::string& source_name, const LexerOptions& options)
      : src_(std::move(source)), name_(source_name), options_(options) {}

  std::vector<Token> Run() {
    while (pos_ < src_.size()) {
      if (!LexRoot()) break;
    }
    Token eof;
    eof.type = TokenType::kEof;
    Locate(src_.size(), eof);
    tokens_.push_back(std::move(eof));
    return std::move(tokens_);
  }

 private:
  [[noreturn]] void Fail(size_t offset, const std::string& message) {
    Token where;
    Locate(offset, where);
    throw TemplateError(ErrorKind::kSyntax, name_, where.line, where.column, message);
  }

  // jinja2's wording, with the offset in characters of the (newline-normalized) source.
  [[noreturn]] void FailUnexpectedChar(size_t offset, const std::string& character) {
    Fail(offset,
         "unexpected char " + StringRepr(character) + " at " +
             std::to_string(unicode::CodePointCount(std::string_view(src_).substr(0, offset))));
  }

  // Fills line and column of `token` for byte offset `offset`. Offsets only grow during
  // lexing, so the cursor advances incrementally.
  void Locate(size_t offset, Token& token) {
    if (offset < cursor_offset_) {
      cursor_offset_ = 0;
      cursor_line_ = 1;
      cursor_column_ = 1;
    }
    for (; cursor_offset_ < offset && cursor_offset_ < src_.size(); ++cursor_offset_) {
      unsigned char c = static_cast<unsigned char>(src_[cursor_offset_]);
      if (c == '\n') {
        ++cursor_line_;
        cursor_column_ = 1;
      } else if ((c & 0xC0) != 0x80) {
        ++cursor_column_;
      }
    }
    token.line = cursor_line_;
    token.column = cursor_column_;
  }

  void Emit(TokenType type, size_t offset, std::string text) {
    Token token;
    token.type = type;
    token.text = std::move(text);
    Locate(offset, token);
    tokens_.push_back(std::move(token));
  }

  // Text up to the next tag, then the tag. Returns false at the end of the source.
  bool LexRoot() {
    size_t p = pos_;
    char kind = 0;
    while (true) {
      p = src_.find('{', p);
      if (p == std::string::npos || p + 1 >= src_.size()) {
        p = std::string::npos;
        break;
      }
      char next = src_[p + 1];
      if (next == '{' || next == '%' || next == '#') {
        kind = next;
        break;
      }
      ++p;
    }
    if (p == std::string::npos) {
      Emit(TokenType::kData, pos_, src_.substr(pos_));
      pos_ = src_.size();
      return false;
    }
    char sign =
        (p + 2 < src_.size() && (src_[p + 2] == '-' || src_[p + 2] == '+')) ? src_[p + 2] : 0;
    size_t tag_end = p + 2 + (sign ? 1 : 0);
    size_t raw_end = 0;
    bool raw = kind == '%' && MatchRawBegin(tag_end, raw_end);
    std::string text = ApplyLeftStrip(src_.substr(pos_, p - pos_), sign, kind != '{');
    if (!text.empty()) Emit(TokenType::kData, pos_, std::move(text));
    line_starting_ = false;
    if (raw) {
      line_starting_ = raw_end > 0 && src_[raw_end - 1] == '\n';
      pos_ = raw_end;
      LexRawBody(p);
    } else if (kind == '#') {
      pos_ = tag_end;
      LexComment(p);
    } else {
      pos_ = tag_end;
      LexTag(kind == '{' ? TokenType::kVariableBegin : TokenType::kBlockBegin, p);
    }
    return true;
  }

  // jinja2's OptionalLStrip: `-` strips all whitespace before the tag; otherwise lstrip_blocks
  // strips spaces before a block or comment tag that starts its line.
  std::string ApplyLeftStrip(std::string text, char sign, bool strippable_tag) {
    if (sign == '-') return RStrip(text);
    if (sign != '+' && options_.lstrip_blocks && strippable_tag) {
      size_t newline = text.rfind('\n');
      size_t line_start = newline == std::string::npos ? 0 : newline + 1;
      if ((line_start > 0 || line_starting_) &&
          AllSpace(std::string_view(text).substr(line_start))) {
        text.resize(line_start);
      }
    }
    return text;
  }

  // `{% raw %}` (after the `{%` and sign at `at`); sets `end` past the tag.
  bool MatchRawBegin(size_t at, size_t& end) {
    size_t i = SkipSpace(src_, at);
    if (src_.compare(i, 3, "raw") != 0) return false;
    i = SkipSpace(src_, i + 3);
    if (src_.compare(i, 3, "-%}") == 0) {
      end = SkipSpace(src_, i + 3);
      return true;
    }
    if (src_.compare(i, 2, "%}") == 0) {
      end = i + 2;
      return true;
    }
    return false;
  }

  void LexRawBody(size_t tag_offset) {
    size_t search = pos_;
    while (true) {
      size_t p = src_.find("{%", search);
      if (p == std::string::npos) Fail(tag_offset, "Missing end of raw directive");
      char sign =
          (p + 2 < src_.size() && (src_[p + 2] == '-' || src_[p + 2] == '+')) ? src_[p + 2] : 0;
      size_t i = SkipSpace(src_, p + 2 + (sign ? 1 : 0));
      if (src_.compare(i, 6, "endraw") != 0) {
        search = p + 2;
        continue;
      }
      i = SkipSpace(src_, i + 6);
      size_t end;
      if (src_.compare(i, 3, "+%}") == 0) {
        end = i + 3;
      } else if (src_.compare(i, 3, "-%}") == 0) {
        end = SkipSpace(src_, i + 3);
      } else if (src_.compare(i, 2, "%}") == 0) {
        end = i + 2;
        if (options_.trim_blocks && end < src_.size() && src_[end] == '\n') ++end;
      } else {
        search = p + 2;
        continue;
      }
      std::string text = ApplyLeftStrip(src_.substr(pos_, p - pos_), sign, true);
      if (!text.empty()) Emit(TokenType::kData, pos_, std::move(text));
      line_starting_ = src_[end - 1] == '\n';
      pos_ = end;
      return;
    }
  }

  void LexComment(size_t tag_offset) {
    size_t close = src_.find("#}", pos_);
    if (close == std::string::npos) Fail(tag_offset, "Missing end of comment tag");
    size_t end = close + 2;
    if (close > pos_ && src_[close - 1] == '-') {
      end = SkipSpace(src_, end);
    } else if (close > pos_ && src_[close - 1] == '+') {
      // `+#}` keeps what follows.
    } else if (options_.trim_blocks && end < src_.size() && src_[end] == '\n') {
      ++end;
    }
    line_starting_ = src_[end - 1] == '\n';
    pos_ = end;
  }

  // Tokens inside `{{ }}` or `{% %}` up to and including the closing delimiter.
  void LexTag(TokenType begin, size_t tag_offset) {
    Emit(begin, tag_offset, begin == TokenType::kVariableBegin ? "{{" : "{%");
    bool block = begin == TokenType::kBlockBegin;
    while (pos_ < src_.size()) {
      if (balancing_.empty() && LexTagEnd(block)) return;
      size_t space_end = SkipSpace(src_, pos_);
      if (space_end > pos_) {
        line_starting_ = src_[space_end - 1] == '\n';
        pos_ = space_end;
        continue;
      }
      LexTagToken();
      line_starting_ = false;
    }
  }

  bool LexTagEnd(bool block) {
    size_t end;
    if (block) {
      if (src_.compare(pos_, 3, "+%}") == 0) {
        end = pos_ + 3;
      } else if (src_.compare(pos_, 3, "-%}") == 0) {
        end = SkipSpace(src_, pos_ + 3);
      } else if (src_.compare(pos_, 2, "%}") == 0) {
        end = pos_ + 2;
        if (options_.trim_blocks && end < src_.size() && src_[end] == '\n') ++end;
      } else {
        return false;
      }
    } else {
      if (src_.compare(pos_, 3, "-}}") == 0) {
        end = SkipSpace(src_, pos_ + 3);
      } else if (src_.compare(pos_, 2, "}}") == 0) {
        end = pos_ + 2;
      } else {
        return false;
      }
    }
    Emit(block ? TokenType::kBlockEnd : TokenType::kVariableEnd, pos_, block ? "%}" : "}}");
    line_starting_ = src_[end - 1] == '\n';
    pos_ = end;
    return true;
  }

  void LexTagToken() {
    size_t start = pos_;
    char c = src_[pos_];
    if (IsDigit(c)) {
      if (!(start > 0 && src_[start - 1] == '.') && LexFloat()) return;
      LexInteger();
      return;
    }
    if (IsNameStart(static_cast<unsigned char>(c))) {
      size_t end = pos_ + 1;
      while (end < src_.size() && IsNameChar(static_cast<unsigned char>(src_[end]))) ++end;
      Emit(TokenType::kName, start, src_.substr(start, end - start));
      pos_ = end;
      return;
    }
    if (c == '\'' || c == '"') {
      LexString();
      return;
    }
    static const char* const kTwoChar[] = {"//", "**", "==", "!=", ">=", "<="};
    for (const char* op : kTwoChar) {
      if (src_.compare(pos_, 2, op) == 0) {
        Emit(TokenType::kOperator, start, op);
        pos_ += 2;
        return;
      }
    }
    static const std::string kOneChar = "+-/*%~[](){}><=.:|,;";
    if (kOneChar.find(c) == std::string::npos) {
      size_t end = pos_ + 1;
      while (end < src_.size() && (static_cast<unsigned char>(src_[end]) & 0xC0) == 0x80) ++end;
      FailUnexpectedChar(start, src_.substr(start, end - start));
    }
    if (c == '(' || c == '[' || c == '{') {
      balancing_.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
    } else if (c == ')' || c == ']' || c == '}') {
      if (balancing_.empty()) Fail(start, std::string("unexpected '") + c + "'");
      char expected = balancing_.back();
      balancing_.pop_back();
      if (expected != c) {
        Fail(start, std::string("unexpected '") + c + "', expected '" + expected + "'");
      }
    }
    Emit(TokenType::kOperator, start, std::string(1, c));
    ++pos_;
  }

  // Digits with optional single underscores between them; returns the end offset.
  size_t ScanDigits(size_t i) const {
    while (i < src_.size()) {
      if (IsDigit(src_[i])) {
        ++i;
      } else if (src_[i] == '_' && i + 1 < src_.size() && IsDigit(src_[i + 1]) && i > 0 &&
                 IsDigit(src_[i - 1])) {
        ++i;
      } else {
        break;
      }
    }
    return i;
  }

  bool LexFloat() {
    size_t i = ScanDigits(pos_);
    size_t fraction_end = i;
    if (i + 1 < src_.size() && src_[i] == '.' && IsDigit(src_[i + 1])) {
      fraction_end = ScanDigits(i + 1);
    }
    size_t end = fraction_end;
    bool has_fraction = fraction_end != i;
    if (fraction_end < src_.size() && (src_[fraction_end] == 'e' || src_[fraction_end] == 'E')) {
      size_t j = fraction_end + 1;
      if (j < src_.size() && (src_[j] == '+' || src_[j] == '-')) ++j;
      if (j < src_.size() && IsDigit(src_[j])) end = ScanDigits(j);
    }
    if (end == fraction_end && !has_fraction) return false;
    std::string text;
    for (size_t k = pos_; k < end; ++k) {
      if (src_[k] != '_') text.push_back(src_[k]);
    }
    Token token;
    token.type = TokenType::kFloat;
    token.text = src_.substr(pos_, end - pos_);
    token.float_value = std::strtod(text.c_str(), nullptr);
    Locate(pos_, token);
    tokens_.push_back(std::move(token));
    pos_ = end;
    return true;
  }

  void LexInteger() {
    size_t start = pos_;
    int base = 10;
    size_t digits_begin = pos_;
    if (src_[pos_] == '0' && pos_ + 1 < src_.size()) {
      char prefix = static_cast<char>(src_[pos_ + 1] | 0x20);
      if (prefix == 'b' || prefix == 'o' || prefix == 'x') {
        base = prefix == 'b' ? 2 : prefix == 'o' ? 8 : 16;
        digits_begin = pos_ + 2;
      }
    }
    auto valid = [base](char c) {
      int v = IsDigit(c)                                 ? c - '0'
              : ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') ? (c | 0x20) - 'a' + 10
                                                         : 99;
      return v < base;
    };
    size_t i = digits_begin;
    std::string digits;
    if (base == 10) {
      if (src_[i] == '0') {
        // jinja2 reads a leading zero as the integer 0 (plus further zeros); "012" lexes as
        // two integers, which the parser then rejects.
        ++i;
        digits = "0";
        while (i < src_.size() &&
               (src_[i] == '0' || (src_[i] == '_' && i + 1 < src_.size() && src_[i + 1] == '0'))) {
          ++i;
        }
      } else {
        i = ScanDigits(i);
        for (size_t k = digits_begin; k < i; ++k) {
          if (src_[k] != '_') digits.push_back(src_[k]);
        }
      }
    } else {
      while (i < src_.size() &&
             (valid(src_[i]) || (src_[i] == '_' && i + 1 < src_.size() && valid(src_[i + 1])))) {
        if (src_[i] != '_') digits.push_back(src_[i]);
        ++i;
      }
      if (digits.empty()) {
        // "0x" without digits: jinja2 lexes the 0 alone and then fails on the name.
        i = pos_ + 1;
        digits = "0";
        base = 10;
      }
    }
    errno = 0;
    char* parse_end = nullptr;
    long long value = std::strtoll(digits.c_str(), &parse_end, base);
    if (errno == ERANGE) Fail(start, "integer literal does not fit in 64 bits");
    Token token;
    token.type = TokenType::kInteger;
    token.text = src_.substr(start, i - start);
    token.int_value = value;
    Locate(start, token);
    tokens_.push_back(std::move(token));
    pos_ = i;
  }

  void LexString() {
    size_t start = pos_;
    char quote = src_[pos_];
    size_t i = pos_ + 1;
    while (i < src_.size() && src_[i] != quote) {
      i += src_[i] == '\\' ? 2 : 1;
    }
    // An unterminated string matches no rule, so jinja2 reports its quote character.
    if (i >= src_.size()) FailUnexpectedChar(start, std::string(1, quote));
    Token token;
    token.type = TokenType::kString;
    token.text = Unescape(std::string_view(src_).substr(start + 1, i - start - 1), start);
    Locate(start, token);
    tokens_.push_back(std::move(token));
    pos_ = i + 1;
  }

  // Python's unicode-escape decoding, which jinja2 applies to string literals.
  std::string Unescape(std::string_view body, size_t offset) {
    std::string out;
    out.reserve(body.size());
    auto hex_value = [&](size_t at, size_t count, const char* what) {
      if (at + count > body.size()) Fail(offset, std::string("truncated ") + what + " escape");
      uint32_t v = 0;
      for (size_t k = 0; k < count; ++k) {
        char c = body[at + k];
        int d = IsDigit(c)                                 ? c - '0'
                : ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') ? (c | 0x20) - 'a' + 10
                                                           : -1;
        if (d < 0) Fail(offset, std::string("truncated ") + what + " escape");
        v = v * 16 + static_cast<uint32_t>(d);
      }
      return v;
    };
    for (size_t i = 0; i < body.size(); ++i) {
      char c = body[i];
      if (c != '\\' || i + 1 >= body.size()) {
        out.push_back(c);
        continue;
      }
      char e = body[++i];
      switch (e) {
        case '\n':
          break;
        case '\\':
          out.push_back('\\');
          break;
        case '\'':
          out.push_back('\'');
          break;
        case '"':
          out.push_back('"');
          break;
        case 'a':
          out.push_back('\a');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'v':
          out.push_back('\v');
          break;
        case 'x':
          unicode::AppendUtf8(out, hex_value(i + 1, 2, "\\xXX"));
          i += 2;
          break;
        case 'u':
          unicode::AppendUtf8(out, hex_value(i + 1, 4, "\\uXXXX"));
          i += 4;
          break;
        case 'U': {
          uint32_t v = hex_value(i + 1, 8, "\\UXXXXXXXX");
          if (v > 0x10FFFF) Fail(offset, "illegal Unicode character");
          unicode::AppendUtf8(out, v);
          i += 8;
          break;
        }
        case 'N':
          Fail(offset, "\\N{...} escapes in string literals are not supported");
        default:
          if (e >= '0' && e <= '7') {
            uint32_t v = static_cast<uint32_t>(e - '0');
            for (int k = 0;
                 k < 2 && i + 1 < body.size() && body[i + 1] >= '0' && body[i + 1] <= '7'; ++k) {
              v = v * 8 + static_cast<uint32_t>(body[++i] - '0');
            }
            unicode::AppendUtf8(out, v);
          } else {
            out.push_back('\\');
            out.push_back(e);
          }
      }
    }
    return out;
  }

  std::string src_;
  const std::string& name_;
  LexerOptions options_;
  size_t pos_ = 0;
  bool line_starting_ = true;
  std::vector<char> balancing_;
  std::vector<Token> tokens_;
  size_t cursor_offset_ = 0;
  int cursor_line_ = 1;
  int cursor_column_ = 1;
};

// jinja2 treats \r\n, \r and \n alike as "\n" and, unless keep_trailing_newline, drops one
// newline at the very end of the template.
std::string NormalizeNewlines(std::string_view source, bool keep_trailing_newline) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out.push_back(source[i]);
    }
  }
  if (!keep_trailing_newline && !out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace

std::vector<Token> Tokenize(std::string_view source, const std::string& source_name,
                            const LexerOptions& options) {
  Lexer lexer(NormalizeNewlines(source, options.keep_trailing_newline), source_name, options);
  return lexer.Run();
}

std::string DescribeToken(const Token& token) {
  switch (token.type) {
    case TokenType::kData:
      return "template data / text";
    case TokenType::kVariableBegin:
      return "begin of print statement";
    case TokenType::kVariableEnd:
      return "end of print statement";
    case TokenType::kBlockBegin:
      return "begin of statement block";
    case TokenType::kBlockEnd:
      return "end of statement block";
    case TokenType::kEof:
      return "end of template";
    case TokenType::kString:
      return "string";
    case TokenType::kInteger:
      return "integer";
    case TokenType::kFloat:
      return "float";
    case TokenType::kName:
    case TokenType::kOperator:
      return token.text;
  }
  return token.text;
}

}  // namespace modelgrow::jinja
