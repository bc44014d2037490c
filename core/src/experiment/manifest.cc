#include "modelgrow/experiment/manifest.h"

#include <functional>
#include <set>

#include <fmt/format.h>

#include "modelgrow/host/plugin_registry.h"
#include "modelgrow/sdk/data_pipeline.h"
#include "modelgrow/sdk/growth_operator.h"
#include "modelgrow/sdk/text_encoder.h"

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

namespace {

bool ProducesModel(StageKind kind) { return kind != StageKind::kEvaluate; }

ExperimentSpec ReadExperiment(const Options& t) {
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

OptimSpec ReadOptim(const Options& t) {
  OptimSpec o;
  o.lr = t.Double("lr", o.lr, {.min = 0, .min_exclusive = true});
  o.weight_decay = t.Double("weight_decay", o.weight_decay, {.min = 0});
  o.beta1 = t.Double("beta1", o.beta1, {.min = 0, .max = 1});
  o.beta2 = t.Double("beta2", o.beta2, {.min = 0, .max = 1});
  o.eps = t.Double("eps", o.eps, {.min = 0, .min_exclusive = true});
  o.grad_clip = t.Double("grad_clip", o.grad_clip, {.min = 0});
  o.warmup_steps = t.Int("warmup_steps", o.warmup_steps, {.min = 0});
  o.schedule = t.Choice("schedule", o.schedule, {"constant", "cosine"});
  o.min_lr_ratio = t.Double("min_lr_ratio", o.min_lr_ratio, {.min = 0, .max = 1});
  t.RejectUnknownKeys();
  return o;
}

TrainSpec ReadTrain(const Options& t, StageKind kind) {
  TrainSpec s;
  s.data = t.RequireString("data");
  s.caption = t.Choice("caption", s.caption, {"short", "detailed", "mixed"});
  s.steps = t.Int("steps", s.steps, {.min = 0});
  s.batch_size = t.Int("batch_size", s.batch_size, {.min = 1});
  s.grad_accum = t.Int("grad_accum", s.grad_accum, {.min = 1});
  s.optim = ReadOptim(t.Table("optim"));
  Options flow = t.Table("flow");
  s.flow = RectifiedFlowConfig::FromOptions(flow);
  flow.RejectUnknownKeys();
  s.ema_decay = t.Double("ema_decay", s.ema_decay, {.min = 0, .max = 1});
  s.caption_dropout = t.Double("caption_dropout", s.caption_dropout, {.min = 0, .max = 1});
  s.frame_mask_prob = t.Double("frame_mask_prob", s.frame_mask_prob, {.min = 0, .max = 1});
  s.precision = t.Choice("precision", s.precision, {"fp32", "bf16"});
  s.grad_checkpointing = t.Bool("grad_checkpointing", s.grad_checkpointing);
  s.checkpoint_every = t.Int("checkpoint_every", s.checkpoint_every, {.min = 0});
  s.log_every = t.Int("log_every", s.log_every, {.min = 1});
  s.workers = static_cast<int>(t.Int("workers", s.workers, {.min = 0, .max = 64}));
  if (kind == StageKind::kPretrain) {
    s.init = t.String("init", "");
  } else {
    s.optimizer_state = t.Choice("optimizer_state", s.optimizer_state, {"reset", "carry"});
  }
  return s;
}

ProbeOptions ReadProbe(const Options& t) {
  ProbeOptions p;
  p.seed = static_cast<uint64_t>(t.Int("seed", static_cast<int64_t>(p.seed), {.min = 0}));
  p.batch = t.Int("batch", p.batch, {.min = 1, .max = 64});
  p.frames = t.Int("frames", p.frames, {.min = 1, .max = 256});
  p.height = t.Int("height", p.height, {.min = 1, .max = 4096});
  p.width = t.Int("width", p.width, {.min = 1, .max = 4096});
  p.timesteps = t.DoubleList("timesteps", p.timesteps);
  p.measure_bf16 = t.Bool("bf16", p.measure_bf16);
  t.RejectUnknownKeys();
  return p;
}

EvaluateSpec ReadEvaluate(const Options& t) {
  EvaluateSpec e;
  Options domains = t.Table("domains");
  for (const std::string& domain : domains.Keys()) e.domains[domain] = domains.String(domain, "");
  if (e.domains.empty()) t.Fail("domains", "needs at least one domain = \"<held-out data id>\"");
  domains.RejectUnknownKeys();
  e.prompts = t.StringList("prompts", e.prompts);
  for (const std::string& p : e.prompts) {
    if (p != "short" && p != "detailed") {
      t.Fail("prompts", fmt::format("prompt kinds are 'short' and 'detailed', not '{}'", p));
    }
  }
  e.samples = t.Int("samples", e.samples, {.min = 0, .max = 100000});
  e.sampling_steps = t.Int("sampling_steps", e.sampling_steps, {.min = 1, .max = 1000});
  e.cfg_scale = t.Double("cfg_scale", e.cfg_scale, {.min = 0});
  e.loss_samples = t.Int("loss_samples", e.loss_samples, {.min = 0});
  e.loss_timesteps = t.DoubleList("loss_timesteps", e.loss_timesteps);
  for (double ts : e.loss_timesteps) {
    if (ts < 0 || ts > 1000) t.Fail("loss_timesteps", fmt::format("{} is outside [0, 1000]", ts));
  }
  e.baseline = t.String("baseline", "");
  e.weights = t.Choice("weights", e.weights, {"ema", "raw"});
  e.grid_prompts = t.Int("grid_prompts", e.grid_prompts, {.min = 0, .max = 64});
  Options c = t.Table("classifier");
  e.classifier.data = c.StringOrList("data", {});
  e.classifier.steps = c.Int("steps", e.classifier.steps, {.min = 1});
  e.classifier.batch_size = c.Int("batch_size", e.classifier.batch_size, {.min = 1});
  e.classifier.lr = c.Double("lr", e.classifier.lr, {.min = 0, .min_exclusive = true});
  e.classifier.width = c.Int("width", e.classifier.width, {.min = 4, .max = 1024});
  c.RejectUnknownKeys();
  return e;
}

TinyTextSpec ReadTiny(const Options& t) {
  TinyTextSpec m;
  m.type = t.Choice("type", m.type, {"t5", "llama", "qwen2"});
  m.corpus = t.StringOrList("corpus", {});
  if (m.corpus.empty()) t.Fail("corpus", "needs the data id(s) whose captions train the tokenizer");
  m.vocab_size = t.Int("vocab_size", m.vocab_size, {.min = 32, .max = 1 << 20});
  m.tokenizer_type = t.Choice("tokenizer_type", m.tokenizer_type, {"bpe", "unigram"});
  m.d_model = t.Int("d_model", m.d_model, {.min = 8});
  m.kv_heads = t.Int("kv_heads", m.kv_heads, {.min = 0});
  m.layers = t.Int("layers", m.layers, {.min = 1});
  m.heads = t.Int("heads", m.heads, {.min = 1});
  m.max_length = t.Int("max_length", m.max_length, {.min = 1});
  m.seed = static_cast<uint64_t>(t.Int("seed", 0, {.min = 0}));
  m.train_steps = t.Int("train_steps", m.train_steps, {.min = 0});
  m.train_lr = t.Double("train_lr", m.train_lr, {.min = 0, .min_exclusive = true});
  m.train_batch_size = t.Int("train_batch_size", m.train_batch_size, {.min = 1});
  if (m.train_steps > 0 && m.type == "t5") {
    t.Fail("train_steps", "only decoders (llama, qwen2) are trained; a tiny T5 stays random");
  }
  if (m.d_model % m.heads != 0) t.Fail("heads", "d_model must be divisible by heads");
  if (m.kv_heads > 0 && m.heads % m.kv_heads != 0)
    t.Fail("kv_heads", "heads must be divisible by kv_heads");
  t.RejectUnknownKeys();
  return m;
}

// Adds the problems of creating a plugin (validate_only) to `where`'s document; they keep their
// own positions and key paths.
template <typename Make>
void CheckPlugin(const Options& where, const std::string& key, Make make) {
  try {
    make();
  } catch (const ValidationError& e) {
    for (const Problem& p : e.problems()) where.AddProblem(p);
  } catch (const InputError& e) {
    where.Fail(key, e.what());
  }
}

}  // namespace

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

Manifest Manifest::FromOptions(Options doc, const PluginRegistry* registry) {
  Manifest m;
  m.doc_ = doc;
  m.experiment_ = ReadExperiment(doc.Table("experiment"));
  if (!doc.Has("experiment")) doc.Fail("experiment", "missing [experiment] table (name = \"...\")");

  // Data pipelines (inherit first, so a child sees its parent's options).
  Options data = doc.Table("data");
  std::map<std::string, Options> data_tables;
  for (const std::string& id : data.Keys()) data_tables.emplace(id, data.Table(id));
  std::function<Options(const std::string&, int)> resolve = [&](const std::string& id,
                                                                int depth) -> Options {
    Options t = data_tables.at(id);
    std::string parent = t.String("inherit", "");
    if (parent.empty()) return t;
    if (!data_tables.count(parent)) {
      t.Fail("inherit", fmt::format("no data table '{}'", parent));
      return t;
    }
    if (depth > 16) {
      t.Fail("inherit", "inheritance goes in a circle");
      return t;
    }
    return t.MergedOver(resolve(parent, depth + 1));
  };
  for (const auto& [id, table] : data_tables) {
    Options merged = resolve(id, 0);
    PluginSpec spec;
    spec.id = id;
    spec.plugin = merged.RequireString("plugin");
    merged.Accept("inherit");
    table.Accept("plugin");
    table.Accept("inherit");
    spec.options = merged.Subset({"plugin", "inherit"});
    // Every other key belongs to the plugin, which checks it below.
    for (const std::string& k : table.Keys()) table.Accept(k);
    if (table.Has("inherit")) {
      // The merged table is a copy; its problems belong to this document.
      for (Problem& p : merged.TakeProblems()) doc.AddProblem(std::move(p));
    }
    m.data_.emplace(id, spec);
  }
  data.RejectUnknownKeys();

  // Text encoders.
  Options text = doc.Table("text");
  for (const std::string& id : text.Keys()) {
    Options t = text.Table(id);
    TextSpec spec;
    spec.id = id;
    if (t.Has("make")) {
      Options make = t.Table("make");
      spec.make = ReadTiny(make);
      spec.plugin = t.String("plugin", spec.make->type == "t5" ? "t5" : "llm");
      for (const std::string& corpus : spec.make->corpus) {
        if (!m.data_.count(corpus)) make.Fail("corpus", fmt::format("no data table '{}'", corpus));
      }
    } else {
      spec.plugin = t.RequireString("plugin");
    }
    for (const std::string& k : t.Keys()) t.Accept(k);
    spec.options = t.Subset({"plugin", "make"});
    m.text_.emplace(id, spec);
  }
  text.RejectUnknownKeys();

  // The base model.
  m.model_table_ = doc.Table("model");
  m.condition0_text_ =
      m.model_table_.String("text", m.text_.size() == 1 ? m.text_.begin()->first : "");
  if (m.condition0_text_.empty()) {
    m.model_table_.Fail("text", "name the text encoder of condition 0 (a [text.<id>] table)");
  } else if (!m.text_.count(m.condition0_text_)) {
    m.model_table_.Fail("text", fmt::format("no [text.{}] table", m.condition0_text_));
  }
  ConfigFromOptions(m.model_table_);
  m.model_table_.RejectUnknownKeys();

  // Stages.
  Options stages = doc.Table("stages");
  for (const std::string& name : stages.Keys()) {
    Options t = stages.Table(name);
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
        s.train = ReadTrain(t, s.kind);
        if (!s.train.data.empty() && !m.data_.count(s.train.data)) {
          t.Fail("data", fmt::format("no data table '{}'", s.train.data));
        }
        break;
      case StageKind::kGrow: {
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
        s.grow.probe = ReadProbe(t.Table("probe"));
        break;
      }
      case StageKind::kEvaluate:
        s.eval = ReadEvaluate(t);
        for (const auto& [domain, id] : s.eval.domains) {
          if (!m.data_.count(id))
            t.Fail("domains", fmt::format("domain '{}': no data table '{}'", domain, id));
        }
        for (const std::string& id : s.eval.classifier.data) {
          if (!m.data_.count(id)) t.Fail("classifier", fmt::format("no data table '{}'", id));
        }
        if (s.eval.classifier.data.empty()) {
          t.Fail("classifier",
                 "classifier.data: name the data table(s) of real videos it learns from");
        }
        break;
    }
    t.RejectUnknownKeys();
    m.stages_.emplace(name, s);
  }
  stages.RejectUnknownKeys();
  if (m.stages_.empty()) doc.Fail("stages", "no stages: add [stages.<name>] tables");

  // The stage graph: every `from` names a model-producing stage; no cycles.
  for (const auto& [name, s] : m.stages_) {
    for (const std::string& ref : {s.from, s.eval.baseline}) {
      if (ref.empty()) continue;
      auto it = m.stages_.find(ref);
      Options t = stages.Table(name);
      std::string key = ref == s.from ? "from" : "baseline";
      if (it == m.stages_.end()) {
        std::vector<std::string> names;
        for (const auto& [n, x] : m.stages_) names.push_back(n);
        std::string hint = SuggestClosest(ref, names);
        t.Fail(key, fmt::format("no stage named '{}'{}", ref, hint.empty() ? "" : "; " + hint));
      } else if (!ProducesModel(it->second.kind)) {
        t.Fail(key, fmt::format("stage '{}' is an evaluation; it produces no model", ref));
      }
    }
  }
  std::set<std::string> done, visiting;
  std::function<void(const std::string&)> visit = [&](const std::string& name) {
    if (done.count(name) || !m.stages_.count(name)) return;
    if (visiting.count(name)) {
      stages.Table(name).Fail("from", "stages form a cycle");
      return;
    }
    visiting.insert(name);
    const StageSpec& s = m.stages_.at(name);
    if (!s.from.empty()) visit(s.from);
    if (!s.eval.baseline.empty()) visit(s.eval.baseline);
    visiting.erase(name);
    done.insert(name);
    m.stage_order_.push_back(name);
  };
  for (const auto& [name, s] : m.stages_) visit(name);

  // Sweep axes: every key they set must exist in the manifest.
  Options sweep = doc.Table("sweep");
  for (Options axis : sweep.TableArray("axis")) {
    SweepAxis a;
    if (axis.Has("key")) {
      std::string key = axis.RequireString("key");
      a.name = axis.String("name", key);
      if (!doc.HasPath(key)) {
        axis.Fail("key",
                  fmt::format("'{}' is not a key of this manifest (a sweep can only vary keys "
                              "the manifest sets)",
                              key));
      }
      std::vector<Options> values = axis.ArrayElementsAsTables("values");
      axis.Accept("values");
      if (values.empty()) axis.Fail("values", "needs a non-empty array of values");
      std::vector<std::string> labels = axis.StringList("labels", {});
      if (!labels.empty() && labels.size() != values.size()) {
        axis.Fail("labels", fmt::format("{} labels for {} values", labels.size(), values.size()));
      }
      for (size_t i = 0; i < values.size(); ++i) {
        SweepValue v;
        v.label = i < labels.size() ? labels[i] : values[i].ValueText("v");
        v.sets.emplace_back(key, values[i]);
        a.values.push_back(v);
      }
    } else {
      a.name = axis.RequireString("name");
      for (Options value : axis.TableArray("value")) {
        SweepValue v;
        v.label = value.RequireString("label");
        Options set = value.Table("set");
        for (const std::string& key : set.Keys()) {
          set.Accept(key);
          if (!doc.HasPath(key)) {
            set.Fail(key, fmt::format("'{}' is not a key of this manifest", key));
          }
          v.sets.emplace_back(key, set.ValueAsTable(key));
        }
        value.RejectUnknownKeys();
        a.values.push_back(v);
      }
      if (a.values.empty()) axis.Fail("value", "needs [[sweep.axis.value]] entries (label, set)");
    }
    axis.RejectUnknownKeys();
    m.sweep_.push_back(a);
  }
  sweep.RejectUnknownKeys();
  doc.RejectUnknownKeys();

  // Plugins: names and options, without loading anything.
  if (registry != nullptr) {
    auto context = [](const Options& options) {
      PluginContext c;
      c.options = options.Subset();
      c.validate_only = true;
      return c;
    };
    for (const auto& [id, spec] : m.data_) {
      CheckPlugin(data, id,
                  [&] { registry->MakeDataPipeline(spec.plugin, context(spec.options)); });
    }
    for (const auto& [id, spec] : m.text_) {
      Options options = spec.options.Subset();
      if (spec.make) options.Set("path", "\"(made by the run)\"");
      CheckPlugin(text, id, [&] { registry->MakeTextEncoder(spec.plugin, context(options)); });
    }
    for (const auto& [name, s] : m.stages_) {
      for (const PluginSpec& op : s.grow.ops) {
        CheckPlugin(stages.Table(name), "ops",
                    [&] { registry->MakeGrowthOperator(op.plugin, context(op.options)); });
      }
    }
  }
  doc.ThrowIfProblems();
  return m;
}

STDiT3Config Manifest::model_config() const {
  Options copy = model_table_.Subset();
  return ConfigFromOptions(copy);
}

std::vector<RunSpec> ExpandRuns(const Manifest& manifest) {
  std::vector<RunSpec> runs{RunSpec{}};
  runs[0].doc = manifest.doc().Clone();
  for (const SweepAxis& axis : manifest.sweep()) {
    std::vector<RunSpec> next;
    for (const RunSpec& run : runs) {
      for (const SweepValue& value : axis.values) {
        RunSpec r = run;
        r.doc = run.doc.Clone();
        for (const auto& [key, table] : value.sets) r.doc.SetFrom(key, table, "v");
        r.labels.emplace_back(axis.name, value.label);
        next.push_back(std::move(r));
      }
    }
    runs = std::move(next);
  }
  std::vector<RunSpec> out;
  for (const RunSpec& run : runs) {
    for (uint64_t seed : manifest.experiment().seeds) {
      RunSpec r = run;
      r.doc = run.doc.Clone();
      r.seed = seed;
      r.labels.emplace_back("seed", std::to_string(seed));
      std::string id;
      for (const auto& [axis, label] : r.labels) id += (id.empty() ? "" : ",") + axis + "=" + label;
      r.id = id;
      r.index = out.size();
      out.push_back(std::move(r));
    }
  }
  return out;
}

}  // namespace modelgrow
