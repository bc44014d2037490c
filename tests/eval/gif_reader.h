// An independent GIF89a reader for tests: walks the block structure and decodes each frame's LZW
// data (variable code width, clear codes) into palette indices, so a test can check what an
// encoder wrote pixel by pixel. Throws std::runtime_error on anything malformed.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace modelgrow::testing {

struct GifFrame {
  int left = 0, top = 0, width = 0, height = 0;
  int delay_centiseconds = -1;   // from the graphic control extension before it (-1: none)
  std::vector<uint8_t> indices;  // width * height palette indices, row-major
};

struct GifImage {
  int width = 0, height = 0;
  std::vector<uint8_t> palette;  // global colour table, r g b per entry
  bool loops = false;            // NETSCAPE2.0 application extension present
  std::vector<GifFrame> frames;
};

namespace gif_detail {

class Reader {
 public:
  explicit Reader(const std::string& bytes) : bytes_(bytes) {}
  uint8_t Byte() {
    if (at_ >= bytes_.size()) throw std::runtime_error("GIF: unexpected end of file");
    return static_cast<uint8_t>(bytes_[at_++]);
  }
  int U16() {
    int lo = Byte();
    return lo | (Byte() << 8);
  }
  std::string Take(size_t n) {
    if (at_ + n > bytes_.size()) throw std::runtime_error("GIF: unexpected end of file");
    std::string s = bytes_.substr(at_, n);
    at_ += n;
    return s;
  }
  // Concatenated data sub-blocks up to the zero-length terminator.
  std::string SubBlocks() {
    std::string data;
    for (uint8_t n = Byte(); n != 0; n = Byte()) data += Take(n);
    return data;
  }
  bool AtEnd() const { return at_ == bytes_.size(); }

 private:
  const std::string& bytes_;
  size_t at_ = 0;
};

inline std::vector<uint8_t> DecodeLzw(const std::string& data, int min_code_size,
                                      size_t pixel_count) {
  if (min_code_size < 2 || min_code_size > 8) throw std::runtime_error("GIF: bad LZW code size");
  const int clear = 1 << min_code_size, end = clear + 1;
  std::vector<std::vector<uint8_t>> table;
  int bits = 0;
  auto reset = [&] {
    table.assign(static_cast<size_t>(end + 1), {});
    for (int i = 0; i < clear; ++i) table[i] = {static_cast<uint8_t>(i)};
    bits = min_code_size + 1;
  };
  reset();
  size_t bit_at = 0;
  auto read = [&]() -> int {
    int code = 0;
    for (int i = 0; i < bits; ++i, ++bit_at) {
      size_t byte = bit_at / 8;
      if (byte >= data.size()) throw std::runtime_error("GIF: LZW data ends without an end code");
      code |= ((static_cast<uint8_t>(data[byte]) >> (bit_at % 8)) & 1) << i;
    }
    return code;
  };
  std::vector<uint8_t> out;
  int previous = -1;
  bool ended = false;
  while (!ended) {
    int code = read();
    if (code == clear) {
      reset();
      previous = -1;
      continue;
    }
    if (code == end) {
      ended = true;
      break;
    }
    std::vector<uint8_t> entry;
    if (code < static_cast<int>(table.size()) && (code < clear || code > end)) {
      entry = table[code];
    } else if (code == static_cast<int>(table.size()) && previous >= 0) {
      entry = table[previous];
      entry.push_back(table[previous][0]);
    } else {
      throw std::runtime_error("GIF: LZW code " + std::to_string(code) + " is not in the table");
    }
    if (previous >= 0 && table.size() < 4096) {
      std::vector<uint8_t> added = table[previous];
      added.push_back(entry[0]);
      table.push_back(std::move(added));
      if (table.size() == (1u << bits) && bits < 12) ++bits;
    }
    out.insert(out.end(), entry.begin(), entry.end());
    previous = code;
  }
  if (out.size() != pixel_count) {
    throw std::runtime_error("GIF: frame decodes to " + std::to_string(out.size()) +
                             " pixels, expected " + std::to_string(pixel_count));
  }
  // What follows the end code is padding to the byte boundary: no further data.
  if ((bit_at + 7) / 8 != data.size()) throw std::runtime_error("GIF: data after the end code");
  return out;
}

}  // namespace gif_detail

inline GifImage ReadGif(const std::string& bytes) {
  gif_detail::Reader r(bytes);
  GifImage image;
  if (r.Take(6) != "GIF89a") throw std::runtime_error("GIF: no GIF89a signature");
  image.width = r.U16();
  image.height = r.U16();
  uint8_t flags = r.Byte();
  r.Byte();  // background colour index
  r.Byte();  // pixel aspect ratio
  if (flags & 0x80) {
    std::string table = r.Take(3u << ((flags & 7) + 1));
    image.palette.assign(table.begin(), table.end());
  }
  int pending_delay = -1;
  for (;;) {
    uint8_t block = r.Byte();
    if (block == 0x3B) break;  // trailer
    if (block == 0x21) {
      uint8_t label = r.Byte();
      if (label == 0xF9) {
        if (r.Byte() != 4) throw std::runtime_error("GIF: bad graphic control extension");
        r.Byte();
        pending_delay = r.U16();
        r.Byte();
        if (r.Byte() != 0) throw std::runtime_error("GIF: graphic control extension not closed");
      } else if (label == 0xFF) {
        std::string id = r.SubBlocks();
        if (id.rfind("NETSCAPE2.0", 0) == 0) image.loops = true;
      } else {
        r.SubBlocks();
      }
    } else if (block == 0x2C) {
      GifFrame frame;
      frame.left = r.U16();
      frame.top = r.U16();
      frame.width = r.U16();
      frame.height = r.U16();
      uint8_t frame_flags = r.Byte();
      if (frame_flags & 0x80) r.Take(3u << ((frame_flags & 7) + 1));
      int min_code_size = r.Byte();
      frame.indices = gif_detail::DecodeLzw(r.SubBlocks(), min_code_size,
                                            static_cast<size_t>(frame.width) * frame.height);
      frame.delay_centiseconds = pending_delay;
      pending_delay = -1;
      image.frames.push_back(std::move(frame));
    } else {
      throw std::runtime_error("GIF: unknown block " + std::to_string(block));
    }
  }
  if (!r.AtEnd()) throw std::runtime_error("GIF: bytes after the trailer");
  return image;
}

}  // namespace modelgrow::testing
