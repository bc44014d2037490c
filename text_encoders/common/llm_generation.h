// Text generation with a Llama-family decoder: KV-cached decoding (the prompt is read once, then
// one token per step), greedy or sampled, for prompt rewriting.
#pragma once

#include <cstdint>
#include <vector>

#include "common/llama_decoder.h"

namespace modelgrow {

struct GenerationOptions {
  int64_t max_new_tokens = 128;   // the token budget (>= 1)
  double temperature = 0;         // 0: greedy; > 0: sample from softmax(logits / temperature)
  double top_p = 1.0;             // (0, 1]: sample only from the smallest set reaching top_p
  uint64_t seed = 0;              // the sampling generator's seed
  std::vector<int64_t> stop_ids;  // generation ends after any of these
};

struct GenerationResult {
  std::vector<int64_t> ids;  // the new tokens, a final stop token included
  bool stopped = false;      // ended at a stop token (false: max_new_tokens ran out)
  double seconds = 0;
  double prompt_seconds = 0;  // of which reading the prompt
};

// Generates after `prompt` (ids, at least one). Temperature and top-p act as Hugging Face's
// TemperatureLogitsWarper and TopPLogitsWarper (in that order); draws come from a CPU generator
// seeded with `seed`, so the same options give the same tokens. InputError for options out of
// range; the model needs its lm_head.
GenerationResult Generate(LlamaDecoderImpl& model, const std::vector<int64_t>& prompt,
                          const GenerationOptions& options);

}  // namespace modelgrow
