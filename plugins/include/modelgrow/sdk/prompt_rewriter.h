// Prompt rewriting, the paper's inference step: a generative model turns a short user prompt into
// the detailed kind of caption the video model was trained on. Offered by text plugins whose
// models generate (`modelgrow rewrite`, `modelgrow sample --rewrite-with`, an evaluation's
// `rewrite` table). A plugin offers it by declaring a nested `Rewriter` class; like a plugin it
// is constructed from options alone (the model folder is `path`, plus the generation settings)
// and loads the model only in Load().
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace modelgrow {

struct RewriteResult {
  std::string text;           // the rewritten prompt
  int64_t prompt_tokens = 0;  // tokens the model read
  int64_t new_tokens = 0;     // tokens it generated (the stop token included)
  bool stopped = false;       // ended at a stop token (false: the token budget ran out)
  double seconds = 0;
};

class PromptRewriter {
 public:
  virtual ~PromptRewriter() = default;
  // Loads the model. InputError naming the file for anything missing or malformed.
  virtual void Load() = 0;
  // Deterministic: the same prompt and options give the same text (sampling is seeded).
  virtual RewriteResult Rewrite(const std::string& prompt) = 0;
  // Identifies the model and every setting that shapes the output (for caches), built with
  // ContentHash.
  virtual std::string CacheKey() const = 0;
  virtual nlohmann::json Describe() const { return nlohmann::json::object(); }
};

}  // namespace modelgrow
