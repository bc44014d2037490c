// tokenizer.json `normalizer` components: BertNormalizer, ByteLevel, Lowercase, NFC, NFD, NFKC,
// NFKD, Nmt, Precompiled, Prepend, Replace, Sequence, Strip, StripAccents.
#pragma once

#include <memory>

#include "common/json_view.h"
#include "common/normalized_string.h"

namespace modelgrow::hf {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void Normalize(NormalizedString& text) const = 0;
};

// TokenizerError naming the JSON path for unknown types and bad options.
std::unique_ptr<Normalizer> MakeNormalizer(const JsonView& json);

}  // namespace modelgrow::hf
