// Teaches a tiny Llama-family decoder the captions' language (next-token cross-entropy with
// AdamW), so the experiments' "LLM" text encoder has actually learned something. The llm plugin's
// Maker runs it after MakeTinyModel when `train_steps > 0`.
#pragma once

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace modelgrow {

struct LlmTrainOptions {
  std::filesystem::path model;  // a folder from MakeTinyModel (or any small Llama / Qwen2 folder)
  std::filesystem::path out;    // the trained folder (written atomically)
  int64_t steps = 300;
  double lr = 3e-3;
  double weight_decay = 0.01;
  int64_t batch_size = 16;
  int64_t max_length = 64;    // tokens per caption, BOS and EOS included
  int64_t warmup_steps = -1;  // -1: 5% of steps
  double grad_clip = 1.0;
  uint64_t seed = 0;
  int64_t log_every = 50;                  // steps per progress line when not on a terminal
  std::string text_template = "{prompt}";  // what each caption is wrapped in before training
  int64_t eval_captions = 256;             // captions the before/after loss is measured on

  // InputError for a missing folder name, a bound not met or a template without one {prompt}.
  void Validate() const;
};

struct LlmTrainReport {
  double loss_before = 0;  // mean next-token loss on the eval captions, before training
  double loss_after = 0;
  int64_t steps = 0;
  double seconds = 0;
  double steps_per_second = 0;
  int64_t tokens_seen = 0;
  nlohmann::json ToJson() const;
};

// Trains on the captions (as CorpusLines reads them) and writes `out` (config.json with a
// "modelgrow.training" record, model.safetensors, the tokenizer files copied). Progress goes to
// `progress`: a self-updating line on a terminal, otherwise one line per log_every steps.
// Deterministic for a seed and thread count.
LlmTrainReport TrainTinyLlm(const LlmTrainOptions& options,
                            const std::vector<std::string>& captions, std::ostream& progress,
                            bool progress_is_terminal = false);

}  // namespace modelgrow
