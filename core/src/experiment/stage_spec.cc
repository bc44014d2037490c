#include "modelgrow/experiment/stage_spec.h"

#include <functional>
#include <set>

#include <fmt/format.h>

namespace modelgrow {

const char* StageKindName(StageKind kind) {
  switch (kind) {
    case StageKind::kPretrain:
      return "pretrain";
    case StageKind::kGrow:
      return "grow";
    case StageKind::kContinue:
      return "continue";
    case StageKind::kEvaluate:
      return "evaluate";
  }
  return "?";
}

std::vector<std::string> StageSpec::data_ids() const {
  std::set<std::string> ids;
  if (kind == StageKind::kPretrain || kind == StageKind::kContinue) ids.insert(train.data);
  if (kind == StageKind::kGrow) ids.insert(grow.fit.data);
  if (kind == StageKind::kEvaluate) {
    for (const auto& [domain, id] : eval.domains) ids.insert(id);
    for (const std::string& id : eval.classifier.data) ids.insert(id);
  }
  ids.erase("");
  return {ids.begin(), ids.end()};
}

namespace {

// The keys of a training stage that say what a loss is computed on; the steps and the optimizer
// belong to the operator that fits.
TrainSpec FitSpecFromOptions(const Options& t) {
  TrainSpec s;
  s.data = t.RequireString("data");
  s.caption = t.Choice("caption", s.caption, {"short", "detailed", "mixed"});
  s.batch_size = t.Int("batch_size", s.batch_size, {.min = 1});
  s.caption_dropout = t.Double("caption_dropout", s.caption_dropout, {.min = 0, .max = 1});
  s.frame_mask_prob = t.Double("frame_mask_prob", s.frame_mask_prob, {.min = 0, .max = 1});
  s.precision = t.Choice("precision", s.precision, {"fp32", "bf16"});
  Options flow = t.Table("flow");
  s.flow = RectifiedFlowConfig::FromOptions(flow);
  flow.RejectUnknownKeys();
  t.RejectUnknownKeys();
  return s;
}

}  // namespace

StageSpec StageSpec::FromOptions(const std::string& name, const Options& t) {
  StageSpec s;
  s.name = name;
  s.table = t;
  std::string kind = t.Choice("kind", "", {"pretrain", "grow", "continue", "evaluate"});
  if (!t.Has("kind")) t.Fail("kind", "missing: pretrain, grow, continue or evaluate");
  s.kind = kind == "grow"       ? StageKind::kGrow
           : kind == "continue" ? StageKind::kContinue
           : kind == "evaluate" ? StageKind::kEvaluate
                                : StageKind::kPretrain;
  if (s.kind == StageKind::kPretrain) {
    if (t.Has("from"))
      t.Fail("from", "a pretrain stage starts from [model] (or `init`), not a stage");
    t.Accept("from");
  } else {
    s.from = t.RequireString("from");
  }
  switch (s.kind) {
    case StageKind::kPretrain:
    case StageKind::kContinue:
      s.train = TrainSpec::FromOptions(t, s.kind == StageKind::kPretrain);
      break;
    case StageKind::kGrow:
      for (Options op : t.TableArray("ops")) {
        PluginSpec spec;
        spec.plugin = op.RequireString("plugin");
        spec.id = spec.plugin;
        for (const std::string& k : op.Keys()) op.Accept(k);
        spec.options = op.Subset({"plugin"});
        s.grow.ops.push_back(spec);
      }
      if (!t.Has("ops"))
        t.Fail("ops", "missing: a list of {plugin = ..., options...} (may be empty)");
      s.grow.probe = ProbeOptions::FromOptions(t.Table("probe"));
      if (t.Has("fit")) s.grow.fit = FitSpecFromOptions(t.Table("fit"));
      break;
    case StageKind::kEvaluate:
      s.eval = EvaluateSpec::FromOptions(t);
      break;
  }
  t.RejectUnknownKeys();
  return s;
}

std::vector<std::string> OrderStages(const std::map<std::string, StageSpec>& stages,
                                     const Options& stages_table) {
  std::vector<std::string> names;
  for (const auto& [n, x] : stages) names.push_back(n);
  for (const auto& [name, s] : stages) {
    for (const std::string& ref : {s.from, s.eval.baseline}) {
      if (ref.empty()) continue;
      auto it = stages.find(ref);
      std::string key = ref == s.from ? "from" : "baseline";
      Options t = stages_table.Table(name);
      if (it == stages.end()) {
        std::string hint = SuggestClosest(ref, names);
        t.Fail(key, fmt::format("no stage named '{}'{}", ref, hint.empty() ? "" : "; " + hint));
      } else if (!it->second.produces_model()) {
        t.Fail(key, fmt::format("stage '{}' is an evaluation; it produces no model", ref));
      }
    }
  }
  std::vector<std::string> order;
  std::set<std::string> done, visiting;
  std::function<void(const std::string&)> visit = [&](const std::string& name) {
    if (done.count(name) || !stages.count(name)) return;
    if (visiting.count(name)) {
      stages_table.Table(name).Fail("from", "stages form a cycle");
      return;
    }
    visiting.insert(name);
    const StageSpec& s = stages.at(name);
    if (!s.from.empty()) visit(s.from);
    if (!s.eval.baseline.empty()) visit(s.eval.baseline);
    visiting.erase(name);
    done.insert(name);
    order.push_back(name);
  };
  for (const std::string& name : names) visit(name);
  return order;
}

}  // namespace modelgrow
