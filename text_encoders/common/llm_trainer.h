// Teaches a tiny Llama-family decoder the captions' language (next-token cross-entropy with
// AdamW), so the experiments' "LLM" text encoder has actually learned something, and optionally
// to rewrite short captions into detailed ones (chat conversations: the rewriting instruction as
// the system message, a short caption from the user, its detailed caption from the assistant)
// and to repeat captions (the same, with each caption from both).
// The llm plugin's Maker runs it after MakeTinyModel when `train_steps > 0`.
#pragma once

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/llm_prompt.h"
#include "modelgrow/sdk/text_encoder.h"

namespace modelgrow {

struct LlmTrainOptions {
  std::filesystem::path model;  // a folder from MakeTinyModel (or any small Llama / Qwen2 folder)
  std::filesystem::path out;    // the trained folder (written atomically)
  int64_t steps = 300;
  double lr = 3e-3;
  double weight_decay = 0.01;
  int64_t batch_size = 16;
  int64_t max_length = 64;  // tokens per caption, BOS and EOS included
  // Tokens per rewriting or repeating conversation (longer: a second caption follows the first).
  int64_t conversation_max_length = 256;
  // Also train on repeating each caption word for word. Next-token prediction asks again for a
  // word drawn at random (a colour, a shape) only where a caption names it a second time, so it
  // can leave such words hard to tell apart; repeating asks for every word again.
  bool repeat = false;
  int64_t warmup_steps = -1;  // -1: 5% of steps
  double grad_clip = 1.0;
  uint64_t seed = 0;
  int64_t log_every = 50;  // steps per progress line when not on a terminal
  // The encoder's prompt format: each caption is trained exactly as the encoder will read it
  // (its chat template or {prompt} template), followed by EOS for {prompt} templates.
  LlmPromptOptions prompt;
  int64_t eval_captions = 256;  // captions (and pairs) the before/after loss is measured on

  // InputError for a missing folder name or a bound not met.
  void Validate() const;
};

struct LlmTrainReport {
  double loss_before = 0;  // mean next-token loss on the eval captions, before training
  double loss_after = 0;
  // The same on the first rewriting conversations (0 when there are none).
  double rewrite_loss_before = 0;
  double rewrite_loss_after = 0;
  int64_t rewrite_pairs = 0;
  // The same on the first repeating conversations (0 when there are none).
  double repeat_loss_before = 0;
  double repeat_loss_after = 0;
  int64_t repeat_conversations = 0;
  int64_t steps = 0;
  double seconds = 0;
  double steps_per_second = 0;
  int64_t tokens_seen = 0;
  nlohmann::json ToJson() const;
};

// Trains on the captions (as CorpusLines reads them), on the rewriting conversations of `pairs`
// (none: no rewriting) and, with `repeat`, on one repeating conversation per caption, all
// shuffled together, and writes `out` (config.json with a "modelgrow.training" record,
// model.safetensors, the tokenizer files copied). Conversations need the folder's chat template.
// Progress goes to `progress`: a self-updating line on a terminal, otherwise one line per
// log_every steps. Deterministic for a seed and thread count.
LlmTrainReport TrainTinyLlm(const LlmTrainOptions& options,
                            const std::vector<std::string>& captions,
                            const std::vector<CaptionPair>& pairs, std::ostream& progress,
                            bool progress_is_terminal = false);

// The conversation a rewriting pair is trained as, and the first part of it the rewriter
// generates from: [system: kRewriteSystemPrompt, user: short, (assistant: detailed)].
nlohmann::ordered_json RewriteConversation(const std::string& short_caption,
                                           const std::string& detailed_caption = {});

// The conversation a caption is repeated as: [system: kRepeatSystemPrompt, user: caption,
// assistant: caption].
nlohmann::ordered_json RepeatConversation(const std::string& caption);

}  // namespace modelgrow
