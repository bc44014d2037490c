#include "modelgrow/io/gif.h"

#include <array>
#include <unordered_map>
#include <vector>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/sdk/errors.h"

namespace modelgrow {

namespace {

// 6 red x 7 green x 6 blue levels: an even palette that needs no per-video quantisation.
constexpr int kRed = 6, kGreen = 7, kBlue = 6;

uint8_t PaletteIndex(uint8_t r, uint8_t g, uint8_t b) {
  int ri = (r * (kRed - 1) + 127) / 255, gi = (g * (kGreen - 1) + 127) / 255,
      bi = (b * (kBlue - 1) + 127) / 255;
  return static_cast<uint8_t>((ri * kGreen + gi) * kBlue + bi);
}

class BitWriter {
 public:
  explicit BitWriter(std::string* out) : out_(out) {}
  void Write(uint32_t code, int bits) {
    buffer_ |= code << count_;
    count_ += bits;
    while (count_ >= 8) {
      Byte(static_cast<uint8_t>(buffer_ & 0xff));
      buffer_ >>= 8;
      count_ -= 8;
    }
  }
  void Flush() {
    if (count_ > 0) Byte(static_cast<uint8_t>(buffer_ & 0xff));
    buffer_ = 0;
    count_ = 0;
    if (!block_.empty()) EmitBlock();
    out_->push_back('\0');  // block terminator
  }

 private:
  void Byte(uint8_t b) {
    block_.push_back(static_cast<char>(b));
    if (block_.size() == 255) EmitBlock();
  }
  void EmitBlock() {
    out_->push_back(static_cast<char>(block_.size()));
    out_->append(block_);
    block_.clear();
  }
  std::string* out_;
  std::string block_;
  uint32_t buffer_ = 0;
  int count_ = 0;
};

// GIF's variable-width LZW over 8-bit indices.
void Lzw(const std::vector<uint8_t>& pixels, std::string* out) {
  constexpr int kMinCodeSize = 8;
  constexpr uint32_t kClear = 256, kEnd = 257;
  out->push_back(static_cast<char>(kMinCodeSize));
  BitWriter writer(out);
  std::unordered_map<uint32_t, uint32_t> table;
  uint32_t next = 258;
  int bits = 9;
  writer.Write(kClear, bits);
  uint32_t prefix = pixels.empty() ? 0 : pixels[0];
  for (size_t i = 1; i < pixels.size(); ++i) {
    uint32_t key = (prefix << 8) | pixels[i];
    auto it = table.find(key);
    if (it != table.end()) {
      prefix = it->second;
      continue;
    }
    writer.Write(prefix, bits);
    if (next < 4096) {
      table[key] = next++;
      if (next > (1u << bits) && bits < 12) ++bits;
    } else {
      writer.Write(kClear, bits);
      table.clear();
      next = 258;
      bits = 9;
    }
    prefix = pixels[i];
  }
  if (!pixels.empty()) writer.Write(prefix, bits);
  writer.Write(kEnd, bits);
  writer.Flush();
}

void Put16(std::string* out, int v) {
  out->push_back(static_cast<char>(v & 0xff));
  out->push_back(static_cast<char>((v >> 8) & 0xff));
}

}  // namespace

std::string EncodeGif(const at::Tensor& video_in, const GifOptions& options) {
  if (video_in.dim() != 4 || (video_in.size(0) != 3 && video_in.size(0) != 1)) {
    throw InputError(
        fmt::format("a GIF needs a [3 or 1, T, H, W] video, got {} dims", video_in.dim()));
  }
  at::Tensor video = video_in.detach().to(at::kCPU, at::kFloat);
  if (video.size(0) == 1) video = video.expand({3, -1, -1, -1});
  const int scale = std::max(1, options.scale);
  // [T, H*s, W*s, 3] bytes.
  at::Tensor rgb = ((video.clamp(-1, 1) + 1) * 127.5).round().to(at::kByte).permute({1, 2, 3, 0});
  rgb = rgb.repeat_interleave(scale, 1).repeat_interleave(scale, 2).contiguous();
  const int64_t frames = rgb.size(0), height = rgb.size(1), width = rgb.size(2);
  if (height > 65535 || width > 65535) throw InputError("video too large for a GIF");

  std::string out = "GIF89a";
  Put16(&out, static_cast<int>(width));
  Put16(&out, static_cast<int>(height));
  out.push_back(static_cast<char>(0xF7));  // global colour table of 256 entries
  out.push_back('\0');
  out.push_back('\0');
  for (int i = 0; i < 256; ++i) {
    int r = i / (kGreen * kBlue), g = (i / kBlue) % kGreen, b = i % kBlue;
    bool used = i < kRed * kGreen * kBlue;
    out.push_back(static_cast<char>(used ? r * 255 / (kRed - 1) : 0));
    out.push_back(static_cast<char>(used ? g * 255 / (kGreen - 1) : 0));
    out.push_back(static_cast<char>(used ? b * 255 / (kBlue - 1) : 0));
  }
  // Loop forever (NETSCAPE2.0 application extension).
  out += std::string("\x21\xFF\x0BNETSCAPE2.0\x03\x01\x00\x00\x00", 19);
  int delay = static_cast<int>(100.0 / std::max(1.0, options.fps) + 0.5);
  const uint8_t* data = rgb.data_ptr<uint8_t>();
  std::vector<uint8_t> indices(static_cast<size_t>(height * width));
  for (int64_t t = 0; t < frames; ++t) {
    out += std::string("\x21\xF9\x04\x04", 4);  // graphic control: disposal "do not dispose"
    Put16(&out, delay);
    out.push_back('\0');
    out.push_back('\0');
    out.push_back(',');  // image descriptor
    Put16(&out, 0);
    Put16(&out, 0);
    Put16(&out, static_cast<int>(width));
    Put16(&out, static_cast<int>(height));
    out.push_back('\0');
    const uint8_t* frame = data + t * height * width * 3;
    for (int64_t p = 0; p < height * width; ++p) {
      indices[p] = PaletteIndex(frame[3 * p], frame[3 * p + 1], frame[3 * p + 2]);
    }
    Lzw(indices, &out);
  }
  out.push_back(';');
  return out;
}

void WriteGif(const std::filesystem::path& file, const at::Tensor& video,
              const GifOptions& options) {
  WriteFileAtomic(file, EncodeGif(video, options));
}

}  // namespace modelgrow
