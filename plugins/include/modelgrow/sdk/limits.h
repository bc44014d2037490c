// Limits on sizes read from files, checked before any memory is reserved for them.
//
// A file downloaded from anywhere may claim any size: a safetensors header with a shape of
// [2^32, 2^32], an HDF5 dataspace of 2^60 values that stores nothing, a config.json with
// hidden_size = 2^40. Every reader multiplies such sizes only through CheckedProduct and bounds
// each with CheckLimit, so a hostile or damaged file is an InputError naming the file and the
// field, never an allocation of terabytes or a product that wrapped around to a small number.
//
// The limits are far above anything real (Open-Sora's STDiT3-XL has 1.1 B parameters, the largest
// Llama 405 B; a 1080p clip of 1000 frames is 6 G values) and far below what wraps int64.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace modelgrow::limits {

// Values in one tensor, dataset or decoded clip (64 GiB of float32).
inline constexpr int64_t kMaxElements = int64_t{1} << 34;
// One dimension of a tensor or dataset.
inline constexpr int64_t kMaxDimension = int64_t{1} << 32;
// Rank of a tensor or dataset.
inline constexpr int64_t kMaxRank = 32;
// Tensors in one safetensors file, samples in one shard.
inline constexpr int64_t kMaxCount = int64_t{1} << 24;
// Width and height of a video frame, in pixels (16K video is 15360 x 8640).
inline constexpr int64_t kMaxFrameSide = 16384;
// How much larger than the size its stream header states a decoded frame may be, in area, and
// the least a decoder is allowed whatever the header says (FFmpeg's MPEG-4 decoder asks for
// scratch space beyond the frame: a 64x48 stream failed with a bound of 50,000 pixels).
inline constexpr int64_t kMaxFrameGrowth = 4;
inline constexpr int64_t kMinDecodedPixels = int64_t{1} << 20;
// Bytes in one CSV record (a row, quoted newlines included).
inline constexpr int64_t kMaxCsvRecordBytes = int64_t{1} << 24;
// Nesting of tables and arrays in a manifest.
inline constexpr int64_t kMaxNesting = 64;
// Parameters of a model built from a config file.
inline constexpr int64_t kMaxParameters = int64_t{1} << 39;
// Model widths (hidden sizes, feed-forward sizes, vocabularies) and depths.
inline constexpr int64_t kMaxWidth = int64_t{1} << 20;
inline constexpr int64_t kMaxVocabulary = int64_t{1} << 24;
inline constexpr int64_t kMaxLayers = 1024;

// a * b, or nullopt when it overflows int64 or either is negative.
std::optional<int64_t> CheckedMultiply(int64_t a, int64_t b);
// The product of `dims` when every entry is in [0, kMaxDimension], the rank is at most kMaxRank
// and the product is at most `limit`; nullopt otherwise.
std::optional<int64_t> CheckedProduct(std::span<const int64_t> dims, int64_t limit = kMaxElements);
inline std::optional<int64_t> CheckedProduct(std::initializer_list<int64_t> dims,
                                             int64_t limit = kMaxElements) {
  return CheckedProduct(std::span<const int64_t>(dims.begin(), dims.size()), limit);
}

// Throws InputError "<where>: <field> is <value>, above the limit of <limit> <what>" when
// value > limit (and "... is negative" when value < 0); returns value otherwise.
int64_t CheckLimit(int64_t value, int64_t limit, std::string_view where, std::string_view field,
                   std::string_view what = "");
// The product of `dims` as CheckedProduct, or an InputError naming where, the field and the
// shape.
int64_t CheckElements(std::span<const int64_t> dims, std::string_view where, std::string_view field,
                      int64_t limit = kMaxElements);

// The most pixels a decoder may allocate for one frame of a stream whose header states
// `width` x `height` (FFmpeg's AVCodecContext::max_pixels): kMaxFrameGrowth times its area, both
// sides rounded up to 64 as decoders pad them, at least kMinDecodedPixels and at most
// kMaxFrameSide squared (that alone when the header states no size). FFmpeg checks it before it
// allocates and zeroes a frame: one damaged packet stating 37 megapixels in a 32x24 clip took 5 s
// and 780 MB under ASan (found by fuzz_video). A stream that changes size within the bound still
// decodes.
int64_t MaxDecodedPixels(int64_t width, int64_t height);
// What to add to a decoding error, since FFmpeg refuses a frame above that bound with a bare
// "Operation not permitted" and does not say the size it refused: " (a frame may have at most
// 1048576 pixels in a stream stating 32x24)"; empty when the stream states no size.
std::string DecodedFrameBoundNote(int64_t stated_width, int64_t stated_height);

}  // namespace modelgrow::limits
