// The tokenizer of a model folder, picked as Hugging Face's AutoTokenizer picks it: the folder's
// tokenizer.json (the "fast" tokenizer: Llama 3, Qwen2/3, Mistral, T5 conversions, the toolkit's
// tiny models) when it has one, otherwise its SentencePiece model (the "slow" T5Tokenizer /
// LlamaTokenizer). Special tokens, truncation and decoding are those of that Hugging Face
// tokenizer.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "common/hf_tokenizer.h"
#include "common/tokenizer.h"

namespace modelgrow {

// Which special tokens a SentencePiece-only folder's tokenizer adds when its tokenizer_config.json
// does not say (T5Tokenizer: EOS; LlamaTokenizer: BOS).
struct SentencePieceSpecials {
  bool bos = false;
  bool eos = false;
};

class ModelTokenizer {
 public:
  enum class Kind { kTokenizerJson, kSentencePiece };

  // `file` (may be empty): a tokenizer.json or SentencePiece model to use instead of the folder's
  // (the encoders' `tokenizer` option). `sentencepiece_names`: the SentencePiece files tried in
  // the folder, in order. `defaults`: the special tokens of a SentencePiece tokenizer whose
  // tokenizer_config.json names neither a known class nor add_bos_token / add_eos_token; nullopt
  // makes such a folder an error. InputError naming the file for anything missing or malformed.
  static ModelTokenizer Load(const std::filesystem::path& folder, const std::filesystem::path& file,
                             const std::vector<std::string>& sentencepiece_names,
                             std::optional<SentencePieceSpecials> defaults);

  Kind kind() const { return kind_; }
  std::string kind_name() const;  // "tokenizer.json" | "sentencepiece"
  const std::filesystem::path& path() const { return path_; }
  // SHA-256 of everything that decides the ids: the tokenizer file and its configuration.
  const std::string& fingerprint() const { return fingerprint_; }
  // The folder's tokenizer_config.json (an empty object when there is none).
  const nlohmann::ordered_json& config() const { return config_; }

  // The ids of `text`. add_special_tokens: what the tokenizer adds around a sequence (the
  // tokenizer.json post-processor; BOS/EOS for SentencePiece). max_length >= 0 truncates as
  // Hugging Face's truncation=True does: the text's own ids are cut at the end, the special
  // tokens kept. `truncated` (optional) says whether anything was cut.
  std::vector<int64_t> Encode(const std::string& text, bool add_special_tokens,
                              int64_t max_length = -1, bool* truncated = nullptr) const;
  std::string Decode(const std::vector<int64_t>& ids, bool skip_special_tokens) const;
  std::optional<int64_t> TokenToId(const std::string& token) const;
  std::optional<std::string> IdToToken(int64_t id) const;
  // One past the largest id the tokenizer produces (must fit the model's embedding).
  int64_t vocab_size() const;
  // -1 where the tokenizer has none.
  int64_t bos_id() const { return bos_id_; }
  int64_t eos_id() const { return eos_id_; }
  int64_t pad_id() const { return pad_id_; }
  std::optional<std::string> bos_token() const;
  std::optional<std::string> eos_token() const;

  // {"kind", "path", "vocab_size", "bos", "eos", "pad"} for reports.
  nlohmann::json Describe() const;

 private:
  Kind kind_ = Kind::kSentencePiece;
  std::filesystem::path path_;
  std::string fingerprint_;
  nlohmann::ordered_json config_ = nlohmann::ordered_json::object();
  std::shared_ptr<const hf::HfTokenizer> json_;
  SentencePieceTokenizer spm_;
  SentencePieceSpecials spm_specials_;
  int64_t bos_id_ = -1, eos_id_ = -1, pad_id_ = -1;
};

// InputError unless every id the tokenizer produces has a row in the model's embedding
// (`vocab_size` rows, from `config_file`).
void CheckTokenizerFits(const ModelTokenizer& tokenizer, int64_t vocab_size,
                        const std::filesystem::path& config_file);

// Right-pads (or cuts) id lists to `max_length` with `pad_id`, with the mask of real tokens.
// `truncated` is copied into the batch's count.
TokenizedBatch PadBatch(const std::vector<std::vector<int64_t>>& ids, int64_t max_length,
                        int64_t pad_id, int64_t truncated = 0);

}  // namespace modelgrow
