#include "modelgrow/io/gif.h"

#include <algorithm>
#include <array>
#include <unordered_map>
#include <vector>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/sdk/errors.h"

namespace modelgrow {

namespace {

using Rgb = std::array<uint8_t, 3>;

uint32_t Packed(const uint8_t* p) { return (uint32_t{p[0]} << 16) | (uint32_t{p[1]} << 8) | p[2]; }

// The 5-bit-per-channel cell of a colour: r, g, b in bits 10-14, 5-9, 0-4.
int CellOf(const uint8_t* p) { return ((p[0] >> 3) << 10) | ((p[1] >> 3) << 5) | (p[2] >> 3); }

// One video's colours in one cell: a count and a colour sum.
struct ColourCell {
  int cell = 0;
  int64_t count = 0;
  std::array<int64_t, 3> sum{};
  Rgb Mean() const {
    Rgb c;
    for (int k = 0; k < 3; ++k) c[k] = static_cast<uint8_t>((sum[k] + count / 2) / count);
    return c;
  }
  int Level(int channel) const { return (cell >> (10 - 5 * channel)) & 31; }
};

// A box of cells in the median cut: cells[begin, end).
struct CutBox {
  size_t begin, end;
  double error;  // count-weighted squared distance of its cells to its mean: what a split saves
};

double BoxError(const std::vector<ColourCell>& cells, size_t begin, size_t end) {
  int64_t n = 0;
  std::array<double, 3> sum{}, squares{};
  for (size_t i = begin; i < end; ++i) {
    n += cells[i].count;
    const Rgb mean = cells[i].Mean();
    for (int k = 0; k < 3; ++k) {
      sum[k] += static_cast<double>(cells[i].count) * mean[k];
      squares[k] += static_cast<double>(cells[i].count) * mean[k] * mean[k];
    }
  }
  double error = 0;
  for (int k = 0; k < 3; ++k) error += squares[k] - sum[k] * sum[k] / static_cast<double>(n);
  return error;
}

// Splits the box along its widest channel where half its pixels lie on either side.
std::pair<CutBox, CutBox> Split(std::vector<ColourCell>& cells, const CutBox& box) {
  int channel = 0, widest = -1;
  for (int k = 0; k < 3; ++k) {
    auto [lo, hi] = std::minmax_element(
        cells.begin() + box.begin, cells.begin() + box.end,
        [k](const ColourCell& a, const ColourCell& b) { return a.Level(k) < b.Level(k); });
    if (hi->Level(k) - lo->Level(k) > widest) widest = hi->Level(k) - lo->Level(k), channel = k;
  }
  std::sort(cells.begin() + box.begin, cells.begin() + box.end,
            [channel](const ColourCell& a, const ColourCell& b) {
              return a.Level(channel) < b.Level(channel);
            });
  int64_t total = 0, below = 0;
  for (size_t i = box.begin; i < box.end; ++i) total += cells[i].count;
  size_t cut = box.begin + 1;
  while (cut + 1 < box.end && (below += cells[cut - 1].count) * 2 < total) ++cut;
  return {CutBox{box.begin, cut, BoxError(cells, box.begin, cut)},
          CutBox{cut, box.end, BoxError(cells, cut, box.end)}};
}

// At most 256 colours for a whole video, and each pixel's index among them. A fixed palette turns
// a flat grey that sits between two of its levels into speckles of green and purple; a palette of
// the video's own colours keeps such a colour whole and does not flicker from frame to frame.
class VideoPalette {
 public:
  // `rgb`: `pixels` packed r, g, b bytes.
  VideoPalette(const uint8_t* rgb, int64_t pixels) {
    for (int64_t p = 0; p < pixels && exact_.size() <= 256; ++p) {
      exact_.try_emplace(Packed(rgb + 3 * p), 0);
    }
    if (exact_.size() <= 256) {
      for (auto& [packed, index] : exact_) {
        index = static_cast<uint8_t>(colours_.size());
        colours_.push_back(Rgb{static_cast<uint8_t>(packed >> 16),
                               static_cast<uint8_t>(packed >> 8), static_cast<uint8_t>(packed)});
      }
      return;
    }
    exact_.clear();
    MedianCut(rgb, pixels);
  }

  const std::vector<Rgb>& colours() const { return colours_; }

  uint8_t IndexOf(const uint8_t* p) const {
    return cell_index_.empty() ? exact_.at(Packed(p)) : cell_index_[CellOf(p)];
  }

 private:
  void MedianCut(const uint8_t* rgb, int64_t pixels) {
    std::vector<ColourCell> grid(1 << 15);
    for (int64_t p = 0; p < pixels; ++p) {
      const uint8_t* c = rgb + 3 * p;
      ColourCell& cell = grid[CellOf(c)];
      ++cell.count;
      for (int k = 0; k < 3; ++k) cell.sum[k] += c[k];
    }
    std::vector<ColourCell> cells;
    for (int i = 0; i < (1 << 15); ++i) {
      if (grid[i].count == 0) continue;
      grid[i].cell = i;
      cells.push_back(grid[i]);
    }
    // Always split the box whose pixels lie farthest from its mean.
    std::vector<CutBox> boxes{{0, cells.size(), BoxError(cells, 0, cells.size())}};
    while (boxes.size() < 256) {
      auto worst =
          std::max_element(boxes.begin(), boxes.end(), [](const CutBox& a, const CutBox& b) {
            return (a.end - a.begin > 1 ? a.error : -1) < (b.end - b.begin > 1 ? b.error : -1);
          });
      if (worst->end - worst->begin < 2) break;
      auto [low, high] = Split(cells, *worst);
      *worst = low;
      boxes.push_back(high);
    }
    for (const CutBox& box : boxes) {
      ColourCell merged;
      for (size_t i = box.begin; i < box.end; ++i) {
        merged.count += cells[i].count;
        for (int k = 0; k < 3; ++k) merged.sum[k] += cells[i].sum[k];
      }
      colours_.push_back(merged.Mean());
    }
    // Each cell takes the palette colour nearest its own mean, which may lie in a neighbouring box.
    cell_index_.assign(1 << 15, 0);
    for (const ColourCell& cell : cells) {
      const Rgb mean = cell.Mean();
      int best = 0, best_distance = 1 << 30;
      for (size_t j = 0; j < colours_.size(); ++j) {
        int distance = 0;
        for (int k = 0; k < 3; ++k)
          distance += (mean[k] - colours_[j][k]) * (mean[k] - colours_[j][k]);
        if (distance < best_distance) best_distance = distance, best = static_cast<int>(j);
      }
      cell_index_[cell.cell] = static_cast<uint8_t>(best);
    }
  }

  std::vector<Rgb> colours_;
  std::unordered_map<uint32_t, uint8_t> exact_;  // when the video has at most 256 colours
  std::vector<uint8_t> cell_index_;              // otherwise: by 5-bit cell
};

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

// GIF's variable-width LZW over `count` 8-bit indices.
void Lzw(const uint8_t* pixels, int64_t count, std::string* out) {
  constexpr int kMinCodeSize = 8;
  constexpr uint32_t kClear = 256, kEnd = 257;
  out->push_back(static_cast<char>(kMinCodeSize));
  BitWriter writer(out);
  std::unordered_map<uint32_t, uint32_t> table;
  uint32_t next = 258;
  int bits = 9;
  writer.Write(kClear, bits);
  uint32_t prefix = count == 0 ? 0 : pixels[0];
  for (int64_t i = 1; i < count; ++i) {
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
  if (count > 0) writer.Write(prefix, bits);
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
  // [T, H, W, 3] bytes; each pixel is looked up once, and its palette index is what is upscaled.
  at::Tensor rgb =
      ((video.clamp(-1, 1) + 1) * 127.5).round().to(at::kByte).permute({1, 2, 3, 0}).contiguous();
  const VideoPalette palette(rgb.data_ptr<uint8_t>(), rgb.numel() / 3);
  at::Tensor indices = at::empty({rgb.size(0), rgb.size(1), rgb.size(2)}, rgb.options());
  const uint8_t* pixels = rgb.data_ptr<uint8_t>();
  uint8_t* index = indices.data_ptr<uint8_t>();
  for (int64_t p = 0; p < indices.numel(); ++p) index[p] = palette.IndexOf(pixels + 3 * p);
  indices = indices.repeat_interleave(scale, 1).repeat_interleave(scale, 2).contiguous();
  const int64_t frames = indices.size(0), height = indices.size(1), width = indices.size(2);
  if (height > 65535 || width > 65535) throw InputError("video too large for a GIF");

  std::string out = "GIF89a";
  Put16(&out, static_cast<int>(width));
  Put16(&out, static_cast<int>(height));
  out.push_back(static_cast<char>(0xF7));  // global colour table of 256 entries
  out.push_back('\0');
  out.push_back('\0');
  for (int i = 0; i < 256; ++i) {
    const Rgb c = i < static_cast<int>(palette.colours().size()) ? palette.colours()[i] : Rgb{};
    out.append(reinterpret_cast<const char*>(c.data()), 3);
  }
  // Loop forever (NETSCAPE2.0 application extension).
  out += std::string("\x21\xFF\x0BNETSCAPE2.0\x03\x01\x00\x00\x00", 19);
  int delay = static_cast<int>(100.0 / std::max(1.0, options.fps) + 0.5);
  const uint8_t* data = indices.data_ptr<uint8_t>();
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
    Lzw(data + t * height * width, height * width, &out);
  }
  out.push_back(';');
  return out;
}

void WriteGif(const std::filesystem::path& file, const at::Tensor& video,
              const GifOptions& options) {
  WriteFileAtomic(file, EncodeGif(video, options));
}

}  // namespace modelgrow
