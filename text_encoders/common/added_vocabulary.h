// Tokens added on top of the model's vocabulary (tokenizer.json `added_tokens`): special tokens
// such as <|begin_of_text|> and user tokens. They are cut out of the text before the model sees
// it, exactly as HF's AddedVocabulary does: tokens with normalized=false are matched on the raw
// text first, the remaining text is normalized, then tokens with normalized=true are matched on
// the normalized text (leftmost-longest, with single_word, lstrip and rstrip).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/normalizers.h"
#include "common/pre_tokenizers.h"
#include "common/tokenizer_models.h"

namespace modelgrow::hf {

struct AddedToken {
  std::string content;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool special = false;
  bool operator==(const AddedToken&) const = default;
};

class AddedVocabulary {
 public:
  // HF's add_tokens: in order, each token takes the id its content already has (in this
  // vocabulary or the model's) or the next free one after the model's vocabulary.
  void Add(const std::vector<AddedToken>& tokens, const Model& model, const Normalizer* normalizer);

  std::optional<int32_t> TokenToId(std::string_view content) const;
  // The string an id decodes to: the normalized form for normalized tokens, else the content.
  const std::string* IdToToken(int32_t id) const;
  const AddedToken* TokenOf(int32_t id) const;
  bool IsSpecial(std::string_view token) const { return special_.contains(std::string(token)); }
  size_t size() const { return ids_.size(); }
  const std::unordered_map<std::string, int32_t>& ids() const { return ids_; }

  // The input split into added tokens and normalized text (HF's extract_and_normalize).
  std::vector<Piece> ExtractAndNormalize(std::string_view text, const Normalizer* normalizer,
                                         bool track_origins) const;

 private:
  // Leftmost-longest byte trie over token strings.
  class Matcher {
   public:
    void Build(const std::vector<std::pair<std::string, int32_t>>& patterns);
    bool empty() const { return terminal_.size() <= 1; }
    // The leftmost, then longest, match starting at or after `from`.
    bool Next(std::string_view text, size_t from, size_t* start, size_t* end, int32_t* id) const;

   private:
    std::unordered_map<uint64_t, uint32_t> edges_;
    std::vector<int32_t> terminal_;
    bool first_byte_[256] = {};
  };

  void Rebuild();
  void SplitOnMatches(const NormalizedString& text, const Matcher& matcher,
                      std::vector<Piece>& out) const;

  std::unordered_map<std::string, int32_t> ids_;  // content -> id
  std::unordered_map<int32_t, AddedToken> tokens_;
  std::unordered_map<int32_t, std::string> normalized_forms_;
  std::unordered_set<std::string> special_;
  Matcher raw_matcher_, normalized_matcher_;
};

}  // namespace modelgrow::hf
