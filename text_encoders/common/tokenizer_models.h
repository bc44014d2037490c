// tokenizer.json `model` components: BPE (byte-level or SentencePiece-style, with merges as
// "a b" strings or ["a", "b"] pairs), Unigram (Viterbi), WordPiece and WordLevel.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_view.h"

namespace modelgrow::hf {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

class Model {
 public:
  virtual ~Model() = default;
  // Appends the ids of one pre-tokenized piece (never empty).
  virtual void Tokenize(std::string_view piece, std::vector<int32_t>& ids) const = 0;
  virtual std::optional<int32_t> TokenToId(std::string_view token) const = 0;
  // nullptr when the model has no token with this id.
  virtual const std::string* IdToToken(int32_t id) const = 0;
  // Number of entries in the model's vocabulary (HF's get_vocab_size).
  virtual size_t VocabSize() const = 0;
};

// TokenizerError naming the JSON path for unknown types, bad options and inconsistent
// vocabularies.
std::unique_ptr<Model> MakeModel(const JsonView& json);

}  // namespace modelgrow::hf
