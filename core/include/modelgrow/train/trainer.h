// The training loop of `pretrain` and `continue` stages: rectified-flow loss, AdamW with warm-up
// and constant or cosine schedule, gradient clipping and accumulation, EMA, caption dropout,
// optional frame masks and bf16 compute.
//
// It checkpoints every N steps and at the end — weights, optimizer, EMA, data-loader position and
// RNG states, atomically — and resumes from its last checkpoint so that a run killed at any point
// ends with the same weights as one never interrupted.
//
// Folder layout (`dir`):
//   checkpoint/   config.json, model.safetensors, optimizer.safetensors, ema.safetensors,
//                 rng.safetensors, trainer_state.json
//   metrics.jsonl one JSON object per logged step
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <c10/core/Device.h>

#include "modelgrow/data/loader.h"
#include "modelgrow/io/checkpoint.h"
#include "modelgrow/model/stdit3.h"
#include "modelgrow/sdk/optimizer_state.h"
#include "modelgrow/text/text_cache.h"
#include "modelgrow/train/train_spec.h"

namespace modelgrow {

struct TrainContext {
  STDiT3Impl* model = nullptr;
  DataLoader* loader = nullptr;
  std::vector<TextEncoderCache*> text;  // one per model condition, in order
  // The text embeddings the data carry (the loader's pipeline's stored_text()): a condition whose
  // embeddings the batch carries for the caption kind it uses is not encoded
  // (modelgrow/text/condition_text.h).
  std::map<std::string, StoredTextInfo> stored_text;
  TrainSpec spec;
  uint64_t seed = 0;
  std::filesystem::path dir;
  CheckpointMeta meta;                                      // written into every checkpoint
  const OptimizerState* initial_optimizer_state = nullptr;  // `continue` with carried state
  bool resume = false;          // continue from dir/checkpoint when it exists
  std::string label = "train";  // for progress lines
  c10::Device device = c10::Device(c10::DeviceType::CPU);
  // Called after each optimizer step (tests use it to stop a run part-way).
  std::function<void(int64_t step)> after_step;
};

struct TrainResult {
  int64_t steps = 0;
  int64_t resumed_from = 0;  // 0: started fresh
  double first_loss = 0;     // mean loss of the first logged window (of this process)
  double final_loss = 0;     // mean loss of the last logged window
  double seconds = 0;
  double steps_per_second = 0;
  double samples_per_second = 0;
};

TrainResult Train(TrainContext& context);

// The learning rate at `step` (0-based): linear warm-up, then constant or cosine to min_lr.
double LearningRate(const OptimSpec& optim, int64_t step, int64_t total_steps);

// Loads the EMA weights a training stage saved (ema.safetensors) into `model`. Returns false
// when the checkpoint has none.
bool LoadEmaWeights(STDiT3Impl& model, const std::filesystem::path& checkpoint);

}  // namespace modelgrow
