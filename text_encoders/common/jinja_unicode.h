// The parts of Python's str model the interpreter needs: strings are UTF-8 bytes here but
// Python indexes, slices, measures and case-maps them by code point.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace modelgrow::jinja::unicode {

// Invalid UTF-8 decodes to U+FFFD, one per bad byte; JSON input is valid UTF-8, so this only
// matters for byte strings built by hand.
std::u32string Decode(std::string_view text);
std::string Encode(std::u32string_view text);
void AppendUtf8(std::string& out, char32_t code_point);

bool IsAscii(std::string_view text);
size_t CodePointCount(std::string_view text);

// Python's str.isspace() (also what `\s` matches in Python's re module).
bool IsSpace(char32_t c);
// Python's str.splitlines() boundaries (\n, \r, \v, \f, \x1c-\x1e, \x85, U+2028, U+2029).
bool IsLineBreak(char32_t c);

// Case mapping covers ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic and fullwidth Latin;
// code points elsewhere map to themselves (Python maps all of Unicode).
char32_t ToUpper(char32_t c);
char32_t ToLower(char32_t c);
bool IsCased(char32_t c);
bool IsLower(char32_t c);
bool IsUpper(char32_t c);
bool IsDigit(char32_t c);
bool IsAlpha(char32_t c);
// Python's `\w` for str patterns: letters, digits and underscore.
bool IsWordChar(char32_t c);
// Whether repr() shows the character as itself rather than as an escape.
bool IsPrintable(char32_t c);

// str.upper() / str.lower(); upper() turns U+00DF (sharp s) into "SS" as Python does.
std::string Upper(std::string_view text);
std::string Lower(std::string_view text);

}  // namespace modelgrow::jinja::unicode
