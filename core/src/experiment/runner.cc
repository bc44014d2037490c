#include "modelgrow/experiment/runner.h"

#include <ATen/Parallel.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/cuda.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "modelgrow/base/errors.h"
#include "modelgrow/base/provenance.h"
#include "modelgrow/base/threads.h"
#include "modelgrow/data/loader.h"
#include "modelgrow/eval/attribute_classifier.h"
#include "modelgrow/eval/evaluator.h"
#include "modelgrow/experiment/report.h"
#include "modelgrow/growth/grow.h"
#include "modelgrow/io/atomic_file.h"
#include "modelgrow/io/checkpoint.h"
#include "modelgrow/sdk/data_pipeline.h"
#include "modelgrow/sdk/text_encoder.h"
#include "modelgrow/text/chat_template.h"
#include "modelgrow/text/llm_trainer.h"
#include "modelgrow/text/text_cache.h"
#include "modelgrow/text/tiny_models.h"
#include "modelgrow/train/trainer.h"

namespace modelgrow {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// Bump when a change of the toolkit changes what a stage computes, so old caches are not reused.
constexpr const char* kCacheEpoch = "stage-cache-v2";  // v2: per-sample training draws

std::string PluginKey(const PluginSpec& spec) {
  return fmt::format("{}\n{}", spec.plugin, spec.options.ToToml());
}

std::string TinyKey(const TinyTextSpec& m) {
  return fmt::format("tiny-v1/{}/{}/{}/{}/{}/{}/{}/{}/{}/{}/{}/{}/{}", m.type,
                     fmt::join(m.corpus, ","), m.vocab_size, m.tokenizer_type, m.d_model, m.layers,
                     m.heads, m.kv_heads, m.max_length, m.seed, m.train_steps, m.train_lr,
                     m.train_batch_size);
}

json ReadJsonIfExists(const fs::path& file) {
  std::error_code ec;
  if (!fs::exists(file, ec)) return json();
  return json::parse(ReadFile(file), nullptr, false);
}

bool StageDone(const fs::path& dir) {
  json j = ReadJsonIfExists(dir / "stage.json");
  return j.is_object() && j.value("status", "") == "done";
}

c10::Device ResolveDevice(const std::string& name) {
  if (name == "cuda" || (name == "auto" && torch::cuda::is_available())) {
    if (!torch::cuda::is_available()) {
      throw InputError("experiment.device = \"cuda\" but this LibTorch sees no CUDA device");
    }
    return c10::Device(c10::DeviceType::CUDA, 0);
  }
  return c10::Device(c10::DeviceType::CPU);
}

// Everything one run needs while its stages execute.
class RunContext {
 public:
  RunContext(const PluginRegistry& registry, const Manifest& manifest, const RunSpec& run,
             const fs::path& out, const fs::path& run_dir, c10::Device device, bool resume)
      : registry_(registry),
        m_(manifest),
        run_(run),
        out_(out),
        run_dir_(run_dir),
        device_(device),
        resume_(resume) {}

  void Execute() {
    json stages = json::object();
    for (const std::string& name : m_.stage_order()) {
      const StageSpec& s = m_.stages().at(name);
      std::string hash = StageHash(s);
      hashes_[name] = hash;
      fs::path dir = out_ / "cache" / fmt::format("{}-{}", name, hash);
      dirs_[name] = dir;
      bool reused = StageDone(dir);
      std::cerr << fmt::format("== {} | stage {} ({}) {} {}\n", run_.id, name,
                               StageKindName(s.kind), reused ? "reused from" : "->",
                               fs::relative(dir, out_).string());
      if (!reused) {
        auto start = std::chrono::steady_clock::now();
        json info = RunStage(s, dir);
        info["status"] = "done";
        info["hash"] = hash;
        info["kind"] = StageKindName(s.kind);
        info["seconds"] =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        info["finished"] = UtcTimestamp();
        WriteFileAtomic(dir / "stage.json", info.dump(2) + "\n");
      }
      stages[name] = {
          {"dir", fs::relative(dir, run_dir_).string()}, {"hash", hash}, {"reused", reused}};
    }
    WriteFileAtomic(run_dir_ / "stages.json", stages.dump(2) + "\n");
    json evaluations = json::object();
    for (const std::string& name : m_.stage_order()) {
      if (m_.stages().at(name).kind != StageKind::kEvaluate) continue;
      evaluations[name] = ReadJsonIfExists(dirs_[name] / "results.json");
    }
    json labels = json::object();
    json axes = json::array();  // the labels in the manifest's axis order (a JSON object sorts)
    for (const auto& [axis, label] : run_.labels) {
      labels[axis] = label;
      axes.push_back({axis, label});
    }
    WriteFileAtomic(run_dir_ / "results.json", json{{"run", run_.id},
                                                    {"index", run_.index},
                                                    {"labels", labels},
                                                    {"axes", axes},
                                                    {"evaluations", evaluations}}
                                                       .dump(2) +
                                                   "\n");
  }

 private:
  // The hash of everything that determines a stage's result.
  std::string StageHash(const StageSpec& s) {
    std::string text = fmt::format("{}\n{}\nkind={}\nseed={}\n{}", kCacheEpoch, s.name,
                                   StageKindName(s.kind), run_.seed, s.table.ToToml());
    if (!s.from.empty()) text += "\nfrom=" + hashes_.at(s.from);
    if (!s.eval.baseline.empty()) text += "\nbaseline=" + hashes_.at(s.eval.baseline);
    if (s.kind == StageKind::kPretrain) text += "\nmodel=" + m_.model_table().ToToml();
    std::set<std::string> data_ids;
    if (s.kind == StageKind::kPretrain || s.kind == StageKind::kContinue)
      data_ids.insert(s.train.data);
    for (const auto& [domain, id] : s.eval.domains) data_ids.insert(id);
    for (const std::string& id : s.eval.classifier.data) data_ids.insert(id);
    for (const std::string& id : data_ids)
      text += "\ndata." + id + "=" + PluginKey(m_.data().at(id));
    if (s.kind != StageKind::kGrow) {
      for (const auto& [id, spec] : m_.text()) {
        text += "\ntext." + id + "=" + PluginKey(spec) + (spec.make ? TinyKey(*spec.make) : "");
      }
    }
    return HashText(text);
  }

  json RunStage(const StageSpec& s, const fs::path& dir) {
    fs::create_directories(dir);
    switch (s.kind) {
      case StageKind::kPretrain:
      case StageKind::kContinue:
        return TrainStage(s, dir);
      case StageKind::kGrow:
        return GrowStage(s, dir);
      case StageKind::kEvaluate:
        return EvaluateStage(s, dir);
    }
    return json::object();
  }

  std::shared_ptr<DataPipeline> Data(const std::string& id) {
    auto it = data_.find(id);
    if (it != data_.end()) return it->second;
    const PluginSpec& spec = m_.data().at(id);
    PluginContext context;
    context.options = spec.options.Subset();
    context.work_dir = out_ / "cache";
    context.seed = run_.seed;
    auto pipeline = registry_.MakeDataPipeline(spec.plugin, context);
    data_[id] = pipeline;
    return pipeline;
  }

  // A tiny encoder the run makes (shared by every run and seed: its key has no run seed).
  fs::path MakeTiny(const std::string& id, const TinyTextSpec& make) {
    fs::path dir = out_ / "cache" / fmt::format("text-{}-{}", id, HashText(TinyKey(make)));
    fs::path model = dir / (make.train_steps > 0 ? "trained" : "model");
    if (StageDone(dir)) return model;
    std::cerr << fmt::format("== making tiny {} text encoder '{}' -> {}\n", make.type, id,
                             fs::relative(dir, out_).string());
    fs::create_directories(dir);
    // The corpus: every caption (short and detailed) of the named data, once each.
    std::set<std::string> seen;
    std::string corpus;
    for (const std::string& data_id : make.corpus) {
      std::shared_ptr<DataPipeline> pipeline = Data(data_id);
      for (int64_t i = 0; i < pipeline->size(); ++i) {
        for (const auto& [kind, caption] : pipeline->Get(i).captions) {
          if (seen.insert(caption).second) corpus += caption + "\n";
        }
      }
    }
    WriteFileAtomic(dir / "corpus.txt", corpus);
    TinyEncoderOptions o;
    o.type = make.type;
    o.corpus = dir / "corpus.txt";
    o.out = dir / "model";
    o.vocab_size = make.vocab_size;
    o.tokenizer_type = make.tokenizer_type;
    o.d_model = make.d_model;
    o.layers = make.layers;
    o.heads = make.heads;
    o.kv_heads =
        make.kv_heads > 0 ? make.kv_heads : (make.heads % 2 == 0 ? make.heads / 2 : make.heads);
    o.seed = make.seed;
    o.Validate();
    json info = {{"made", MakeTinyEncoder(o).ToJson()}, {"captions", seen.size()}};
    if (make.train_steps > 0) {
      LlmTrainOptions t;
      t.model = dir / "model";
      t.corpus = dir / "corpus.txt";
      t.out = dir / "trained";
      t.steps = make.train_steps;
      t.lr = make.train_lr;
      t.batch_size = make.train_batch_size;
      t.seed = make.seed;
      // The decoder learns the captions inside the same template the encoder will wrap them in.
      t.text_template =
          m_.text().at(id).options.String("template", std::string(kDefaultLlmTemplate));
      t.max_length = std::max<int64_t>(t.max_length, make.max_length);
      t.Validate();
      LlmTrainReport report = TrainTinyLlm(t, std::cerr);
      info["trained"] = {{"loss_before", report.loss_before},
                         {"loss_after", report.loss_after},
                         {"steps", report.steps},
                         {"seconds", report.seconds}};
    }
    info["status"] = "done";
    WriteFileAtomic(dir / "stage.json", info.dump(2) + "\n");
    return model;
  }

  // The options a text encoder is created with (the made folder as `path` for tiny ones).
  Options TextOptions(const std::string& id) {
    const TextSpec& spec = m_.text().at(id);
    Options options = spec.options.Subset();
    if (spec.make) {
      options.Set("path", json(MakeTiny(id, *spec.make).string()).dump());
      if (!options.Has("max_length"))
        options.Set("max_length", std::to_string(spec.make->max_length));
    }
    return options;
  }

  TextEncoderCache* Text(const std::string& id) {
    auto it = text_.find(id);
    if (it != text_.end()) return it->second.get();
    if (!m_.text().count(id)) {
      throw InputError(
          fmt::format("the model has a text condition '{}' but the manifest has no "
                      "[text.{}] table",
                      id, id));
    }
    PluginContext context;
    context.options = TextOptions(id);
    context.work_dir = out_ / "cache";
    context.device = device_;
    context.seed = run_.seed;
    auto encoder = registry_.MakeTextEncoder(m_.text().at(id).plugin, context);
    auto cache = std::make_shared<TextEncoderCache>(encoder, out_ / "cache" / "text-embeddings");
    text_[id] = cache;
    return cache.get();
  }

  std::vector<std::string> ConditionNames(const STDiT3Impl& model) {
    std::vector<std::string> names{model.config().condition0_name};
    for (const auto& c : model.config().extra_conditions) names.push_back(c.name);
    return names;
  }

  std::vector<TextEncoderCache*> Encoders(const STDiT3Impl& model) {
    std::vector<TextEncoderCache*> out;
    for (const std::string& name : ConditionNames(model)) out.push_back(Text(name));
    return out;
  }

  // Fills the null captions of conditions whose encoders want the empty prompt's encoding.
  void ApplyNullPolicies(STDiT3Impl& model, int64_t from_condition) {
    std::vector<std::string> names = ConditionNames(model);
    torch::NoGradGuard no_grad;
    for (int64_t k = from_condition; k < static_cast<int64_t>(names.size()); ++k) {
      TextEncoderCache* cache = Text(names[k]);
      if (cache->encoder().null_policy() != NullCaptionPolicy::kEmptyPrompt) continue;
      model.NullCaption(k).copy_(
          cache->Encode({""}).embedding[0].to(model.NullCaption(k).device()));
    }
  }

  CheckpointMeta Meta(const STDiT3Impl& model, const StageSpec& s) {
    CheckpointMeta meta = DescribeModel(model);
    meta.provenance = BuildProvenance();
    meta.provenance["stage"] = s.name;
    meta.provenance["run"] = run_.id;
    meta.provenance["seed"] = run_.seed;
    meta.provenance["manifest_hash"] = HashText(m_.doc().ToToml());
    meta.provenance["created"] = UtcTimestamp();
    // What `modelgrow sample` needs to rebuild the text encoders of every condition.
    json encoders = json::object();
    for (const std::string& name : ConditionNames(model)) {
      if (!m_.text().count(name)) continue;
      encoders[name] = {{"plugin", m_.text().at(name).plugin},
                        {"options", TextOptions(name).ToToml()}};
    }
    meta.provenance["text_encoders"] = encoders;
    return meta;
  }

  json TrainStage(const StageSpec& s, const fs::path& dir) {
    STDiT3 model{nullptr};
    const OptimizerState* initial = nullptr;
    OptimizerState carried;
    bool resuming = resume_ && fs::exists(dir / "checkpoint" / "trainer_state.json");
    if (s.kind == StageKind::kPretrain && s.train.init.empty()) {
      STDiT3Config config = m_.model_config();
      config.condition0_name = m_.condition0_text();
      TextEncoder& encoder = Text(m_.condition0_text())->encoder();
      if (!m_.model_table().Has("caption_channels")) config.caption_channels = encoder.dim();
      if (!m_.model_table().Has("model_max_length")) config.model_max_length = encoder.max_length();
      torch::manual_seed(run_.seed);
      model = STDiT3(config);
      model->to(device_);
      ApplyNullPolicies(*model, 0);
    } else {
      fs::path from =
          s.kind == StageKind::kPretrain ? fs::path(s.train.init) : dirs_.at(s.from) / "checkpoint";
      model = LoadModel(from, device_).model;
      if (s.kind == StageKind::kContinue && s.train.optimizer_state == "carry") {
        carried = LoadOptimizerState(from);
        initial = &carried;
      }
    }
    std::unique_ptr<DataLoader> loader;
    LoaderOptions lo;
    lo.batch_size = s.train.batch_size;
    lo.seed = run_.seed;
    lo.workers = s.train.workers;
    loader = std::make_unique<DataLoader>(Data(s.train.data), lo);
    TrainContext context;
    context.model = model.get();
    context.loader = loader.get();
    context.text = Encoders(*model);
    context.spec = s.train;
    context.seed = run_.seed;
    context.dir = dir;
    context.meta = Meta(*model, s);
    context.initial_optimizer_state = initial;
    context.resume = resuming;
    context.label = fmt::format("{} {}", run_.id, s.name);
    context.device = device_;
    TrainResult r = Train(context);
    return {{"steps", r.steps},
            {"resumed_from", r.resumed_from},
            {"first_loss", r.first_loss},
            {"final_loss", r.final_loss},
            {"train_seconds", r.seconds},
            {"steps_per_second", r.steps_per_second},
            {"samples_per_second", r.samples_per_second},
            {"params", model->NumParameters()},
            {"trainable", model->NumTrainableParameters()},
            {"loader", loader->Stats()}};
  }

  json GrowStage(const StageSpec& s, const fs::path& dir) {
    fs::path from = dirs_.at(s.from) / "checkpoint";
    STDiT3 model = LoadModel(from, device_).model;
    OptimizerState state = LoadOptimizerState(from);
    std::vector<GrowthStep> steps;
    for (const PluginSpec& op : s.grow.ops) steps.push_back({op.plugin, op.options.Subset()});
    const int64_t conditions_before = model->config().num_conditions();
    std::vector<GrowthReport> reports =
        GrowModel(registry_, *model, steps, &state, run_.seed, s.grow.probe);
    ApplyNullPolicies(*model, conditions_before);
    json report = GrowthReportsToJson(reports);
    CheckpointWriter writer(dir / "checkpoint");
    writer.AddModel(*model, Meta(*model, s));
    writer.AddJson("growth_report.json", report);
    writer.Commit();
    if (!state.empty()) SaveOptimizerState(dir / "checkpoint", state);
    WriteFileAtomic(dir / "growth_report.json", report.dump(2) + "\n");
    for (const GrowthReport& r : reports) {
      std::cerr << fmt::format(
          "   {}: {} -> {} parameters ({} trainable), preservation max rel {:.1e}\n", r.op,
          r.params_before, r.params_after, r.trainable_after, r.preservation.max_rel);
    }
    return {{"params", model->NumParameters()},
            {"trainable", model->NumTrainableParameters()},
            {"growth", report}};
  }

  AttributeClassifier Classifier(const EvaluateSpec& spec) {
    std::vector<std::shared_ptr<DataPipeline>> data;
    std::string key = "classifier";
    for (const std::string& id : spec.classifier.data) {
      data.push_back(Data(id));
      key += "\n" + PluginKey(m_.data().at(id));
    }
    ClassifierTraining t;
    t.steps = spec.classifier.steps;
    t.batch_size = spec.classifier.batch_size;
    t.lr = spec.classifier.lr;
    t.width = spec.classifier.width;
    key += fmt::format("\n{}/{}/{}/{}", t.steps, t.batch_size, t.lr, t.width);
    return TrainOrLoadClassifier(data, t, out_ / "cache" / ("classifier-" + HashText(key)));
  }

  json Evaluate(const fs::path& checkpoint, const EvaluateSpec& spec,
                AttributeClassifier classifier, const fs::path& samples_dir,
                const std::string& prefix) {
    STDiT3 model = LoadModel(checkpoint, device_).model;
    bool ema = spec.weights == "ema" && LoadEmaWeights(*model, checkpoint);
    EvaluationSetup setup;
    for (const auto& [domain, id] : spec.domains) setup.domains[domain] = Data(id);
    setup.classifier = classifier;
    setup.spec = spec;
    setup.device = device_;
    setup.samples_dir = samples_dir;
    setup.sample_prefix = prefix;
    json result = EvaluateModel(*model, Encoders(*model), setup);
    result["weights"] = ema ? "ema" : "raw";
    result["model"] = {{"params", model->NumParameters()},
                       {"trainable", model->NumTrainableParameters()},
                       {"spatial_blocks", model->spatial_blocks().size()},
                       {"temporal_blocks", model->temporal_blocks().size()},
                       {"conditions", ConditionNames(*model)}};
    return result;
  }

  json EvaluateStage(const StageSpec& s, const fs::path& dir) {
    AttributeClassifier classifier = Classifier(s.eval);
    json result =
        Evaluate(dirs_.at(s.from) / "checkpoint", s.eval, classifier, dir / "samples", "");
    if (!s.eval.baseline.empty()) {
      // The base model's row: one evaluation per baseline stage and settings, shared by runs.
      fs::path base_dir = out_ / "cache" /
                          fmt::format("baseline-{}-{}", s.eval.baseline,
                                      HashText(hashes_.at(s.eval.baseline) + s.table.ToToml()));
      json base = ReadJsonIfExists(base_dir / "results.json");
      if (!base.is_object()) {
        std::cerr << fmt::format("== {} | baseline: evaluating stage {}\n", run_.id,
                                 s.eval.baseline);
        base = Evaluate(dirs_.at(s.eval.baseline) / "checkpoint", s.eval, classifier,
                        base_dir / "samples", "base_");
        WriteFileAtomic(base_dir / "results.json", base.dump(2) + "\n");
      }
      result["baseline"] = base;
      result["baseline"]["samples_dir"] = fs::relative(base_dir / "samples", dir).string();
      for (const auto& [key, value] : result["metrics"].items()) {
        if (key.rfind("loss/", 0) == 0 && base["metrics"].contains(key)) {
          result["metrics"]["forgetting/" + key.substr(5)] =
              value.get<double>() - base["metrics"][key].get<double>();
        }
      }
    }
    // What the growth and training before it did, walked back along `from`.
    json growth = json::array(), wall = json::object();
    for (std::string name = s.from; !name.empty(); name = m_.stages().at(name).from) {
      json info = ReadJsonIfExists(dirs_.at(name) / "stage.json");
      if (info.is_object()) wall[name] = info.value("seconds", 0.0);
      json g = ReadJsonIfExists(dirs_.at(name) / "growth_report.json");
      json steps = g.is_object() ? g.value("steps", json::array()) : json::array();
      for (auto it = steps.rbegin(); it != steps.rend(); ++it) growth.insert(growth.begin(), *it);
    }
    result["growth"] = growth;
    result["stage_seconds"] = wall;
    // Training curves of the chain, for the report.
    json curves = json::object();
    for (std::string name = s.from; !name.empty(); name = m_.stages().at(name).from) {
      if (fs::exists(dirs_.at(name) / "metrics.jsonl")) {
        curves[name] = fs::relative(dirs_.at(name) / "metrics.jsonl", dir).string();
      }
    }
    result["curves"] = curves;
    WriteFileAtomic(dir / "results.json", result.dump(2) + "\n");
    return {{"metrics", result["metrics"]}};
  }

  const PluginRegistry& registry_;
  const Manifest& m_;
  const RunSpec& run_;
  fs::path out_, run_dir_;
  c10::Device device_;
  bool resume_;
  std::map<std::string, std::string> hashes_;
  std::map<std::string, fs::path> dirs_;
  std::map<std::string, std::shared_ptr<DataPipeline>> data_;
  std::map<std::string, std::shared_ptr<TextEncoderCache>> text_;
};

}  // namespace

std::string RunFolderName(const std::string& run_id) {
  std::string name;
  for (char c : run_id) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '=' || c == ',' || c == '.' ||
              c == '-' || c == '_';
    name += ok ? c : '_';
  }
  return name.empty() ? "run" : name;
}

ExperimentRunner::ExperimentRunner(const PluginRegistry& registry, Manifest manifest,
                                   RunnerOptions options)
    : registry_(registry),
      manifest_(std::move(manifest)),
      options_(std::move(options)),
      device_(c10::DeviceType::CPU) {
  runs_ = ExpandRuns(manifest_);
  // Every run's manifest is checked before any work starts. A problem only a sweep value causes
  // sits at the key it sets, so the message names the run that set it.
  for (const RunSpec& run : runs_) {
    try {
      Manifest::FromOptions(run.doc, &registry_);
    } catch (const ValidationError& e) {
      std::vector<Problem> problems = e.problems();
      for (Problem& p : problems) p.message += fmt::format(" (in sweep run {})", run.id);
      throw ValidationError(std::move(problems));
    }
  }
  if (options_.only && *options_.only >= runs_.size()) {
    throw InputError(fmt::format("--only {}: the manifest has {} run(s) (0..{})", *options_.only,
                                 runs_.size(), runs_.size() - 1));
  }
  device_ = options_.device ? *options_.device : ResolveDevice(manifest_.experiment().device);
  if (options_.out.empty()) {
    options_.out = manifest_.experiment().out.empty()
                       ? fs::path("runs") / manifest_.experiment().name
                       : fs::path(manifest_.experiment().out);
  }
}

fs::path ExperimentRunner::RunDir(const RunSpec& run) const {
  return options_.out / "runs" / RunFolderName(run.id);
}

void ExperimentRunner::RunOne(const RunSpec& run) {
  Manifest m = Manifest::FromOptions(run.doc, &registry_);
  fs::path dir = RunDir(run);
  fs::create_directories(dir);
  WriteFileAtomic(dir / "manifest.resolved.toml", run.doc.ToToml() + "\n");
  json provenance = BuildProvenance();
  provenance["seed"] = run.seed;
  provenance["device"] = device_.str();
  provenance["run"] = run.id;
  provenance["started"] = UtcTimestamp();
  WriteFileAtomic(dir / "provenance.json", provenance.dump(2) + "\n");
  RunContext context(registry_, m, run, options_.out, dir, device_, options_.resume);
  context.Execute();
}

fs::path ExperimentRunner::Run() {
  fs::create_directories(options_.out);
  if (manifest_.experiment().threads > 0) ConfigureThreads(manifest_.experiment().threads);
  WriteFileAtomic(options_.out / "manifest.toml", manifest_.doc().ToToml() + "\n");
  auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < runs_.size(); ++i) {
    if (options_.only && *options_.only != i) continue;
    std::cerr << fmt::format("== run {}/{}: {}\n", i + 1, runs_.size(), runs_[i].id);
    RunOne(runs_[i]);
  }
  std::cerr << fmt::format(
      "== {} run(s) finished in {:.1f} min\n", options_.only ? 1 : runs_.size(),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / 60);
  if (!options_.report) return {};
  return WriteReport(options_.out);
}

namespace {

// `text` as one word for bash: in single quotes, each single quote written as '\''.
std::string ShellQuote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

}  // namespace

std::string SlurmScript(const Manifest& manifest, const fs::path& manifest_path,
                        const fs::path& out, const std::vector<std::string>& sets,
                        const std::string& modelgrow_binary,
                        const std::vector<std::string>& global_args) {
  std::vector<RunSpec> runs = ExpandRuns(manifest);
  std::string set_args;
  for (const std::string& s : sets) set_args += " --set " + ShellQuote(s);
  // The binary and the options it needs before any command.
  std::string binary = ShellQuote(modelgrow_binary);
  for (const std::string& a : global_args) binary += " " + ShellQuote(a);
  std::string script = fmt::format(
      "#!/bin/bash\n"
      "# Slurm job array for ModelGrow experiment '{}': {} run(s), one per array task.\n"
      "# Submit: sbatch {{this file}}   (the report job runs when every task has finished)\n"
      "#SBATCH --job-name=modelgrow-{}\n"
      "#SBATCH --array=0-{}\n"
      "#SBATCH --output={}/slurm-%A_%a.log\n"
      "# Adjust to your cluster: #SBATCH --gres=gpu:1 --cpus-per-task=8 --time=24:00:00\n"
      "set -euo pipefail\n",
      manifest.experiment().name, runs.size(), manifest.experiment().name, runs.size() - 1,
      out.string());
  script += "# Array task i runs:\n";
  for (size_t i = 0; i < runs.size(); ++i) script += fmt::format("#   {}: {}\n", i, runs[i].id);
  script += fmt::format(
      "if [[ -z \"${{MODELGROW_REPORT_ONLY:-}}\" ]]; then\n"
      "  {} run {} --out {}{} --only \"$SLURM_ARRAY_TASK_ID\" --no-report\n"
      "  if [[ \"$SLURM_ARRAY_TASK_ID\" == 0 ]]; then\n"
      "    MODELGROW_REPORT_ONLY=1 sbatch --dependency=afterok:\"$SLURM_ARRAY_JOB_ID\" --array=0 "
      "\\\n"
      "      --job-name=modelgrow-report \"$0\"\n"
      "  fi\n"
      "else\n"
      "  {} report {}\n"
      "fi\n",
      binary, ShellQuote(manifest_path.string()), ShellQuote(out.string()), set_args, binary,
      ShellQuote(out.string()));
  return script;
}

}  // namespace modelgrow
