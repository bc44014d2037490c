#include "modelgrow/experiment/manifest.h"

#include <functional>

#include <fmt/format.h>

namespace modelgrow {

namespace {

SourcePosition PositionOf(const Options& doc, const std::string& dotted_key) {
  size_t dot = dotted_key.rfind('.');
  if (dot == std::string::npos) return doc.Position(dotted_key);
  return doc.AtPath(dotted_key.substr(0, dot)).Position(dotted_key.substr(dot + 1));
}

}  // namespace

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
  t.RejectUnknownKeys();
  return e;
}

Manifest Manifest::Load(const std::filesystem::path& file, const std::vector<std::string>& sets,
                        const PluginRegistry* registry) {
  Options doc = Options::ParseFile(file);
  for (const std::string& a : sets) {
    size_t eq = a.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw InputError(fmt::format("--set expects key.path=value, got '{}'", a));
    }
    std::string key = a.substr(0, eq);
    if (!doc.HasPath(key)) {
      // A typo in --set would otherwise silently add a key nobody reads.
      std::string parent = key.rfind('.') == std::string::npos ? "" : key.substr(0, key.rfind('.'));
      if (!parent.empty() && !doc.HasPath(parent) && doc.AtPath(parent).empty_view()) {
        throw InputError(
            fmt::format("--set {}: there is no table '{}' in {}", a, parent, file.string()));
      }
    }
    doc.Set(key, a.substr(eq + 1));
  }
  doc.ThrowIfProblems();
  return FromOptions(doc, registry);
}

void Manifest::ReadData(const Options& doc) {
  // Inheritance first, so a child sees its parent's options.
  Options data = doc.Table("data");
  std::map<std::string, Options> tables;
  for (const std::string& id : data.Keys()) tables.emplace(id, data.Table(id));
  std::function<Options(const std::string&, int)> resolve = [&](const std::string& id,
                                                                int depth) -> Options {
    Options t = tables.at(id);
    std::string parent = t.String("inherit", "");
    if (parent.empty()) return t;
    if (!tables.count(parent)) {
      t.Fail("inherit", fmt::format("no data table '{}'", parent));
      return t;
    }
    if (depth > 16) {
      t.Fail("inherit", "inheritance goes in a circle");
      return t;
    }
    return t.MergedOver(resolve(parent, depth + 1));
  };
  for (const auto& [id, table] : tables) {
    Options merged = resolve(id, 0);
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

STDiT3Config Manifest::model_config() const {
  Options copy = model_table_.Subset();
  return ConfigFromOptions(copy);
}

std::vector<RunSpec> ExpandRuns(const Manifest& manifest) {
  return ExpandRuns(manifest.doc(), manifest.sweep(), manifest.experiment().seeds);
}

}  // namespace modelgrow
