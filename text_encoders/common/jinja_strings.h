// Python's str algorithms on UTF-8 text, shared by string methods and filters.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace modelgrow::jinja::pystr {

enum class StripSide { kBoth, kLeft, kRight };
// str.strip / lstrip / rstrip; `chars` absent strips whitespace.
std::string Strip(std::string_view text, const std::optional<std::string>& chars, StripSide side);
// str.split / rsplit; `sep` absent splits on whitespace runs. maxsplit < 0 means no limit.
std::vector<std::string> Split(std::string_view text, const std::optional<std::string>& sep,
                               int64_t maxsplit);
std::vector<std::string> RSplit(std::string_view text, const std::optional<std::string>& sep,
                                int64_t maxsplit);
std::vector<std::string> SplitLines(std::string_view text, bool keepends);
// str.replace; count < 0 replaces all.
std::string Replace(std::string_view text, std::string_view old_text, std::string_view new_text,
                    int64_t count);
std::string Title(std::string_view text);
std::string Capitalize(std::string_view text);
std::string SwapCase(std::string_view text);
// str.center / ljust / rjust with a one-character fill.
std::string Justify(std::string_view text, int64_t width, std::string_view fill, char align);
// str.find / rfind over code points in [start, end); -1 when absent.
int64_t Find(std::string_view text, std::string_view sub, std::optional<int64_t> start,
             std::optional<int64_t> end, bool reverse);
// str.count of non-overlapping occurrences.
int64_t Count(std::string_view text, std::string_view sub);
// Code-point substring [start, end) after Python's index normalization.
std::string Substring(std::string_view text, std::optional<int64_t> start,
                      std::optional<int64_t> end);

bool IsAll(std::string_view text, bool (*predicate)(char32_t));
bool IsLowerText(std::string_view text);
bool IsUpperText(std::string_view text);

}  // namespace modelgrow::jinja::pystr
