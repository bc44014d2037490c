#include "modelgrow/experiment/manifest.h"

#include <functional>

#include <fmt/format.h>

#include "paired_comparisons.h"

namespace modelgrow {

namespace {

SourcePosition PositionOf(const Options& doc, const std::string& dotted_key) {
  size_t dot = dotted_key.rfind('.');
  if (dot == std::string::npos) return doc.Position(dotted_key);
  return doc.AtPath(dotted_key.substr(0, dot)).Position(dotted_key.substr(dot + 1));
}

}  // namespace

ComputeSpec ComputeSpec::FromOptions(const Options& t) {
  ComputeSpec c;
  c.reference = t.String("reference", "");
  c.target_loss = t.Double("target_loss", 0, {.min = 0});
  c.smooth = t.Int("smooth", c.smooth, {.min = 1, .max = 1000});
  t.RejectUnknownKeys();
  return c;
}

FindingsSpec FindingsSpec::FromOptions(const Options& t) {
  FindingsSpec f;
  // Only a metric with a better direction can be a finding; the names themselves are checked
  // against the runs' metrics when the report is written.
  auto directed = [](const Options& table, const std::string& key, const std::string& metric) {
    if (report::LowerIsBetter(metric)) return true;
    table.Fail(key, fmt::format("'{}' is not a metric with a better direction (expected a name "
                                "that starts with loss/, loss_at/, forgetting/, fd/ or acc/, as "
                                "in comparisons.csv)",
                                metric));
    return false;
  };
  f.metrics = t.StringList("metrics", {});
  for (const std::string& metric : f.metrics) directed(t, "metrics", metric);
  for (const Options& c : t.TableArray("contrasts")) {
    Contrast contrast{c.RequireString("metric"), c.RequireString("against")};
    c.RejectUnknownKeys();
    if (contrast.metric.empty() || contrast.against.empty()) continue;  // already a problem
    if (directed(c, "metric", contrast.metric) && directed(c, "against", contrast.against) &&
        *report::LowerIsBetter(contrast.metric) != *report::LowerIsBetter(contrast.against)) {
      const bool lower = *report::LowerIsBetter(contrast.metric);
      c.Fail("against", fmt::format("'{}' is better {} and '{}' better {}: their difference is "
                                    "no finding",
                                    contrast.metric, lower ? "lower" : "higher", contrast.against,
                                    lower ? "higher" : "lower"));
    }
    f.contrasts.push_back(std::move(contrast));
  }
  t.RejectUnknownKeys();
  return f;
}

ExperimentSpec ExperimentSpec::FromOptions(const Options& t) {
  ExperimentSpec e;
  e.name = t.RequireString("name");
  e.description = t.String("description", "");
  std::vector<int64_t> seeds = t.IntList("seeds", {0}, {.min = 0});
  if (seeds.empty()) t.Fail("seeds", "needs at least one seed");
  e.seeds.assign(seeds.begin(), seeds.end());
  e.device = t.Choice("device", "cpu", {"cpu", "cuda", "auto"});
  e.threads = static_cast<int>(t.Int("threads", 0, {.min = 0, .max = 1024}));
  e.out = t.String("out", "");
  e.slurm = SlurmSpec::FromOptions(t.Table("slurm"));
  e.compute = ComputeSpec::FromOptions(t.Table("compute"));
  e.findings = FindingsSpec::FromOptions(t.Table("findings"));
  t.RejectUnknownKeys();
  return e;
}

Manifest Manifest::Load(const std::filesystem::path& file, const std::vector<std::string>& sets,
                        const PluginRegistry* registry) {
  Options doc = Options::ParseFile(file);
  // Each override remembers its own text, so a problem with its value names it ("--set #2
  // 'stages.pretrain.steps=ten'") rather than the line the key has in the file.
  std::vector<std::pair<std::string, std::string>> overrides;  // key, origin
  std::vector<Problem> unknown_names;
  for (size_t i = 0; i < sets.size(); ++i) {
    const std::string& a = sets[i];
    const std::string origin = fmt::format("--set #{} '{}'", i + 1, a);
    size_t eq = a.find('=');
    if (eq == std::string::npos || a.find_first_not_of(" \t") == eq) {
      throw InputError(fmt::format("{}: expected key.path=value", origin));
    }
    std::string key = a.substr(0, eq);
    key.erase(key.find_last_not_of(" \t") + 1);
    key.erase(0, key.find_first_not_of(" \t"));
    // Stages, data sets and text encoders are named by the manifest: an override changes one
    // of them, and a misspelt name must not quietly create a new, half-defined one.
    const size_t dot = key.find('.'), second_dot = key.find('.', dot + 1);
    const std::string collection = key.substr(0, dot);
    if (dot != std::string::npos && second_dot != std::string::npos &&
        (collection == "stages" || collection == "data" || collection == "text")) {
      const std::string name = key.substr(dot + 1, second_dot - dot - 1);
      Options named = doc.Table(collection);
      if (!named.Has(name)) {
        const char* what = collection == "stages" ? "stage"
                           : collection == "data" ? "data set"
                                                  : "text encoder";
        std::string message = fmt::format("the manifest has no {} '{}' to change", what, name);
        if (std::string hint = SuggestClosest(name, named.Keys()); !hint.empty()) {
          message += "; " + hint;
        }
        unknown_names.push_back({SourcePosition{origin, 0, 0}, key, message});
        continue;
      }
    }
    // Missing tables further down are created (a stage's `flow` table, say): validation then
    // reports a misspelt one with a suggestion, at this --set.
    doc.Set(key, a.substr(eq + 1), origin);
    overrides.emplace_back(key, origin);
  }
  if (!unknown_names.empty()) throw ValidationError(std::move(unknown_names));
  doc.ThrowIfProblems();
  Manifest m = FromOptions(doc, registry);
  // A sweep axis sets its keys in the runs it makes, after --set: an override it would undo is
  // a mistake, never what the user meant.
  std::vector<Problem> conflicts;
  for (const auto& [key, origin] : overrides) {
    for (const SweepAxis& axis : m.sweep()) {
      for (const std::string& swept : axis.KeysSet()) {
        const bool overlap =
            key == swept || key.starts_with(swept + ".") || swept.starts_with(key + ".");
        if (!overlap) continue;
        conflicts.push_back({SourcePosition{origin, 0, 0}, key,
                             fmt::format("sweep axis '{}' sets '{}' in its runs, which would "
                                         "replace this value; change the sweep's values instead",
                                         axis.name, swept)});
      }
    }
  }
  if (!conflicts.empty()) throw ValidationError(std::move(conflicts));
  return m;
}

namespace {

Options Resolve(const Options& tables, const std::string& id, int depth) {
  Options t = tables.Table(id);
  std::string parent = t.String("inherit", "");
  if (parent.empty()) return t;
  if (tables.TypeOf(parent) != "table") {
    t.Fail("inherit", fmt::format("no table '{}' to inherit from", parent));
    return t;
  }
  if (depth > 16) {
    t.Fail("inherit", "inheritance goes in a circle");
    return t;
  }
  return t.MergedOver(Resolve(tables, parent, depth + 1));
}

}  // namespace

Options ResolveInheritance(const Options& tables, const std::string& id) {
  return Resolve(tables, id, 0);
}

void Manifest::ReadData(const Options& doc) {
  Options data = doc.Table("data");
  for (const std::string& id : data.Keys()) {
    Options table = data.Table(id);
    // Inheritance first, so a child sees its parent's options.
    Options merged = ResolveInheritance(data, id);
    PluginSpec spec;
    spec.id = id;
    spec.plugin = merged.RequireString("plugin");
    merged.Accept("inherit");
    spec.options = merged.Subset({"plugin", "inherit"});
    // Every other key belongs to the plugin, which checks it (CheckPlugins).
    for (const std::string& k : table.Keys()) table.Accept(k);
    if (table.Has("inherit")) {
      // The merged table is a copy; its problems belong to this document.
      for (Problem& p : merged.TakeProblems()) doc.AddProblem(std::move(p));
    }
    data_.emplace(id, spec);
  }
  data.RejectUnknownKeys();
}

void Manifest::ReadVae(const Options& doc) {
  if (!doc.Has("vae")) return;
  Options t = doc.Table("vae");
  PluginSpec spec;
  spec.id = "vae";
  spec.plugin = t.RequireString("plugin");
  // The other keys belong to the plugin, which checks them (CheckPlugins).
  for (const std::string& k : t.Keys()) t.Accept(k);
  spec.options = t.Subset({"plugin"});
  vae_ = spec;
}

void Manifest::ReadText(const Options& doc) {
  Options text = doc.Table("text");
  for (const std::string& id : text.Keys()) {
    Options t = text.Table(id);
    TextSpec spec;
    spec.id = id;
    spec.plugin = t.RequireString("plugin");
    if (t.Has("make")) {
      Options make = t.Table("make");
      spec.corpus = make.StringOrList("corpus", {});
      if (spec.corpus.empty()) {
        make.Fail("corpus", "name the data table(s) whose captions the made model learns from");
      }
      for (const std::string& corpus : spec.corpus) {
        if (!data_.count(corpus)) make.Fail("corpus", fmt::format("no data table '{}'", corpus));
      }
      for (const std::string& k : make.Keys()) make.Accept(k);
      spec.make = make.Subset({"corpus"});
    }
    for (const std::string& k : t.Keys()) t.Accept(k);
    spec.options = t.Subset({"plugin", "make"});
    text_.emplace(id, spec);
  }
  text.RejectUnknownKeys();
}

void Manifest::ReadModel(const Options& doc) {
  model_table_ = doc.Table("model");
  condition0_text_ = model_table_.String("text", text_.size() == 1 ? text_.begin()->first : "");
  if (condition0_text_.empty()) {
    model_table_.Fail("text", "name the text encoder of condition 0 (a [text.<id>] table)");
  } else if (!text_.count(condition0_text_)) {
    model_table_.Fail("text", fmt::format("no [text.{}] table", condition0_text_));
  }
  ConfigFromOptions(model_table_);
  model_table_.RejectUnknownKeys();
}

void Manifest::ReadStages(const Options& doc) {
  Options stages = doc.Table("stages");
  for (const std::string& name : stages.Keys()) {
    Options t = stages.Table(name);
    StageSpec s = StageSpec::FromOptions(name, t);
    // References into the rest of the manifest.
    if (!s.train.data.empty() && !data_.count(s.train.data)) {
      t.Fail("data", fmt::format("no data table '{}'", s.train.data));
    }
    for (const auto& [domain, id] : s.eval.domains) {
      if (!data_.count(id)) {
        t.Fail("domains", fmt::format("domain '{}': no data table '{}'", domain, id));
      }
    }
    for (const std::string& id : s.eval.classifier.data) {
      if (!data_.count(id))
        t.Table("classifier").Fail("data", fmt::format("no data table '{}'", id));
    }
    if (s.eval.rewrite && !s.eval.rewrite->text.empty() && !text_.count(s.eval.rewrite->text)) {
      t.Table("rewrite").Fail("text", fmt::format("no [text.{}] table", s.eval.rewrite->text));
    }
    stages_.emplace(name, s);
  }
  stages.RejectUnknownKeys();
  if (stages_.empty()) doc.Fail("stages", "no stages: add [stages.<name>] tables");
  stage_order_ = OrderStages(stages_, stages);
}

Manifest Manifest::FromOptions(Options doc, const PluginRegistry* registry) {
  Manifest m;
  m.doc_ = doc;
  m.experiment_ = ExperimentSpec::FromOptions(doc.Table("experiment"));
  if (!doc.Has("experiment")) doc.Fail("experiment", "missing [experiment] table (name = \"...\")");
  m.ReadData(doc);
  m.ReadVae(doc);
  m.ReadText(doc);
  m.ReadModel(doc);
  m.ReadStages(doc);
  m.sweep_ = ReadSweep(doc);
  // Runs are expanded one document each: their number is bounded before any is made.
  if (const double runs = m.RunCount(); runs > static_cast<double>(kMaxRuns)) {
    doc.Fail("sweep",
             fmt::format("the sweep's axes and seeds make {:.3g} runs, above the limit of {}", runs,
                         kMaxRuns));
    m.sweep_.clear();
  }
  doc.RejectUnknownKeys();
  for (const SweepAxis& axis : m.sweep_) {
    for (const std::string& key : axis.KeysSetByEveryValue()) {
      m.notes_.push_back(fmt::format(
          "{} ({}) is set by sweep axis '{}' in every run: the value written there is never used",
          key, PositionOf(doc, key).ToString(), axis.name));
    }
  }
  if (registry != nullptr) {
    m.CheckPlugins(doc, *registry);
    // Growth is simulated on the model the manifest describes, which needs a sound manifest.
    if (!doc.HasProblems()) m.CheckGrowth(doc, *registry);
  }
  doc.ThrowIfProblems();
  return m;
}

double Manifest::RunCount() const {
  double runs = static_cast<double>(std::max<size_t>(experiment_.seeds.size(), 1));
  for (const SweepAxis& axis : sweep_) runs *= static_cast<double>(axis.values.size());
  return runs;
}

STDiT3Config Manifest::model_config() const {
  Options copy = model_table_.Subset();
  return ConfigFromOptions(copy);
}

std::vector<RunSpec> ExpandRuns(const Manifest& manifest) {
  return ExpandRuns(manifest.doc(), manifest.sweep(), manifest.experiment().seeds);
}

}  // namespace modelgrow
