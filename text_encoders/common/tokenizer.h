// SentencePiece tokenisation as the Hugging Face tokenizers of T5 and Llama apply it: pieces from
// the model file, then BOS/EOS, truncation and right-padding to a fixed length with a mask.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace modelgrow {

class SentencePieceTokenizer {
 public:
  // Loads a SentencePiece model file (spiece.model / tokenizer.model). InputError naming the file
  // when it is missing or not a SentencePiece model.
  static SentencePieceTokenizer Load(const std::filesystem::path& file);
  // From the bytes of a model file (what the trainer returns).
  static SentencePieceTokenizer FromSerialized(const std::string& model_proto,
                                               const std::string& source_name);

  const std::filesystem::path& path() const { return path_; }
  int64_t vocab_size() const;  // number of pieces
  // Special ids as the model file defines them; -1 where the model has none.
  int64_t pad_id() const;
  int64_t eos_id() const;
  int64_t bos_id() const;
  int64_t unk_id() const;

  // Ids of the text's pieces, without any special token.
  std::vector<int64_t> Encode(const std::string& text) const;
  std::string Decode(const std::vector<int64_t>& ids) const;
  std::string IdToPiece(int64_t id) const;
  // -1 when the piece is not in the vocabulary.
  int64_t PieceToId(const std::string& piece) const;
  // The serialized model, as a model file holds it.
  std::string Serialized() const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
  std::filesystem::path path_;
};

struct PaddingSpec {
  int64_t max_length = 300;
  bool add_bos = false;  // Llama: the BOS id first
  bool add_eos = true;   // T5: the EOS id last (kept when truncating, as HF does)
  int64_t pad_id = 0;    // what fills the padding (the mask marks it anyway)
};

struct TokenizedBatch {
  at::Tensor ids;                // [B, max_length] int64
  at::Tensor mask;               // [B, max_length] bool, true = a real token
  std::vector<int64_t> lengths;  // tokens per prompt before truncation (with BOS/EOS)
  int64_t truncated = 0;         // prompts that did not fit
};

// The SentencePiece model of a model folder: the first of `names` present (e.g. {"spiece.model",
// "tokenizer.model"}). InputError otherwise (ModelTokenizer asks only for a folder without a
// tokenizer.json, so the message names both kinds).
std::filesystem::path FindSentencePieceModel(const std::filesystem::path& folder,
                                             const std::vector<std::string>& names);

// InputError unless every id the tokenizer can produce exists in the model's embedding
// (`vocab_size` rows, from `config_file`).
void CheckTokenizerFits(const SentencePieceTokenizer& tokenizer, int64_t vocab_size,
                        const std::filesystem::path& config_file);

// Tokenises each prompt, adds BOS/EOS, truncates the pieces so the whole fits max_length (BOS and
// EOS are kept, as Hugging Face's `truncation=True` does) and pads on the right.
TokenizedBatch TokenizeBatch(const SentencePieceTokenizer& tokenizer,
                             const std::vector<std::string>& prompts, const PaddingSpec& spec);

}  // namespace modelgrow
