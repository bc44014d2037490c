// Tiny text encoders the toolkit makes itself for experiments on a laptop-class CPU: a Hugging
// Face folder (config.json, model.safetensors, a SentencePiece model trained on the caption
// corpus) that the t5 / llm encoders load through exactly the path a real model takes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace modelgrow {

class Options;

// A caption corpus: one caption per line; blank lines are skipped. InputError when the file is
// missing or holds no caption.
std::vector<std::string> ReadCorpus(const std::filesystem::path& file);

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
std::string TrainSentencePiece(const std::vector<std::string>& lines,
                               const SentencePieceTrainOptions& options);

struct TinyEncoderOptions {
  std::string type = "t5";  // t5 | llama | qwen2
  std::filesystem::path corpus;
  std::filesystem::path out;
  int64_t vocab_size = 384;
  // bpe: on a corpus of a few hundred captions the unigram trainer finds only a few dozen seed
  // pieces (nearly characters), BPE learns whole words; unigram stays available.
  std::string tokenizer_type = "bpe";  // bpe | unigram
  int64_t d_model = 64;
  int64_t layers = 2;
  int64_t heads = 4;
  int64_t kv_heads = 2;  // llama / qwen2: grouped-query attention
  int64_t d_ff = 0;      // 0: 2 x d_model (t5), 8/3 x d_model rounded to 16 (llama, qwen2)
  int64_t max_position_embeddings = 512;
  uint64_t seed = 0;

  // From a manifest stage's table (keys as the fields; every problem recorded in `table`).
  static TinyEncoderOptions FromOptions(const Options& table);
  // InputError for a bad combination (unknown type, heads not dividing d_model, ...).
  void Validate() const;
};

struct TinyEncoderResult {
  std::filesystem::path folder;
  int64_t vocab_size = 0;  // pieces of the trained tokenizer = the model's vocabulary
  int64_t parameters = 0;
  nlohmann::json ToJson() const;
};

// Trains the tokenizer on the corpus, initialises the model from the seed (Hugging Face's
// initialisation rules) and writes the folder atomically. The same options give the same bytes.
TinyEncoderResult MakeTinyEncoder(const TinyEncoderOptions& options);

}  // namespace modelgrow
