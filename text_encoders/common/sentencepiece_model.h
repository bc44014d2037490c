// The parts of a SentencePiece model file (a serialized sentencepiece.ModelProto) that decide how
// it tokenises: pieces with scores and types, the algorithm, the special pieces and the
// normalizer. Read with a small protobuf wire-format reader, so converting a model to a Hugging
// Face tokenizer.json needs neither protobuf nor the SentencePiece library.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace modelgrow {

struct SentencePieceModel {
  // sentencepiece.ModelProto.SentencePiece.Type
  enum class PieceType {
    kNormal = 1,
    kUnknown = 2,
    kControl = 3,
    kUserDefined = 4,
    kUnused = 5,
    kByte = 6
  };
  struct Piece {
    std::string piece;
    float score = 0;
    PieceType type = PieceType::kNormal;
  };
  std::vector<Piece> pieces;  // index = id
  int model_type = 1;         // 1 unigram, 2 bpe, 3 word, 4 char
  bool byte_fallback = false;
  int unk_id = 0;
  std::string unk_piece = "<unk>";
  std::string precompiled_charsmap;  // raw bytes; empty: no normalization table
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;

  // InputError naming `source` when the bytes are not a well-formed model.
  static SentencePieceModel Parse(std::string_view serialized, std::string_view source);
};

}  // namespace modelgrow
