#include "common/jinja_strings.h"

#include <algorithm>

#include "common/jinja_error.h"
#include "common/jinja_unicode.h"

namespace modelgrow::jinja::pystr {

namespace {

using unicode::Decode;
using unicode::Encode;

void ClampRange(int64_t size, std::optional<int64_t> start, std::optional<int64_t> end, int64_t& lo,
                int64_t& hi) {
  lo = start.value_or(0);
  hi = end.value_or(size);
  if (lo < 0) lo = std::max<int64_t>(lo + size, 0);
  if (hi < 0) hi = std::max<int64_t>(hi + size, 0);
  lo = std::min(lo, size);
  hi = std::min(hi, size);
}

}  // namespace

std::string Strip(std::string_view text, const std::optional<std::string>& chars, StripSide side) {
  std::u32string s = Decode(text);
  std::u32string set = chars ? Decode(*chars) : std::u32string();
  auto strip = [&](char32_t c) {
    return chars ? set.find(c) != std::u32string::npos : unicode::IsSpace(c);
  };
  size_t begin = 0;
  size_t end = s.size();
  if (side != StripSide::kRight) {
    while (begin < end && strip(s[begin])) ++begin;
  }
  if (side != StripSide::kLeft) {
    while (end > begin && strip(s[end - 1])) --end;
  }
  return Encode(std::u32string_view(s).substr(begin, end - begin));
}

std::vector<std::string> Split(std::string_view text, const std::optional<std::string>& sep,
                               int64_t maxsplit) {
  std::vector<std::string> out;
  if (sep) {
    if (sep->empty()) throw EvalError("empty separator");
    size_t pos = 0;
    while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
      size_t found = text.find(*sep, pos);
      if (found == std::string_view::npos) break;
      out.emplace_back(text.substr(pos, found - pos));
      pos = found + sep->size();
    }
    out.emplace_back(text.substr(pos));
    return out;
  }
  std::u32string s = Decode(text);
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && unicode::IsSpace(s[i])) ++i;
    if (i >= s.size()) break;
    if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
      size_t end = s.size();
      while (end > i && unicode::IsSpace(s[end - 1])) --end;
      out.push_back(Encode(std::u32string_view(s).substr(i, end - i)));
      return out;
    }
    size_t j = i;
    while (j < s.size() && !unicode::IsSpace(s[j])) ++j;
    out.push_back(Encode(std::u32string_view(s).substr(i, j - i)));
    i = j;
  }
  return out;
}

std::vector<std::string> RSplit(std::string_view text, const std::optional<std::string>& sep,
                                int64_t maxsplit) {
  std::vector<std::string> out;
  if (sep) {
    if (sep->empty()) throw EvalError("empty separator");
    size_t end = text.size();
    while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
      if (end < sep->size()) break;
      size_t found = text.rfind(*sep, end - sep->size());
      if (found == std::string_view::npos) break;
      out.emplace_back(text.substr(found + sep->size(), end - found - sep->size()));
      end = found;
    }
    out.emplace_back(text.substr(0, end));
    std::reverse(out.begin(), out.end());
    return out;
  }
  std::u32string s = Decode(text);
  size_t j = s.size();
  while (j > 0) {
    while (j > 0 && unicode::IsSpace(s[j - 1])) --j;
    if (j == 0) break;
    if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
      size_t begin = 0;
      while (begin < j && unicode::IsSpace(s[begin])) ++begin;
      out.push_back(Encode(std::u32string_view(s).substr(begin, j - begin)));
      break;
    }
    size_t i = j;
    while (i > 0 && !unicode::IsSpace(s[i - 1])) --i;
    out.push_back(Encode(std::u32string_view(s).substr(i, j - i)));
    j = i;
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::vector<std::string> SplitLines(std::string_view text, bool keepends) {
  std::u32string s = Decode(text);
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = i;
    while (j < s.size() && !unicode::IsLineBreak(s[j])) ++j;
    size_t eol = j;
    if (j < s.size()) {
      eol = (s[j] == '\r' && j + 1 < s.size() && s[j + 1] == '\n') ? j + 2 : j + 1;
    }
    out.push_back(Encode(std::u32string_view(s).substr(i, (keepends ? eol : j) - i)));
    i = eol;
  }
  return out;
}

std::string Replace(std::string_view text, std::string_view old_text, std::string_view new_text,
                    int64_t count) {
  std::string out;
  if (old_text.empty()) {
    // Python inserts the replacement before every code point and at the end.
    std::u32string s = Decode(text);
    int64_t done = 0;
    for (char32_t c : s) {
      if (count < 0 || done < count) {
        out += new_text;
        ++done;
      }
      unicode::AppendUtf8(out, c);
    }
    if (count < 0 || done < count) out += new_text;
    return out;
  }
  size_t pos = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    size_t found = text.find(old_text, pos);
    if (found == std::string_view::npos) break;
    out += text.substr(pos, found - pos);
    out += new_text;
    pos = found + old_text.size();
    ++done;
  }
  out += text.substr(pos);
  return out;
}

std::string Title(std::string_view text) {
  std::string out;
  bool previous_cased = false;
  for (char32_t c : Decode(text)) {
    unicode::AppendUtf8(out, previous_cased ? unicode::ToLower(c) : unicode::ToUpper(c));
    previous_cased = unicode::IsCased(c);
  }
  return out;
}

std::string Capitalize(std::string_view text) {
  std::u32string s = Decode(text);
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    unicode::AppendUtf8(out, i == 0 ? unicode::ToUpper(s[i]) : unicode::ToLower(s[i]));
  }
  return out;
}

std::string SwapCase(std::string_view text) {
  std::string out;
  for (char32_t c : Decode(text)) {
    unicode::AppendUtf8(out, unicode::IsUpper(c) ? unicode::ToLower(c) : unicode::ToUpper(c));
  }
  return out;
}

std::string Justify(std::string_view text, int64_t width, std::string_view fill, char align) {
  if (unicode::CodePointCount(fill) != 1) {
    throw EvalError("The fill character must be exactly one character long");
  }
  int64_t length = static_cast<int64_t>(unicode::CodePointCount(text));
  if (width <= length) return std::string(text);
  int64_t missing = width - length;
  int64_t left = 0;
  if (align == '>') {
    left = missing;
  } else if (align == '^') {
    // CPython's str.center puts the odd extra space on the left when the width is odd.
    left = missing / 2 + (missing & width & 1);
  }
  std::string out;
  for (int64_t i = 0; i < left; ++i) out += fill;
  out += text;
  for (int64_t i = 0; i < missing - left; ++i) out += fill;
  return out;
}

int64_t Find(std::string_view text, std::string_view sub, std::optional<int64_t> start,
             std::optional<int64_t> end, bool reverse) {
  std::u32string s = Decode(text);
  std::u32string needle = Decode(sub);
  int64_t lo;
  int64_t hi;
  ClampRange(static_cast<int64_t>(s.size()), start, end, lo, hi);
  if (hi - lo < static_cast<int64_t>(needle.size())) return -1;
  std::u32string_view window = std::u32string_view(s).substr(lo, hi - lo);
  size_t found = reverse ? window.rfind(needle) : window.find(needle);
  return found == std::u32string_view::npos ? -1 : lo + static_cast<int64_t>(found);
}

int64_t Count(std::string_view text, std::string_view sub) {
  if (sub.empty()) return static_cast<int64_t>(unicode::CodePointCount(text)) + 1;
  int64_t n = 0;
  size_t pos = 0;
  while ((pos = text.find(sub, pos)) != std::string_view::npos) {
    ++n;
    pos += sub.size();
  }
  return n;
}

std::string Substring(std::string_view text, std::optional<int64_t> start,
                      std::optional<int64_t> end) {
  std::u32string s = Decode(text);
  int64_t lo;
  int64_t hi;
  ClampRange(static_cast<int64_t>(s.size()), start, end, lo, hi);
  if (hi <= lo) return "";
  return Encode(std::u32string_view(s).substr(lo, hi - lo));
}

bool IsAll(std::string_view text, bool (*predicate)(char32_t)) {
  if (text.empty()) return false;
  for (char32_t c : Decode(text)) {
    if (!predicate(c)) return false;
  }
  return true;
}

bool IsLowerText(std::string_view text) {
  bool cased = false;
  for (char32_t c : Decode(text)) {
    if (unicode::IsUpper(c)) return false;
    if (unicode::IsLower(c)) cased = true;
  }
  return cased;
}

bool IsUpperText(std::string_view text) {
  bool cased = false;
  for (char32_t c : Decode(text)) {
    if (unicode::IsLower(c)) return false;
    if (unicode::IsUpper(c)) cased = true;
  }
  return cased;
}

}  // namespace modelgrow::jinja::pystr
