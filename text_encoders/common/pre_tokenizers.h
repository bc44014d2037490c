// tokenizer.json `pre_tokenizer` components: BertPreTokenizer, ByteLevel, CharDelimiterSplit,
// Digits, Metaspace, Punctuation, Sequence, Split, Whitespace, WhitespaceSplit.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "common/json_view.h"
#include "common/normalized_string.h"

namespace modelgrow::hf {

// One piece of the pre-tokenized input: text still to be tokenized, or an added token already
// recognised (`added_id` >= 0), which no later stage touches.
struct Piece {
  NormalizedString text;
  int32_t added_id = -1;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual void PreTokenize(std::vector<Piece>& pieces) const = 0;
};

struct PreTokenizerInfo {
  // Metaspace with prepend_scheme "first" needs to know which piece starts the input.
  bool needs_origins = false;
};

// TokenizerError naming the JSON path for unknown types and bad options.
std::unique_ptr<PreTokenizer> MakePreTokenizer(const JsonView& json, PreTokenizerInfo& info);

// "Removed", "Isolated", ... as tokenizer.json spells SplitDelimiterBehavior.
SplitBehavior ParseSplitBehavior(const JsonView& json);

// A single character given as a string (Metaspace's replacement, Strip's content).
char32_t ParseSingleChar(const JsonView& json);

}  // namespace modelgrow::hf
