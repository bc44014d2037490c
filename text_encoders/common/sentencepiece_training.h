// Training a SentencePiece model on captions, for the tokenizers of the toolkit's tiny models.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace modelgrow {

// Special-id layout of a SentencePiece model.
enum class PieceConvention {
  kT5,     // pad 0, eos 1, unk 2, no bos
  kLlama,  // unk 0, bos 1, eos 2, no pad (the mask handles padding)
};

struct SentencePieceTrainOptions {
  int64_t vocab_size = 384;
  std::string model_type = "unigram";  // unigram | bpe
  PieceConvention convention = PieceConvention::kT5;
  std::vector<std::string> user_defined_symbols;  // kept as single pieces
  uint64_t seed = 0;
};

// Trains a SentencePiece model with the library's trainer on `lines` and returns the serialized
// model (a model file's bytes). The vocabulary may come out smaller than asked on a small corpus.
// One thread and a fixed seed: the same lines give the same bytes.
std::string TrainSentencePiece(const std::vector<std::string>& lines,
                               const SentencePieceTrainOptions& options);

}  // namespace modelgrow
