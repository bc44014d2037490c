// Experiment manifests: one TOML file takes a base model through pre-training, growth and
// continual training to a table of results (docs/manifests.md is the reference).
//
//   [experiment]   name, seeds, device, threads, out; [experiment.slurm] for sweep --emit slurm;
//                  [experiment.compute] and [experiment.findings] for the report
//   [model]        preset and config overrides of the base model; `text` = condition 0's encoder
//   [text.<id>]    text encoders: `plugin` + its options; `make = {corpus, ...}` has the plugin
//                  make a small model from the named data's captions
//   [data.<id>]    data pipelines: `plugin` + its options; `inherit = "<id>"` copies another's
//   [vae]          the VAE of a latent model: `plugin` + its options (decodes samples; recorded
//                  in checkpoints)
//   [stages.<name>] kind = "pretrain" | "grow" | "continue" | "evaluate", chained with `from`
//   [[sweep.axis]] runs over manifest keys (plus experiment.seeds)
//
// The manifest composes the components' own configs (TrainSpec, EvaluateSpec, ProbeOptions,
// STDiT3Config) and names plugins only by what the file says. Load() validates everything it can
// before any work starts and throws one ValidationError listing every problem with its
// file:line:column and key path.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "modelgrow/eval/evaluate_spec.h"
#include "modelgrow/experiment/slurm_spec.h"
#include "modelgrow/experiment/stage_spec.h"
#include "modelgrow/experiment/sweep.h"
#include "modelgrow/model/config.h"
#include "modelgrow/sdk/options.h"

namespace modelgrow {

class PluginRegistry;

// Runs one manifest may expand to (sweep values x seeds).
inline constexpr int64_t kMaxRuns = 10000;

// [experiment.compute]: the report's "compute to target" table (growth zoo). The target is the
// final training loss of the runs labelled `reference` (a sweep label, e.g. the larger model
// trained from scratch), or `target_loss`; a loss is the mean of the last `smooth` logged points.
struct ComputeSpec {
  std::string reference;  // "" with target_loss = 0: no table
  double target_loss = 0;
  int64_t smooth = 5;

  static ComputeSpec FromOptions(const Options& table);
};

// [experiment.findings]: claims the report tests beyond its headline ones. `metrics` adds rows to
// every axis's findings (e.g. one attribute's accuracy: "acc/continual/detailed/count");
// `contrasts` compare two metrics of the same run, paired by seed, for every variant (e.g.
// rewritten short prompts against the same prompts unrewritten).
struct FindingsSpec {
  struct Contrast {
    std::string metric;   // the claim: this one is better ...
    std::string against;  // ... than this one, in the same run
  };
  std::vector<std::string> metrics;
  std::vector<Contrast> contrasts;

  static FindingsSpec FromOptions(const Options& table);
};

struct ExperimentSpec {
  std::string name;
  std::string description;
  std::vector<uint64_t> seeds{0};
  std::string device = "cpu";  // "cpu" | "cuda" | "auto"
  int threads = 0;             // 0: all cores
  std::string out;             // default output folder ("" = runs/<name>)
  SlurmSpec slurm;             // [experiment.slurm]
  ComputeSpec compute;         // [experiment.compute]
  FindingsSpec findings;       // [experiment.findings]

  static ExperimentSpec FromOptions(const Options& table);
};

// A text encoder of the manifest. With `make`, the run has the plugin make a small model from
// the captions of the `corpus` data and loads it from there (its `path` is the made folder).
struct TextSpec : PluginSpec {
  std::optional<Options> make;      // the `make` table without `corpus`: the plugin's Maker options
  std::vector<std::string> corpus;  // data ids whose captions the made model learns from
};

class Manifest {
 public:
  // Parses and validates. `sets` are `key.path=value` overrides applied before validation. With a
  // registry, every plugin is constructed from its options (nothing is loaded), the base model is
  // built without weights and every growth operator's check runs on the model it would grow.
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
  // The [vae] table; nullopt when the manifest has none (a pixel model).
  const std::optional<PluginSpec>& vae() const { return vae_; }
  const std::map<std::string, StageSpec>& stages() const { return stages_; }
  // Stages in an order where every stage follows the one it starts from.
  const std::vector<std::string>& stage_order() const { return stage_order_; }
  const std::vector<SweepAxis>& sweep() const { return sweep_; }
  // Runs it expands to: the product of the sweep axes' sizes and the seeds (a double, since a
  // hostile manifest's product overflows any integer before it is refused).
  double RunCount() const;
  // Things worth saying that are not errors (a key every sweep run overrides, ...).
  const std::vector<std::string>& notes() const { return notes_; }

 private:
  void ReadData(const Options& doc);
  void ReadVae(const Options& doc);
  void ReadText(const Options& doc);
  void ReadModel(const Options& doc);
  void ReadStages(const Options& doc);
  void CheckPlugins(const Options& doc, const PluginRegistry& registry);
  // Notes where an evaluate stage asks for more samples than a domain's data holds (`sizes`: the
  // constructed pipelines' sizes, by data id).
  void NoteEvaluationCounts(const Options& doc, const std::map<std::string, int64_t>& sizes);
  void CheckGrowth(const Options& doc, const PluginRegistry& registry) const;

  Options doc_ = Options::Empty();
  ExperimentSpec experiment_;
  Options model_table_ = Options::Empty();
  std::string condition0_text_;
  std::map<std::string, TextSpec> text_;
  std::map<std::string, PluginSpec> data_;
  std::optional<PluginSpec> vae_;
  std::map<std::string, StageSpec> stages_;
  std::vector<std::string> stage_order_;
  std::vector<SweepAxis> sweep_;
  std::vector<std::string> notes_;
};

// Table `id` of `tables` (a manifest's [data]) with `inherit = "<sibling id>"` resolved: the
// parent's keys under the child's, recursively. Problems (a missing parent, a cycle) are recorded.
Options ResolveInheritance(const Options& tables, const std::string& id);

// Every run of a manifest: the product of its sweep axes and seeds, in a stable order.
std::vector<RunSpec> ExpandRuns(const Manifest& manifest);

}  // namespace modelgrow
