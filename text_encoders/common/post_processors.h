// tokenizer.json `post_processor` components: BertProcessing, ByteLevel, RobertaProcessing,
// Sequence, TemplateProcessing. Only ids and type ids are produced (no offsets).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "common/json_view.h"

namespace modelgrow::hf {

// The ids of one sequence (or of one template piece) with their type ids.
struct EncodingPart {
  std::vector<int32_t> ids;
  std::vector<int32_t> type_ids;
};

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // Special tokens this processor adds to a single sequence or a pair.
  virtual size_t AddedTokens(bool is_pair) const = 0;
  // HF's process_encodings: one or two parts in, any number of parts out.
  virtual std::vector<EncodingPart> Process(std::vector<EncodingPart> parts,
                                            bool add_special_tokens) const = 0;
};

// TokenizerError naming the JSON path for unknown types and bad options.
std::unique_ptr<PostProcessor> MakePostProcessor(const JsonView& json);

}  // namespace modelgrow::hf
