#include "modelgrow/sdk/limits.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "modelgrow/sdk/errors.h"

namespace modelgrow::limits {

std::optional<int64_t> CheckedMultiply(int64_t a, int64_t b) {
  int64_t out = 0;
  if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &out)) return std::nullopt;
  return out;
}

int64_t MaxDecodedPixels(int64_t width, int64_t height) {
  const int64_t ceiling = kMaxFrameSide * kMaxFrameSide;
  if (width <= 0 || height <= 0 || width > kMaxFrameSide || height > kMaxFrameSide) return ceiling;
  const int64_t padded = (width + 63) / 64 * 64 * ((height + 63) / 64 * 64);
  return std::min(ceiling, std::max(kMinDecodedPixels, kMaxFrameGrowth * padded));
}

std::string DecodedFrameBoundNote(int64_t stated_width, int64_t stated_height) {
  const int64_t bound = MaxDecodedPixels(stated_width, stated_height);
  if (bound == kMaxFrameSide * kMaxFrameSide) return "";
  return fmt::format(" (a frame may have at most {} pixels in a stream stating {}x{})", bound,
                     stated_width, stated_height);
}

std::optional<int64_t> CheckedProduct(std::span<const int64_t> dims, int64_t limit) {
  if (static_cast<int64_t>(dims.size()) > kMaxRank) return std::nullopt;
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0 || d > kMaxDimension) return std::nullopt;
    std::optional<int64_t> next = CheckedMultiply(n, d);
    if (!next) return std::nullopt;
    n = *next;
  }
  // Checked after the loop: a zero anywhere makes an empty tensor of any other sizes.
  if (n > limit) return std::nullopt;
  return n;
}

int64_t CheckLimit(int64_t value, int64_t limit, std::string_view where, std::string_view field,
                   std::string_view what) {
  if (value < 0) throw InputError(fmt::format("{}: {} is negative ({})", where, field, value));
  if (value > limit) {
    throw InputError(fmt::format("{}: {} is {}, above the limit of {}{}{}", where, field, value,
                                 limit, what.empty() ? "" : " ", what));
  }
  return value;
}

int64_t CheckElements(std::span<const int64_t> dims, std::string_view where, std::string_view field,
                      int64_t limit) {
  if (std::optional<int64_t> n = CheckedProduct(dims, limit)) return *n;
  if (static_cast<int64_t>(dims.size()) > kMaxRank) {
    throw InputError(fmt::format("{}: {} has {} dimensions, above the limit of {}", where, field,
                                 dims.size(), kMaxRank));
  }
  for (int64_t d : dims) {
    if (d < 0) {
      throw InputError(fmt::format("{}: {} has a negative dimension in [{}]", where, field,
                                   fmt::join(dims, ", ")));
    }
  }
  throw InputError(fmt::format("{}: {} has shape [{}], above the limit of {} values", where, field,
                               fmt::join(dims, ", "), limit));
}

}  // namespace modelgrow::limits
