// Experiment manifests: one TOML file takes a base model through pre-training, growth and
// continual training to a table of results (docs/manifests.md is the reference).
//
//   [experiment]   name, seeds, device, threads, out
//   [model]        preset and config overrides of the base model; `text` = condition 0's encoder
//   [text.<id>]    text encoders: `plugin` + its options, or `make` (a tiny one the toolkit builds)
//   [data.<id>]    data pipelines: `plugin` + its options; `inherit = "<id>"` copies another's
//   [stages.<name>] kind = "pretrain" | "grow" | "continue" | "evaluate", chained with `from`
//   [[sweep.axis]] runs over manifest keys (plus experiment.seeds)
//
// Load() validates everything it can before any work starts — unknown keys, types, ranges,
// stage graph, plugin names and plugin options — and throws one ValidationError listing every
// problem with its file:line:column and key path.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "modelgrow/base/options.h"
#include "modelgrow/diffusion/rectified_flow.h"
#include "modelgrow/growth/grow.h"
#include "modelgrow/model/config.h"

namespace modelgrow {

class PluginRegistry;

struct ExperimentSpec {
  std::string name;
  std::string description;
  std::vector<uint64_t> seeds{0};
  std::string device = "cpu";  // "cpu" | "cuda" | "auto"
  int threads = 0;             // 0: all cores
  std::string out;             // default output folder ("" = runs/<name>)
};

// A plugin instance declared in the manifest: its id, plugin name and option table.
struct PluginSpec {
  std::string id;
  std::string plugin;
  Options options = Options::Empty();  // only the plugin's own keys
};

// A tiny encoder the toolkit builds for the experiment (text-encoders docs).
struct TinyTextSpec {
  std::string type = "t5";          // "t5" | "llama" | "qwen2"
  std::vector<std::string> corpus;  // data ids whose captions train the tokenizer (and LLM)
  int64_t vocab_size = 256;
  std::string tokenizer_type =
      "bpe";  // "bpe" | "unigram" (unigram finds few pieces on tiny corpora)
  int64_t d_model = 64;
  int64_t layers = 2;
  int64_t heads = 4;
  int64_t kv_heads = 0;  // llama/qwen2 grouped-query attention; 0: heads / 2 when even
  int64_t max_length = 32;
  uint64_t seed = 0;
  int64_t train_steps = 0;  // > 0: train the decoder with next-token loss (llama/qwen2 only)
  double train_lr = 3e-3;
  int64_t train_batch_size = 32;
};

struct TextSpec : PluginSpec {
  std::optional<TinyTextSpec> make;  // when set, `path` is the folder the toolkit makes
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
};

struct TrainSpec {
  std::string data;               // data id
  std::string caption = "short";  // "short" | "detailed" | "mixed"
  int64_t steps = 100;
  int64_t batch_size = 8;
  int64_t grad_accum = 1;
  OptimSpec optim;
  RectifiedFlowConfig flow;
  double ema_decay = 0.99;
  double caption_dropout = 0.1;
  double frame_mask_prob = 0.0;    // probability a sample keeps its first frame as conditioning
  std::string precision = "fp32";  // "fp32" | "bf16"
  bool grad_checkpointing = false;
  int64_t checkpoint_every = 0;  // steps; 0: only at the end
  int64_t log_every = 10;
  int workers = 2;
  std::string init;                       // pretrain: a checkpoint folder to start from
  std::string optimizer_state = "reset";  // continue: "reset" | "carry"
};

struct GrowSpec {
  std::vector<PluginSpec> ops;  // in order; empty = no growth (plain fine-tuning follows)
  ProbeOptions probe;
};

struct ClassifierSpec {
  std::vector<std::string> data;  // data ids of real videos it trains on (train split)
  int64_t steps = 300;
  int64_t batch_size = 32;
  double lr = 2e-3;
  int64_t width = 32;
};

struct EvaluateSpec {
  std::map<std::string, std::string> domains;  // domain name -> held-out data id
  std::vector<std::string> prompts{"short", "detailed"};
  int64_t samples = 16;  // generated videos per domain and prompt kind
  int64_t sampling_steps = 20;
  double cfg_scale = 4.0;
  int64_t loss_samples = 64;  // held-out samples for the rectified-flow loss
  std::vector<double> loss_timesteps{100, 300, 500, 700, 900};
  std::string baseline;         // stage whose model is "the base model" (forgetting)
  std::string weights = "ema";  // "ema" | "raw"
  int64_t grid_prompts = 4;     // prompts shown as animated grids in the report
  ClassifierSpec classifier;
};

enum class StageKind { kPretrain, kGrow, kContinue, kEvaluate };
const char* StageKindName(StageKind kind);

struct StageSpec {
  std::string name;
  StageKind kind = StageKind::kPretrain;
  std::string from;                  // the stage whose model this one starts from ("" for pretrain)
  TrainSpec train;                   // pretrain, continue
  GrowSpec grow;                     // grow
  EvaluateSpec eval;                 // evaluate
  Options table = Options::Empty();  // the stage's table, for hashing
};

struct SweepValue {
  std::string label;
  std::vector<std::pair<std::string, Options>> sets;  // key path -> one-value table {v = ...}
};

struct SweepAxis {
  std::string name;
  std::vector<SweepValue> values;
};

class Manifest {
 public:
  // Parses and validates. `sets` are `key.path=value` overrides applied before validation. With a
  // registry, plugin names and options are checked too (plugins created with validate_only).
  static Manifest Load(const std::filesystem::path& file, const std::vector<std::string>& sets,
                       const PluginRegistry* registry);
  // The same from an already parsed document (sweep runs).
  static Manifest FromOptions(Options doc, const PluginRegistry* registry);

  const Options& doc() const { return doc_; }
  const ExperimentSpec& experiment() const { return experiment_; }
  const Options& model_table() const { return model_table_; }
  STDiT3Config model_config() const;
  const std::string& condition0_text() const { return condition0_text_; }
  const std::map<std::string, TextSpec>& text() const { return text_; }
  const std::map<std::string, PluginSpec>& data() const { return data_; }
  const std::map<std::string, StageSpec>& stages() const { return stages_; }
  // Stages in an order where every stage follows the one it starts from.
  const std::vector<std::string>& stage_order() const { return stage_order_; }
  const std::vector<SweepAxis>& sweep() const { return sweep_; }

 private:
  Options doc_ = Options::Empty();
  ExperimentSpec experiment_;
  Options model_table_ = Options::Empty();
  std::string condition0_text_;
  std::map<std::string, TextSpec> text_;
  std::map<std::string, PluginSpec> data_;
  std::map<std::string, StageSpec> stages_;
  std::vector<std::string> stage_order_;
  std::vector<SweepAxis> sweep_;
};

// One run of a sweep: its labels and its own manifest (sweep values and seed applied).
struct RunSpec {
  std::string id;                                           // "growth=insert,seed=0"
  std::vector<std::pair<std::string, std::string>> labels;  // axis -> value label, seed last
  uint64_t seed = 0;
  size_t index = 0;  // position in the manifest's run order (the Slurm array index)
  Options doc = Options::Empty();
};

// Every run of a manifest: the product of its sweep axes and seeds, in a stable order.
std::vector<RunSpec> ExpandRuns(const Manifest& manifest);

}  // namespace modelgrow
