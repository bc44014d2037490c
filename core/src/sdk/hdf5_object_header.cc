#include "hdf5_object_header.h"

#include <cstring>
#include <deque>
#include <iterator>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace modelgrow::hdf5 {
namespace {

// Message types and datatype classes of the HDF5 file format specification (section IV.A).
constexpr unsigned kDatatypeMessage = 0x03;
constexpr unsigned kOldFillValueMessage = 0x04;
constexpr unsigned kFillValueMessage = 0x05;
constexpr unsigned kFilterPipelineMessage = 0x0B;
constexpr unsigned kContinuationMessage = 0x10;
constexpr unsigned kAttributeMessage = 0x0C;
constexpr unsigned kVariableLengthClass = 9;
constexpr unsigned kStringVariant = 1;  // of a variable-length type: a string, not a sequence
// Bounds on the walk, so that a header whose continuations form a cycle ends.
constexpr int kMaxBlocks = 256;
// Datatypes nest (compound members, enumeration bases, arrays); real ones a few levels deep.
constexpr int kMaxTypeDepth = 32;

uint64_t Little(const unsigned char* p, size_t bytes) {
  uint64_t v = 0;
  for (size_t i = bytes; i-- > 0;) v = (v << 8) | p[i];
  return v;
}

uint64_t Pad8(uint64_t n) { return (n + 7) / 8 * 8; }

// Why the bits a number's datatype places (its properties at `p`) do not fit its `element_size`
// bytes, or "". HDF5 1.10 converts numbers by these bit positions unchecked: a 1-byte mask value
// whose bit offset said 65,280 made H5T__conv_i_i read 8 KB past it (found by fuzz_hdf5_shard).
std::string BitsProblem(unsigned type_class, uint64_t class_bits, uint64_t element_size,
                        const unsigned char* p) {
  const uint64_t offset = Little(p, 2), precision = Little(p + 2, 2);
  const char* plural = element_size == 1 ? "" : "s";
  // Precision has 16 bits: no number is wider than 8 KB.
  if (element_size == 0 || element_size > 8 * 1024)
    return fmt::format("of {} byte{} (1 to 8,192)", element_size, plural);
  if (precision == 0 || offset + precision > 8 * element_size) {
    return fmt::format("whose {} bits from bit {} do not fit its {} byte{}", precision, offset,
                       element_size, plural);
  }
  if (type_class != 1) return "";
  const uint64_t sign = (class_bits >> 8) & 0xFF, exponent_at = p[4], exponent_bits = p[5],
                 mantissa_at = p[6], mantissa_bits = p[7];
  if (sign >= precision || exponent_bits == 0 || exponent_at + exponent_bits > precision ||
      mantissa_at + mantissa_bits > precision) {
    return fmt::format(
        "whose sign (bit {}), exponent (bits {} to {}) or mantissa (bits {} to {}) do not fit its "
        "{} bits",
        sign, exponent_at, exponent_at + exponent_bits, mantissa_at, mantissa_at + mantissa_bits,
        precision);
  }
  return "";
}

// Why the datatype encoded in the `size` bytes at `t` cannot be decoded safely, or "", with the
// bytes it takes in `used`. HDF5 1.10 decodes a datatype bounded by nothing but what it states:
// names of compound and enumeration members up to their NUL, member and base types recursively,
// enumeration values by count times size. An attribute whose string type had turned into an
// enumeration of 257 members made it read past the object header (heap-buffer-overflow in
// strdup; found by fuzz_hdf5_shard). Laid out as the file format specification's datatype message
// (section IV.A.2.d), versions 1 to 3.
std::string DatatypeProblem(const unsigned char* t, uint64_t size, uint64_t& used, int depth = 0) {
  if (depth > kMaxTypeDepth) return fmt::format("types nested more than {} deep", kMaxTypeDepth);
  if (size < 8) return fmt::format("a datatype in {} bytes (at least 8)", size);
  const unsigned type_class = t[0] & 0x0F, version = t[0] >> 4;
  const uint64_t bits = Little(t + 1, 3), element_size = Little(t + 4, 4);
  uint64_t at = 8;
  auto skip = [&](uint64_t n) {
    if (n > size - at) return false;
    at += n;
    return true;
  };
  // A name ending in NUL, padded to 8 bytes before version 3.
  auto skip_name = [&] {
    const void* nul = std::memchr(t + at, 0, size - at);
    if (nul == nullptr) return false;
    const uint64_t length = static_cast<const unsigned char*>(nul) - (t + at) + 1;
    return skip(version < 3 ? Pad8(length) : length);
  };
  auto skip_type = [&](std::string& problem, uint64_t* element = nullptr) {
    uint64_t taken = 0;
    problem = DatatypeProblem(t + at, size - at, taken, depth + 1);
    if (!problem.empty()) return false;
    if (element != nullptr) *element = Little(t + at + 4, 4);
    at += taken;
    return true;
  };
  static constexpr const char* kClassNames[] = {
      "a fixed-point",  "a floating-point",  "a time",     "a string",
      "a bitfield",     "an opaque",         "a compound", "a reference",
      "an enumeration", "a variable-length", "an array"};
  if (type_class >= std::size(kClassNames))
    return fmt::format("a datatype of class {}, which the format does not define", type_class);
  const std::string overrun = fmt::format("{} datatype whose description overruns its {} bytes",
                                          kClassNames[type_class], size);
  std::string inner;
  switch (type_class) {
    case 0:  // fixed-point: bit offset and precision
    case 4:  // bitfield: the same
    case 1:  // floating-point: the same, then the exponent's and mantissa's bits, and a bias
    {
      if (!skip(type_class == 1 ? 12 : 4)) return overrun;
      if (std::string problem = BitsProblem(type_class, bits, element_size, t + 8);
          !problem.empty())
        return fmt::format("{} datatype {}", kClassNames[type_class], problem);
      break;
    }
    case 2:  // time: precision
      if (!skip(2)) return overrun;
      break;
    case 3:  // string
    case 7:  // reference
      break;
    case 5:  // opaque: a tag of the length the class bits give
      if (!skip(bits & 0xFF)) return overrun;
      break;
    case 6: {  // compound: members of a name, an offset (and dimensions in version 1), a type
      const uint64_t members = bits & 0xFFFF;
      const uint64_t offset_size = version < 3               ? 4
                                   : element_size < 1u << 8  ? 1
                                   : element_size < 1u << 16 ? 2
                                   : element_size < 1u << 24 ? 3
                                                             : 4;
      for (uint64_t i = 0; i < members; ++i) {
        if (!skip_name() || !skip(offset_size) || (version == 1 && !skip(28))) return overrun;
        if (!skip_type(inner)) return inner;
      }
      break;
    }
    case 8: {  // enumeration: a base type, then the members' names, then their values
      const uint64_t members = bits & 0xFFFF;
      uint64_t base_size = 0;
      if (!skip_type(inner, &base_size)) return inner;
      for (uint64_t i = 0; i < members; ++i)
        if (!skip_name()) return overrun;
      if (base_size > 0 && members > (size - at) / base_size) return overrun;
      at += members * base_size;
      // HDF5 decodes the values by the base type's size and copies them by the enumeration's
      // (a mask's enumeration stating 10 MB values over a 1-byte base: H5T_copy read 10 MB past
      // its buffer; found by fuzz_hdf5_shard).
      if (element_size != base_size) {
        return fmt::format("an enumeration of {}-byte values over a base type of {} bytes",
                           element_size, base_size);
      }
      break;
    }
    case 9:  // variable-length: a base type
      if (!skip_type(inner)) return inner;
      break;
    case 10: {  // array: a rank, its dimensions (and a permutation before version 3), a base type
      if (!skip(1)) return overrun;
      const uint64_t rank = t[at - 1];
      if (!skip(version < 3 ? 3 + 8 * rank : 4 * rank)) return overrun;
      if (!skip_type(inner)) return inner;
      break;
    }
  }
  used = at;
  return "";
}

// Why the filter pipeline message in the `size` bytes at `m` cannot be decoded safely, or "".
// HDF5 1.10 decodes each filter's name up to its NUL and its client data by the count it states,
// bounded by nothing but that count (up to 65,535 four-byte values). Laid out as the file format
// specification's filter pipeline message (section IV.A.2.l), versions 1 and 2.
std::string FilterPipelineProblem(const unsigned char* m, uint64_t size) {
  if (size < 2) return fmt::format("a filter pipeline message of {} bytes", size);
  const unsigned version = m[0], filters = m[1];
  if (version != 1 && version != 2) return "";  // HDF5 refuses it
  const std::string overrun =
      fmt::format("a filter pipeline whose {} filters overrun its {} bytes", filters, size);
  uint64_t at = version == 1 ? 8 : 2;
  for (unsigned i = 0; i < filters; ++i) {
    if (at + 2 > size) return overrun;
    const uint64_t id = Little(m + at, 2);
    at += 2;
    uint64_t name_length = 0;
    if (version == 1 || id >= 256) {
      if (at + 2 > size) return overrun;
      name_length = Little(m + at, 2);
      at += 2;
    }
    if (at + 4 > size) return overrun;
    const uint64_t values = Little(m + at + 2, 2);
    at += 4;
    if (name_length > size - at) return overrun;
    if (name_length > 0 && std::memchr(m + at, 0, name_length) == nullptr)
      return fmt::format("filter {}'s name does not end within its {} bytes", id, name_length);
    at += name_length;
    const uint64_t data = 4 * values + (version == 1 && values % 2 == 1 ? 4 : 0);
    if (data > size - at) {
      return fmt::format("filter {} states {} client data values, more than its message holds", id,
                         values);
    }
    at += data;
  }
  return "";
}

// Why the fill value message (of `type`, old or new) in the `size` bytes at `m` cannot be decoded
// safely, or "". HDF5 1.10 copies the value by the size it states, from wherever the message
// ends. Laid out as the file format specification's fill value messages (section IV.A.2.f, g).
std::string FillValueProblem(unsigned type, const unsigned char* m, uint64_t size) {
  uint64_t at = 0;
  if (type == kFillValueMessage) {
    if (size < 1) return "a fill value message of 0 bytes";
    const unsigned version = m[0];
    bool defined = false;
    if (version == 1 || version == 2) {
      if (size < 4) return fmt::format("a fill value message of {} bytes", size);
      defined = version == 1 || m[3] != 0;
      at = 4;
    } else if (version == 3) {
      if (size < 2) return fmt::format("a fill value message of {} bytes", size);
      defined = (m[1] & 0x20) != 0;
      at = 2;
    } else {
      return "";  // HDF5 refuses it
    }
    if (!defined) return "";
  }
  if (at + 4 > size) return fmt::format("a fill value message of {} bytes", size);
  const uint64_t value = Little(m + at, 4);
  if (value > size - at - 4) {
    return fmt::format("a fill value of {} bytes in a message of {}", value, size);
  }
  return "";
}

// One attribute message's problem, or "".
std::string AttributeProblem(StringDescriptorCheck& check, const unsigned char* m, uint64_t size,
                             Widths widths) {
  if (size < 8) return fmt::format("an attribute message of {} bytes", size);
  // Version 1 has a reserved byte where later ones have flags, and HDF5 ignores it: a version 1
  // attribute whose reserved byte said "shared datatype" had its datatype decoded all the same,
  // unchecked (an enumeration's member names overran the header; found by fuzz_hdf5_shard).
  const unsigned version = m[0], flags = version >= 2 ? m[1] : 0;
  uint64_t name = Little(m + 2, 2), type = Little(m + 4, 2), space = Little(m + 6, 2);
  const uint64_t name_size = name, type_size = type, space_size = space;
  uint64_t at = 8;
  if (version == 1) {
    name = Pad8(name), type = Pad8(type), space = Pad8(space);
  } else if (version == 3) {
    at = 9;  // the name's character set
  } else if (version != 2) {
    return fmt::format("an attribute message of version {}", version);
  }
  if (name > size || type > size || space > size || at + name + type + space > size) {
    return fmt::format(
        "an attribute message of {} bytes whose name, datatype and dataspace take {}", size,
        at + name + type + space);
  }
  // The stated name size counts the terminating NUL; HDF5 copies the name with strdup.
  if (name_size == 0 || strnlen(reinterpret_cast<const char*>(m + at), name_size) != name_size - 1)
    return "an attribute message whose name does not end where its size says";
  const std::string attribute(reinterpret_cast<const char*>(m + at), name_size - 1);
  const unsigned char* t = m + at + name;
  const unsigned char* s = t + type;
  const unsigned char* data = s + space;
  const uint64_t data_size = size - (at + name + type + space);
  // A shared datatype or dataspace is a reference to another message: left to HDF5.
  if ((flags & 0x1) == 0) {
    uint64_t used = 0;
    if (std::string problem = DatatypeProblem(t, type_size, used); !problem.empty())
      return fmt::format("attribute '{}': {}", attribute, problem);
  }
  if ((flags & 0x3) != 0 || type_size < 8 || space_size < 4) return "";
  uint64_t dims_at = 0, elements = 1;
  const unsigned space_version = s[0], rank = s[1];
  if (space_version == 1) {
    dims_at = 8;
  } else if (space_version == 2) {
    dims_at = 4;
    if (s[3] == 2) elements = 0;  // a null dataspace holds nothing
  } else {
    return "";
  }
  if (dims_at + uint64_t{rank} * widths.lengths > space_size) return "";
  // HDF5 copies an attribute's value by its type's size times its element count, whatever the
  // message holds (a string type of 13 bytes made H5Aread read past its buffer; found by
  // fuzz_hdf5_shard).
  const uint64_t element_size = Little(t + 4, 4);
  const bool is_string = (t[0] & 0x0F) == kVariableLengthClass && (t[1] & 0x0F) == kStringVariant;
  const uint64_t descriptor_size = 4 + uint64_t{widths.offsets} + 4;
  if (is_string && element_size != descriptor_size) {
    return fmt::format(
        "attribute '{}' stores each string in {} bytes (expected {}: a length, an address and an "
        "index)",
        attribute, element_size, descriptor_size);
  }
  for (unsigned r = 0; r < rank && elements > 0; ++r) {
    const uint64_t dim = Little(s + dims_at + widths.lengths * r, widths.lengths);
    if (dim == 0) {
      elements = 0;
      break;
    }
    if (element_size > 0 &&
        (dim > data_size / element_size || elements > data_size / element_size / dim)) {
      return fmt::format("attribute '{}' states more values than its {} bytes of data hold",
                         attribute, data_size);
    }
    elements *= dim;
  }
  if (elements * element_size > data_size) {
    return fmt::format("attribute '{}' needs {} bytes of data ({} of {} bytes) but holds {}",
                       attribute, elements * element_size, elements, element_size, data_size);
  }
  // The check reads descriptors of 8-byte addresses.
  if (!is_string || widths.offsets != 8) return "";
  for (uint64_t i = 0; i < elements; ++i) {
    std::string problem = check.Problem(data + i * kStringDescriptorSize, i);
    if (!problem.empty()) return fmt::format("attribute '{}': {}", attribute, problem);
  }
  return "";
}

}  // namespace

std::string ObjectHeaderProblem(StringDescriptorCheck& check, uint64_t address, Widths widths) {
  if (widths.offsets < 2 || widths.offsets > 8 || widths.lengths < 2 || widths.lengths > 8)
    return "";  // widths HDF5 refuses, or ones no file uses: left to HDF5
  auto beyond_end = [&](uint64_t at, uint64_t size, std::string_view what) {
    return fmt::format("{} ({} bytes at byte {}) lies beyond the file's end (byte {})", what, size,
                       at, check.file_size());
  };
  std::vector<unsigned char> prefix;
  if (!check.Read(address, 16, prefix)) return beyond_end(address, 16, "its object header");
  // Blocks of messages: where they start, how many bytes, and whether they use version 2's
  // message headers.
  struct Block {
    uint64_t address, size;
  };
  std::deque<Block> blocks;
  bool v2 = false, creation_order = false;
  if (std::memcmp(prefix.data(), "OHDR", 4) == 0) {
    v2 = true;
    const unsigned flags = prefix[5];
    creation_order = (flags & 0x04) != 0;
    uint64_t at = 6 + ((flags & 0x20) ? 16 : 0) + ((flags & 0x10) ? 4 : 0);
    const size_t width = size_t{1} << (flags & 0x3);
    if (!check.Read(address, at + width, prefix))
      return beyond_end(address, at + width, "its object header");
    blocks.push_back({address + at + width, Little(prefix.data() + at, width)});
  } else if (prefix[0] == 1) {
    blocks.push_back({address + 16, Little(prefix.data() + 8, 4)});
  } else {
    return "";  // not an object header this reads: HDF5 says what it is
  }
  std::vector<unsigned char> bytes;
  for (int visited = 0; !blocks.empty() && visited < kMaxBlocks; ++visited) {
    const Block block = blocks.front();
    blocks.pop_front();
    // HDF5 allocates a block's stated size before it reads it, and a continuation block is not
    // checked against the file's end first.
    if (!check.Read(block.address, block.size, bytes)) {
      return beyond_end(block.address, block.size,
                        visited == 0 ? "its first block of messages" : "a continuation block");
    }
    uint64_t at = 0, end = block.size;
    if (v2 && visited > 0) {
      // A continuation block of version 2: "OCHK", messages, a checksum (chunk 0's size leaves out
      // its prefix and checksum).
      if (bytes.size() < 8 || std::memcmp(bytes.data(), "OCHK", 4) != 0) return "";
      at = 4;
      end -= 4;
    }
    const uint64_t header = v2 ? (creation_order ? 6 : 4) : 8;
    while (at + header <= end) {
      const unsigned char* h = bytes.data() + at;
      const unsigned type = v2 ? h[0] : static_cast<unsigned>(Little(h, 2));
      const uint64_t size = v2 ? Little(h + 1, 2) : Little(h + 2, 2);
      at += header;
      if (size > end - at) break;  // a damaged block: HDF5 refuses it
      const unsigned char* m = bytes.data() + at;
      const bool shared = ((v2 ? h[3] : h[4]) & 0x02) != 0;
      if (type == kAttributeMessage) {
        std::string problem = AttributeProblem(check, m, size, widths);
        if (!problem.empty()) return problem;
      } else if (type == kDatatypeMessage && !shared) {
        uint64_t used = 0;
        std::string problem = DatatypeProblem(m, size, used);
        if (!problem.empty()) return "its datatype: " + problem;
      } else if (type == kFilterPipelineMessage && !shared) {
        std::string problem = FilterPipelineProblem(m, size);
        if (!problem.empty()) return "its filters: " + problem;
      } else if ((type == kFillValueMessage || type == kOldFillValueMessage) && !shared) {
        std::string problem = FillValueProblem(type, m, size);
        if (!problem.empty()) return "its fill value: " + problem;
      } else if (type == kContinuationMessage && size >= widths.offsets + widths.lengths) {
        blocks.push_back({Little(m, widths.offsets), Little(m + widths.offsets, widths.lengths)});
      }
      at += size;
    }
  }
  return "";
}

std::optional<Superblock> ReadSuperblock(StringDescriptorCheck& check) {
  static constexpr unsigned char kSignature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  std::vector<unsigned char> b;
  for (uint64_t at = 0; at < check.file_size(); at = at == 0 ? 512 : at * 2) {
    if (!check.Read(at, 16, b) || std::memcmp(b.data(), kSignature, 8) != 0) continue;
    Superblock s;
    s.base = at;
    const unsigned version = b[8];
    // Versions 0 and 1: the widths at bytes 13 and 14, then (after version 1's 4 more bytes)
    // four addresses and the root group's symbol table entry, whose second field is its object
    // header. Versions 2 and 3: the widths at 9 and 10, then four addresses, the last the root's.
    uint64_t root_at = 0;
    if (version <= 1) {
      s.widths = {b[13], b[14]};
      root_at = (version == 0 ? 24 : 28) + 5 * uint64_t{s.widths.offsets};
    } else if (version <= 3) {
      s.widths = {b[9], b[10]};
      root_at = 12 + 3 * uint64_t{s.widths.offsets};
    } else {
      return std::nullopt;
    }
    if (s.widths.offsets < 2 || s.widths.offsets > 8) return std::nullopt;
    if (!check.Read(at + root_at, s.widths.offsets, b)) return std::nullopt;
    s.root = Little(b.data(), s.widths.offsets);
    return s;
  }
  return std::nullopt;
}

}  // namespace modelgrow::hdf5
