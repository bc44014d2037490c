// The training loop of `pretrain` and `continue` stages: rectified-flow loss, AdamW with warm-up
// and constant or cosine schedule, gradient clipping and accumulation, EMA, caption dropout,
// optional frame masks and bf16 compute.
//
// It checkpoints every N steps and at the end — weights, optimizer, EMA, data-loader position and
// RNG states, atomically — and resumes from its last checkpoint so that a run killed at any point
// ends with the same weights as one never interrupted.
//
// Across processes (a Communicator of several ranks) it is data parallel: each rank trains on its
// part of every global batch (the loader is sharded), gradients are averaged by a
// GradientReducer while backward runs, the optimizer may be sharded (DistributedAdamW), and every
// random draw of a sample (caption coin and dropout, frame mask, timestep, noise) comes from a
// generator keyed by the run's seed and the sample's global number — so N ranks with global batch
// B follow one process with batch B, up to the order of floating-point sums. Rank 0 alone keeps
// the EMA, logs, and writes checkpoints (with the whole optimizer state and every rank's RNG
// state); a checkpoint resumes on any world size.
//
// Folder layout (`dir`):
//   checkpoint/   config.json, model.safetensors, optimizer.safetensors, ema.safetensors,
//                 rng.safetensors, trainer_state.json, train_time.json,
//                 training_hook.json (while a hook acts)
//   metrics.jsonl one JSON object per logged step ("flops": the stage's compute so far)
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <c10/core/Device.h>

#include "modelgrow/data/loader.h"
#include "modelgrow/dist/communicator.h"
#include "modelgrow/io/checkpoint.h"
#include "modelgrow/model/stdit3.h"
#include "modelgrow/sdk/optimizer_state.h"
#include "modelgrow/sdk/training_hook.h"
#include "modelgrow/text/text_cache.h"
#include "modelgrow/train/train_spec.h"

namespace modelgrow {

// In a training checkpoint: the seconds trained up to it, so a resumed stage reports its whole
// training time.
inline constexpr const char* kTrainTimeFile = "train_time.json";

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
  // The ranks training together (nullptr: this process alone). The loader must be sharded to
  // match (LoaderOptions::shard / shards).
  Communicator* comm = nullptr;
  // A growth operator still acting during training (sdk/training_hook.h): the record of the
  // checkpoint this stage starts from (null: none), and how to build the hook a record describes
  // (the host asks the operator's plugin). A resumed stage takes the record of its own checkpoint.
  nlohmann::json training_hook;
  std::function<std::unique_ptr<TrainingHook>(const nlohmann::json& record)> make_training_hook;
  // Training FLOPs of one sample (model/flops.h); metrics lines then count the stage's compute.
  double flops_per_sample = 0;
  // Called after each optimizer step on every rank (tests use it to stop a run part-way).
  std::function<void(int64_t step)> after_step;
};

struct TrainResult {
  int64_t steps = 0;
  int64_t resumed_from = 0;          // 0: started fresh
  double first_loss = 0;             // mean loss of the first logged window (of this process)
  double final_loss = 0;             // mean loss of the last logged window
  double seconds = 0;                // training time, before a resume included
  double seconds_before_resume = 0;  // of that, what the run(s) before the resume trained
  double steps_per_second = 0;
  double samples_per_second = 0;
  double flops = 0;  // training FLOPs of the stage's steps (resumed ones included)
  int world_size = 1;
  bool sharded_optimizer = false;
  std::vector<int64_t> optimizer_bytes_per_rank;              // AdamW moments each rank holds
  nlohmann::json parameter_groups = nlohmann::json::array();  // ResolvedParameterGroups::ToJson()
  // Elements the stage trained: the model's trainable ones less the groups held at lr_scale 0,
  // which are trainable again once the stage ends.
  int64_t trained_parameters = 0;
};

TrainResult Train(TrainContext& context);

// The learning rate at `step` (0-based): linear warm-up, then constant or cosine to min_lr.
double LearningRate(const OptimSpec& optim, int64_t step, int64_t total_steps);

// Loads the EMA weights a training stage saved (ema.safetensors) into `model`. Returns false
// when the checkpoint has none.
bool LoadEmaWeights(STDiT3Impl& model, const std::filesystem::path& checkpoint);

}  // namespace modelgrow
