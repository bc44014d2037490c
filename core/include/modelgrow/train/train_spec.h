// What a training stage (`pretrain`, `continue`) is configured with, and its one reader from a
// manifest table (docs/manifests.md lists every key).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "modelgrow/diffusion/rectified_flow.h"
#include "modelgrow/sdk/options.h"
#include "modelgrow/train/distributed_spec.h"

namespace modelgrow {

// `[[stages.<name>.optim.groups]]`: parameters that train with their own learning-rate multiplier
// and weight decay (train/parameter_groups.h says how names match). lr_scale 0 holds the group
// still for the stage: the trainer computes no gradient for it and keeps no state, and the group is
// trainable again in the stages after.
struct ParameterGroupSpec {
  std::vector<std::string> params;  // patterns
  double lr_scale = 1.0;
  std::optional<double> weight_decay;  // unset: the optimizer's
};

struct OptimSpec {
  double lr = 1e-4;
  double weight_decay = 0.0;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double grad_clip = 1.0;  // 0: off
  int64_t warmup_steps = 0;
  std::string schedule = "constant";  // "constant" | "cosine"
  double min_lr_ratio = 0.0;          // cosine floor, as a fraction of lr
  std::vector<ParameterGroupSpec> groups;

  static OptimSpec FromOptions(const Options& table);
};

struct TrainSpec {
  std::string data;               // data id
  std::string caption = "short";  // "short" | "detailed" | "mixed"
  int64_t steps = 100;
  // A compute budget in training FLOPs (model/flops.h); when set, the stage trains as many steps
  // as fit (at least one) and `steps` is not used. Growth operators that make models of other
  // sizes thus continue for the same compute.
  double flops = 0;
  int64_t batch_size = 8;
  int64_t grad_accum = 1;
  OptimSpec optim;
  RectifiedFlowConfig flow;
  double ema_decay = 0.99;
  double caption_dropout = 0.1;
  // Per text condition (by name), the probability that its caption alone is replaced by its null
  // caption, drawn independently of the others and of `caption_dropout` (which drops them all).
  // Stable Diffusion 3 drops each of its encoders so: the model cannot lean on one condition only,
  // so a condition added beside a trained one (an LLM beside T5) has to be learnt.
  std::map<std::string, double> condition_dropout;
  double frame_mask_prob = 0.0;    // probability a sample keeps its first frame as conditioning
  std::string precision = "fp32";  // "fp32" | "bf16"
  bool grad_checkpointing = false;
  int64_t checkpoint_every = 0;  // steps; 0: only at the end
  int64_t log_every = 10;
  int workers = 2;
  std::string init;                       // pretrain: a checkpoint folder to start from
  std::string optimizer_state = "reset";  // continue: "reset" | "carry"
  DistributedSpec distributed;            // [stages.<name>.distributed]

  // Reads the training keys of a stage table, recording every problem on it. `pretrain` stages
  // may name an `init` checkpoint; `continue` stages choose their `optimizer_state`. Keys the
  // stage itself owns (kind, from) are the caller's to read.
  static TrainSpec FromOptions(const Options& table, bool pretrain);
  // Keys that change how a run is watched or scheduled, never what it computes (logging cadence,
  // loader threads, checkpoint cadence: resuming is bit-identical): stage caches ignore them.
  static const std::vector<std::string>& KeysThatDoNotChangeResults();
};

}  // namespace modelgrow
