// What an `evaluate` stage is configured with, and its one reader from a manifest table
// (docs/manifests.md lists every key).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "modelgrow/sdk/options.h"

namespace modelgrow {

// The attribute classifier that scores generated videos: trained on real videos of the named
// data (their pipelines' label schema and targets), cached by its settings and data.
struct ClassifierSpec {
  std::vector<std::string> data;  // data ids of real videos it trains on; empty: no classifier
  int64_t steps = 300;
  int64_t batch_size = 32;
  double lr = 2e-3;
  int64_t width = 32;
  uint64_t seed = 0;

  static ClassifierSpec FromOptions(const Options& table);
};

// Prompt rewriting before evaluation (prompt kind "rewritten": each short caption rewritten by a
// generative text model, scored on what the short caption states).
struct RewriteSpec {
  std::string text;  // the [text.<id>] table whose model rewrites (its plugin and folder)
  Options options = Options::Empty();  // the rewriter's own options (max_new_tokens, ...)
};

struct EvaluateSpec {
  std::map<std::string, std::string> domains;  // domain name -> held-out data id
  // Prompt kinds: "short", "detailed" (the data's captions) and "rewritten" (short captions
  // rewritten as `rewrite` says).
  std::vector<std::string> prompts{"short", "detailed"};
  std::optional<RewriteSpec> rewrite;
  int64_t samples = 16;  // generated videos per domain and prompt kind
  int64_t sampling_steps = 20;
  double cfg_scale = 4.0;
  int64_t loss_samples = 64;  // held-out samples for the rectified-flow loss
  std::vector<double> loss_timesteps{100, 300, 500, 700, 900};
  std::string baseline;         // stage whose model is "the base model" (forgetting)
  std::string weights = "ema";  // "ema" | "raw"
  int64_t grid_prompts = 4;     // prompts shown as animated grids in the report
  ClassifierSpec classifier;

  // Reads the evaluation keys of a stage table, recording every problem on it. Keys the stage
  // itself owns (kind, from) are the caller's to read.
  static EvaluateSpec FromOptions(const Options& table);
};

}  // namespace modelgrow
