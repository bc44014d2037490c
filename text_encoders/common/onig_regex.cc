#include "common/onig_regex.h"

#include <cctype>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "common/tokenizer_error.h"
#include "common/unicode_text.h"

namespace modelgrow::hf {

namespace {

// Oniguruma's Unicode \s: U+0009-000D, U+0085 and the Z categories. PCRE2's \s also takes U+180E.
constexpr std::string_view kSpaceSet = "\\t\\n\\x0B\\f\\r\\x{85}\\p{Z}";
// Oniguruma's Unicode \w: Alphabetic, marks, decimal digits, connector punctuation.
constexpr std::string_view kWordSet = "\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}";
constexpr std::string_view kHexSet = "0-9a-fA-F";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

[[noreturn]] void Reject(std::string_view pattern, size_t at, std::string_view why) {
  throw TokenizerError("regular expression '" + std::string(pattern) + "' at offset " +
                       std::to_string(at) + ": " + std::string(why));
}

std::string PcreErrorMessage(int code) {
  PCRE2_UCHAR buffer[256];
  pcre2_get_error_message(code, buffer, sizeof(buffer));
  return reinterpret_cast<const char*>(buffer);
}

// Per-thread JIT stack and match context: the default 32 KiB machine stack is too small for long
// runs of text under patterns with lookahead.
struct ThreadMatchState {
  pcre2_jit_stack* jit_stack = nullptr;
  pcre2_match_context* context = nullptr;
  ThreadMatchState() {
    jit_stack = pcre2_jit_stack_create(64 * 1024, 8 * 1024 * 1024, nullptr);
    context = pcre2_match_context_create(nullptr);
    if (jit_stack && context) pcre2_jit_stack_assign(context, nullptr, jit_stack);
  }
  ~ThreadMatchState() {
    if (context) pcre2_match_context_free(context);
    if (jit_stack) pcre2_jit_stack_free(jit_stack);
  }
};

ThreadMatchState& MatchState() {
  thread_local ThreadMatchState state;
  return state;
}

}  // namespace

std::string TranslateOnigurumaPattern(std::string_view p) {
  std::string out;
  out.reserve(p.size() + 16);
  bool in_class = false;
  size_t class_body_start = 0;  // where a leading ']' is still a literal
  size_t i = 0;
  while (i < p.size()) {
    const char c = p[i];
    if (c == '\\') {
      if (i + 1 >= p.size()) Reject(p, i, "trailing backslash");
      const char d = p[i + 1];
      switch (d) {
        case 's':
          out += in_class ? std::string(kSpaceSet) : "[" + std::string(kSpaceSet) + "]";
          break;
        case 'w':
          out += in_class ? std::string(kWordSet) : "[" + std::string(kWordSet) + "]";
          break;
        case 'h':
          out += in_class ? std::string(kHexSet) : "[" + std::string(kHexSet) + "]";
          break;
        case 'S':
        case 'W':
        case 'H': {
          if (in_class) Reject(p, i, "negated class escapes inside [...] are not supported");
          const std::string_view set = d == 'S' ? kSpaceSet : d == 'W' ? kWordSet : kHexSet;
          out += "[^" + std::string(set) + "]";
          break;
        }
        case 'b':
        case 'B':
          if (in_class && d == 'b') {
            out += "\\x08";  // Oniguruma: backspace inside a class
          } else {
            Reject(p, i, "word boundaries (\\b, \\B) are not supported");
          }
          break;
        case 'x': {
          if (i + 2 < p.size() && p[i + 2] == '{') {
            const size_t close = p.find('}', i + 3);
            if (close == std::string_view::npos) Reject(p, i, "unterminated \\x{...}");
            out.append(p.substr(i, close + 1 - i));
            i = close + 1;
            continue;
          }
          size_t j = i + 2;
          unsigned value = 0;
          while (j < p.size() && j < i + 4 && HexValue(p[j]) >= 0) {
            value = value * 16 + static_cast<unsigned>(HexValue(p[j]));
            ++j;
          }
          // Oniguruma reads \xHH as a byte of the UTF-8 encoding, PCRE2 as a code point.
          if (value > 0x7F) Reject(p, i, "\\xHH above 7F is a raw byte in Oniguruma");
          out.append(p.substr(i, j - i));
          i = j;
          continue;
        }
        default: {
          const size_t length = unicode::SequenceLength(static_cast<unsigned char>(d));
          out += '\\';
          out.append(p.substr(i + 1, length));
          i += 1 + length;
          continue;
        }
      }
      i += 2;
      continue;
    }
    if (in_class) {
      if (c == ']' && i != class_body_start) {
        in_class = false;
      } else if (c == '[') {
        Reject(p, i, "nested character classes and POSIX brackets are not supported");
      } else if (c == '&' && i + 1 < p.size() && p[i + 1] == '&') {
        Reject(p, i, "character class intersection (&&) is not supported");
      }
      out += c;
      ++i;
      continue;
    }
    if (c == '[') {
      in_class = true;
      out += c;
      ++i;
      if (i < p.size() && p[i] == '^') {
        out += '^';
        ++i;
      }
      class_body_start = i;
      continue;
    }
    if (c == '(' && i + 2 < p.size() && p[i + 1] == '?') {
      size_t j = i + 2;
      while (j < p.size() && (p[j] == 'i' || p[j] == 'm' || p[j] == 'x' || p[j] == '-')) ++j;
      if (j > i + 2 && j < p.size() && (p[j] == ':' || p[j] == ')')) {
        out += "(?";
        // Ruby's (?m) is dot-matches-newline, PCRE2's (?s).
        for (size_t k = i + 2; k < j; ++k) out += p[k] == 'm' ? 's' : p[k];
        out += p[j];
        i = j + 1;
        continue;
      }
    }
    if (c == '{' && i + 1 < p.size() && p[i + 1] == ',') {
      out += "{0,";  // Oniguruma's {,n} is {0,n}; PCRE2 10.42 reads it literally
      i += 2;
      continue;
    }
    out += c;
    ++i;
  }
  if (in_class) Reject(p, p.size(), "unterminated character class");
  return out;
}

struct Regex::Code {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Code() {
    if (code) pcre2_code_free(code);
  }
};

Regex::Regex(std::string_view pcre_pattern) : code_(std::make_unique<Code>()) {
  pcre2_compile_context* context = pcre2_compile_context_create(nullptr);
  pcre2_set_newline(context, PCRE2_NEWLINE_LF);
  int error = 0;
  PCRE2_SIZE offset = 0;
  // MULTILINE: Ruby's ^ and $ are line anchors.
  code_->code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pcre_pattern.data()), pcre_pattern.size(),
                    PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE, &error, &offset, context);
  pcre2_compile_context_free(context);
  if (!code_->code) {
    throw TokenizerError("regular expression '" + std::string(pcre_pattern) +
                         "' does not compile at offset " + std::to_string(offset) + ": " +
                         PcreErrorMessage(error));
  }
  code_->jit = pcre2_jit_compile(code_->code, PCRE2_JIT_COMPLETE) == 0;
}

Regex::~Regex() = default;

std::unique_ptr<Regex> Regex::FromOniguruma(std::string_view pattern) {
  return std::unique_ptr<Regex>(new Regex(TranslateOnigurumaPattern(pattern)));
}

std::unique_ptr<Regex> Regex::FromLiteral(std::string_view literal) {
  std::string escaped;
  escaped.reserve(literal.size() * 2);
  for (char c : literal) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x80 && !std::isalnum(u) && c != '_') escaped += '\\';
    escaped += c;
  }
  return std::unique_ptr<Regex>(new Regex(escaped));
}

std::vector<std::pair<size_t, size_t>> Regex::FindAll(std::string_view text) const {
  std::vector<std::pair<size_t, size_t>> matches;
  pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
  ThreadMatchState& state = MatchState();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t last_end = 0;
  bool skip_next_empty = false;
  while (last_end <= text.size()) {
    int rc = pcre2_match(code_->code, subject, text.size(), last_end, PCRE2_NO_UTF_CHECK, data,
                         state.context);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
      rc = pcre2_match(code_->code, subject, text.size(), last_end,
                       PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, data, state.context);
    }
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      pcre2_match_data_free(data);
      throw TokenizerError("regular expression matching failed: " + PcreErrorMessage(rc));
    }
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data);
    const size_t start = ovector[0];
    const size_t end = ovector[1];
    last_end = end;
    if (start == end) {
      last_end +=
          end < text.size() ? unicode::SequenceLength(static_cast<unsigned char>(text[end])) : 1;
      if (skip_next_empty) {
        skip_next_empty = false;
        continue;
      }
    } else {
      skip_next_empty = true;
    }
    matches.emplace_back(start, end);
  }
  pcre2_match_data_free(data);
  return matches;
}

std::vector<PatternSpan> Regex::Spans(std::string_view text) const {
  std::vector<PatternSpan> spans;
  if (text.empty()) {
    spans.push_back({0, 0, false});
    return spans;
  }
  size_t previous = 0;
  for (const auto& [start, end] : FindAll(text)) {
    if (previous != start) spans.push_back({previous, start, false});
    spans.push_back({start, end, true});
    previous = end;
  }
  if (previous != text.size()) spans.push_back({previous, text.size(), false});
  return spans;
}

std::unique_ptr<Regex> PatternFromJson(const JsonView& pattern) {
  if (!pattern.IsObject() || pattern.Size() != 1) {
    pattern.Fail("expected an object with one member, \"String\" or \"Regex\"");
  }
  try {
    if (pattern.Has("String")) return Regex::FromLiteral(pattern["String"].String());
    if (pattern.Has("Regex")) return Regex::FromOniguruma(pattern["Regex"].String());
  } catch (const TokenizerError& e) {
    if (std::string_view(e.what()).starts_with(pattern.file())) throw;
    pattern.Fail(e.what());
  }
  pattern.Fail("expected an object with one member, \"String\" or \"Regex\"");
}

}  // namespace modelgrow::hf
