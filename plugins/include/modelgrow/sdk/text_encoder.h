// The text-encoder interface: prompts in, embeddings and masks out. Encoders are frozen; the
// host caches their outputs per prompt (in memory and on disk), so a training run encodes each
// distinct caption once.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "modelgrow/sdk/plugin.h"

namespace modelgrow {

struct TextEncoding {
  at::Tensor embedding;  // [B, L, D] float32
  at::Tensor mask;       // [B, L] bool, true = a real token
};

// What the model's null caption for this encoder's condition should be.
enum class NullCaptionPolicy {
  kModelBuffer,  // the DiT's own y_embedding buffer, random at init (Open-Sora's way)
  kEmptyPrompt,  // the encoding of "" written into that buffer when the condition is created
};

class TextEncoder {
 public:
  virtual ~TextEncoder() = default;
  virtual int64_t dim() const = 0;         // D
  virtual int64_t max_length() const = 0;  // L: outputs are padded or truncated to it
  virtual NullCaptionPolicy null_policy() const { return NullCaptionPolicy::kModelBuffer; }
  // Encodes a batch. Deterministic: the same prompt always gives the same result.
  virtual TextEncoding Encode(const std::vector<std::string>& prompts) = 0;
  // Identifies the weights and settings (for on-disk caches and stage hashes).
  virtual std::string CacheKey() const = 0;
  // Facts for reports (model folder, layers, prompts truncated so far, ...).
  virtual nlohmann::json Describe() const { return nlohmann::json::object(); }
};

// Implemented, besides TextEncoder, by encoders whose stored embeddings are keyed by the data
// set's sample index rather than by the prompt (the `precomputed` encoder with key = "index").
// A host that has sample indices asks for it with dynamic_cast<SampleIndexedTextEncoder*>.
class SampleIndexedTextEncoder {
 public:
  virtual ~SampleIndexedTextEncoder() = default;
  // The embeddings and masks stored for these samples, as Encode() would return them.
  virtual TextEncoding EncodeSamples(const std::vector<int64_t>& indices) = 0;
};

}  // namespace modelgrow
