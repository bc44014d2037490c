#include "common/sentencepiece_model.h"

#include <cstring>

#include <fmt/format.h>

#include "common/unicode_text.h"
#include "modelgrow/sdk/errors.h"

namespace modelgrow {

namespace {

// Protocol buffer wire format (https://protobuf.dev/programming-guides/encoding/): a sequence of
// (field number, wire type) keys, each followed by a varint, a 32/64-bit value or a
// length-delimited byte string (strings, bytes and nested messages).
class WireReader {
 public:
  WireReader(std::string_view data, std::string_view source, std::string_view message)
      : data_(data), source_(source), message_(message) {}

  bool Done() const { return at_ >= data_.size(); }

  // The next field's number and wire type.
  std::pair<uint32_t, int> Key() {
    uint64_t key = Varint();
    return {static_cast<uint32_t>(key >> 3), static_cast<int>(key & 7)};
  }

  uint64_t Varint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (at_ >= data_.size()) Fail("a varint runs past the end");
      const auto byte = static_cast<uint8_t>(data_[at_++]);
      value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return value;
    }
    Fail("a varint is longer than 10 bytes");
  }

  std::string_view Bytes() {
    const uint64_t size = Varint();
    if (size > data_.size() - at_) Fail("a length-delimited field runs past the end");
    std::string_view out = data_.substr(at_, size);
    at_ += size;
    return out;
  }

  float Fixed32Float() {
    if (data_.size() - at_ < 4) Fail("a 32-bit field runs past the end");
    uint32_t bits = 0;
    for (int i = 0; i < 4; ++i)
      bits |= static_cast<uint32_t>(static_cast<uint8_t>(data_[at_ + i])) << (8 * i);
    at_ += 4;
    float value;
    std::memcpy(&value, &bits, sizeof(value));
    return value;
  }

  // Skips a field of `wire_type` that is not read.
  void Skip(int wire_type) {
    switch (wire_type) {
      case 0:
        Varint();
        return;
      case 1:
        Advance(8);
        return;
      case 2:
        Bytes();
        return;
      case 5:
        Advance(4);
        return;
      default:
        Fail(fmt::format("wire type {} is not supported", wire_type));
    }
  }

  [[noreturn]] void Fail(const std::string& what) const {
    throw InputError(fmt::format("{} is not a SentencePiece model: {} ({} at byte {})", source_,
                                 what, message_, at_));
  }

 private:
  void Advance(size_t n) {
    if (data_.size() - at_ < n) Fail("a fixed-size field runs past the end");
    at_ += n;
  }

  std::string_view data_;
  std::string_view source_;
  std::string_view message_;
  size_t at_ = 0;
};

void Expect(WireReader& in, int wire_type, int expected, const char* field) {
  if (wire_type != expected) {
    in.Fail(fmt::format("field {} has wire type {}, expected {}", field, wire_type, expected));
  }
}

// A text field (proto `string`): UTF-8, as everything built from it (tokenizer.json, the
// vocabulary) must be.
std::string Text(WireReader& in, std::string_view bytes, const char* field) {
  const size_t bad = hf::unicode::FindInvalidUtf8(bytes);
  if (bad != std::string_view::npos) {
    in.Fail(fmt::format("field {} is not valid UTF-8 (byte {} of {})", field, bad, bytes.size()));
  }
  return std::string(bytes);
}

SentencePieceModel::Piece ReadPiece(std::string_view data, std::string_view source) {
  WireReader in(data, source, "ModelProto.pieces");
  SentencePieceModel::Piece piece;
  while (!in.Done()) {
    auto [field, wire] = in.Key();
    if (field == 1) {
      Expect(in, wire, 2, "piece");
      piece.piece = Text(in, in.Bytes(), "piece");
    } else if (field == 2) {
      Expect(in, wire, 5, "score");
      piece.score = in.Fixed32Float();
    } else if (field == 3) {
      Expect(in, wire, 0, "type");
      const uint64_t type = in.Varint();
      if (type < 1 || type > 6) in.Fail(fmt::format("unknown piece type {}", type));
      piece.type = static_cast<SentencePieceModel::PieceType>(type);
    } else {
      in.Skip(wire);
    }
  }
  return piece;
}

void ReadTrainerSpec(std::string_view data, std::string_view source, SentencePieceModel& m) {
  WireReader in(data, source, "TrainerSpec");
  while (!in.Done()) {
    auto [field, wire] = in.Key();
    if (field == 3) {
      Expect(in, wire, 0, "model_type");
      m.model_type = static_cast<int>(in.Varint());
    } else if (field == 35) {
      Expect(in, wire, 0, "byte_fallback");
      m.byte_fallback = in.Varint() != 0;
    } else if (field == 40) {
      Expect(in, wire, 0, "unk_id");
      m.unk_id = static_cast<int>(static_cast<int32_t>(in.Varint()));
    } else if (field == 45) {
      Expect(in, wire, 2, "unk_piece");
      m.unk_piece = Text(in, in.Bytes(), "unk_piece");
    } else {
      in.Skip(wire);
    }
  }
}

void ReadNormalizerSpec(std::string_view data, std::string_view source, SentencePieceModel& m) {
  WireReader in(data, source, "NormalizerSpec");
  while (!in.Done()) {
    auto [field, wire] = in.Key();
    if (field == 2) {
      Expect(in, wire, 2, "precompiled_charsmap");
      m.precompiled_charsmap = std::string(in.Bytes());
    } else if (field == 3) {
      Expect(in, wire, 0, "add_dummy_prefix");
      m.add_dummy_prefix = in.Varint() != 0;
    } else if (field == 4) {
      Expect(in, wire, 0, "remove_extra_whitespaces");
      m.remove_extra_whitespaces = in.Varint() != 0;
    } else if (field == 5) {
      Expect(in, wire, 0, "escape_whitespaces");
      m.escape_whitespaces = in.Varint() != 0;
    } else {
      in.Skip(wire);
    }
  }
}

}  // namespace

SentencePieceModel SentencePieceModel::Parse(std::string_view serialized, std::string_view source) {
  SentencePieceModel m;
  WireReader in(serialized, source, "ModelProto");
  while (!in.Done()) {
    auto [field, wire] = in.Key();
    if (field == 1) {
      Expect(in, wire, 2, "pieces");
      m.pieces.push_back(ReadPiece(in.Bytes(), source));
    } else if (field == 2) {
      Expect(in, wire, 2, "trainer_spec");
      ReadTrainerSpec(in.Bytes(), source, m);
    } else if (field == 3) {
      Expect(in, wire, 2, "normalizer_spec");
      ReadNormalizerSpec(in.Bytes(), source, m);
    } else {
      in.Skip(wire);
    }
  }
  if (m.pieces.empty()) in.Fail("it holds no pieces");
  if (m.unk_id < 0 || m.unk_id >= static_cast<int>(m.pieces.size())) {
    in.Fail(fmt::format("unk_id {} is not a piece", m.unk_id));
  }
  return m;
}

}  // namespace modelgrow
