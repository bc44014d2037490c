// One stage of a manifest ([stages.<name>]) and the graph the stages form through `from`.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "modelgrow/eval/evaluate_spec.h"
#include "modelgrow/growth/grow.h"
#include "modelgrow/sdk/options.h"
#include "modelgrow/train/train_spec.h"

namespace modelgrow {

// A plugin instance declared in the manifest: its id, plugin name and option table.
struct PluginSpec {
  std::string id;
  std::string plugin;
  Options options = Options::Empty();  // only the plugin's own keys
};

struct GrowSpec {
  std::vector<PluginSpec> ops;  // in order; empty = no growth (plain fine-tuning follows)
  ProbeOptions probe;
  // [stages.<name>.fit]: the data operators that learn how to grow fit on (GrowthData), drawn as
  // a training stage with these keys draws them. fit.data is empty when the table is absent.
  TrainSpec fit;
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

  bool produces_model() const { return kind != StageKind::kEvaluate; }
  // The data ids the stage reads (training data, evaluation domains, classifier data).
  std::vector<std::string> data_ids() const;
  // Reads one [stages.<name>] table, recording every problem on it.
  static StageSpec FromOptions(const std::string& name, const Options& table);
};

// Checks that every `from` / `baseline` names a model-producing stage and that the graph has no
// cycle (problems recorded on `stages_table`), and returns the stages in dependency order.
std::vector<std::string> OrderStages(const std::map<std::string, StageSpec>& stages,
                                     const Options& stages_table);

}  // namespace modelgrow
