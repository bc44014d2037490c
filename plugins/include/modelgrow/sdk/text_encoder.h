// The text-encoder interface: prompts in, embeddings and masks out. Encoders are frozen; the
// host caches their outputs per prompt (in memory and on disk), so a training run encodes each
// distinct caption once.
#pragma once

#include <cstdint>
#include <filesystem>
#include <iosfwd>
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
  // The heavy part: weights, tokenizer, files. Throws InputError naming the file for anything
  // missing or malformed. The methods below are called only after Load().
  virtual void Load() = 0;
  virtual int64_t dim() const = 0;         // D
  virtual int64_t max_length() const = 0;  // L: outputs are padded or truncated to it
  virtual NullCaptionPolicy null_policy() const { return NullCaptionPolicy::kModelBuffer; }
  // Encodes a batch. Deterministic: the same prompt always gives the same result.
  virtual TextEncoding Encode(const std::vector<std::string>& prompts) = 0;
  // Identifies the weights and settings (for on-disk caches), built with ContentHash.
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

// What a TextModelMaker learns from: every caption of the corpus data once, and the (short ->
// detailed) caption pairs of its samples that have both (what a rewriting model learns).
struct CaptionPair {
  std::string short_caption;
  std::string detailed_caption;
};
struct TextCorpus {
  std::vector<std::string> captions;
  std::vector<CaptionPair> pairs;
};

// Makes a small model of an encoder's kind for experiments that must run on a CPU: a tokenizer
// and weights fitted to the experiment's own captions, written as an ordinary model folder that
// the encoder then loads through the same path a real model takes. A text plugin offers one by
// declaring a nested `Maker` class; a manifest asks for it with `make = {...}` in the encoder's
// table (docs/text-encoders.md). Like plugins, a maker is constructed from its options alone.
class TextModelMaker {
 public:
  virtual ~TextModelMaker() = default;
  // Writes the model folder `folder` (atomically: it appears whole or not at all) from the
  // corpus, and returns facts for reports. Progress lines go to `log`. Deterministic: the same
  // options and captions give the same folder.
  virtual nlohmann::json Make(const TextCorpus& corpus, const std::filesystem::path& folder,
                              std::ostream& log) = 0;
};

}  // namespace modelgrow
