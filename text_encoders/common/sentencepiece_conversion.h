// A SentencePiece model as a Hugging Face tokenizer.json, the way transformers' SpmConverter
// (convert_slow_tokenizer.py) converts it when a slow tokenizer is saved as a fast one: the
// pieces and scores as a Unigram or BPE model (BPE merges derived from the pieces as
// SentencePieceExtractor derives them), control and user-defined pieces as added tokens, the
// model's precompiled normalization table, Metaspace pre-tokenization and decoding, and the
// special tokens a tokenizer class adds as a TemplateProcessing post-processor.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/sentencepiece_model.h"

namespace modelgrow {

struct SentencePieceConversion {
  // transformers' `legacy` flag: true prepends "▁" to every stretch of text between added tokens
  // (prepend_scheme "always"), false only at the start of the text ("first").
  bool legacy = true;
  // Pieces the post-processor puts before and after a single sequence (T5: {} and {"</s>"};
  // Llama: {"<s>"} and {}). A pair gets them around each sequence.
  std::vector<std::string> prefix, suffix;
};

// InputError for what the conversion cannot express: word or char models, byte fallback, a
// special piece not in the model.
nlohmann::ordered_json SentencePieceToTokenizerJson(const SentencePieceModel& model,
                                                    const SentencePieceConversion& options);

// transformers' generate_merges(vocab, vocab_scores): for every piece (in id order) each split
// into two pieces of the vocabulary, ordered by the merged piece's score (highest first), then by
// the lengths of the two halves (longest first); ties keep the id order of the pieces.
std::vector<std::pair<std::string, std::string>> SentencePieceMerges(
    const SentencePieceModel& model);

}  // namespace modelgrow
