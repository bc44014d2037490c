// `evaluate` stages: the previous stage's model (and the baseline's, once per baseline and
// settings) scored on every domain, plus what the chain before it did.
#include <iostream>

#include <fmt/format.h>

#include "modelgrow/base/provenance.h"
#include "modelgrow/eval/evaluator.h"
#include "modelgrow/growth/grow_checkpoint.h"
#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/sdk/content_hash.h"
#include "modelgrow/train/trainer.h"
#include "run_context.h"

namespace modelgrow {

namespace fs = std::filesystem;
using json = nlohmann::json;

AttributeClassifier RunContext::Classifier(const EvaluateSpec& spec) {
  if (spec.classifier.data.empty()) return AttributeClassifier(nullptr);
  std::vector<std::shared_ptr<DataPipeline>> data;
  ContentHash key("classifier-folder/3");
  key.Add("classifier", spec.classifier.steps)
      .Add("batch_size", spec.classifier.batch_size)
      .Add("lr", fmt::format("{}", spec.classifier.lr))
      .Add("width", spec.classifier.width)
      .Add("seed", static_cast<int64_t>(spec.classifier.seed))
      .Add("code", kCodeVersion);
  for (const std::string& id : spec.classifier.data) {
    data.push_back(Data(id));
    key.Add("data." + id, DataKey(id));
  }
  const fs::path dir = out_ / "cache" / ("classifier-" + key.Short());
  // Trained once, by rank 0 under the folder's lock; the other ranks load what it saved.
  AttributeClassifier classifier{nullptr};
  comm_.OnRoot(fmt::format("run/{}/classifier/{}", run_.id, dir.filename().string()), [&] {
    FolderLock lock = FolderLock::Acquire(dir / "stage.lock", "the attribute classifier");
    classifier = TrainOrLoadClassifier(data, spec.classifier, dir);
    return std::string();
  });
  return classifier ? classifier : TrainOrLoadClassifier(data, spec.classifier, dir);
}

json RunContext::Evaluate(const fs::path& checkpoint, const EvaluateSpec& spec,
                          AttributeClassifier classifier, const fs::path& samples_dir,
                          const std::string& prefix) {
  LoadedModel loaded = LoadModel(checkpoint, device_);
  STDiT3 model = loaded.model;
  bool ema = spec.weights == "ema" && LoadEmaWeights(*model, checkpoint);
  EvaluationSetup setup;
  // Sample on the schedule the model was trained on.
  setup.flow = RectifiedFlowConfig::FromJson(
      loaded.meta.provenance.value("sampling", json::object()).value("flow", json::object()));
  for (const auto& [domain, id] : spec.domains) setup.domains[domain] = Data(id);
  setup.classifier = classifier;
  setup.spec = spec;
  setup.device = device_;
  setup.samples_dir = samples_dir;
  setup.sample_prefix = prefix;
  if (spec.rewrite) {
    RewrittenPrompts* rewriter = Rewriter(*spec.rewrite);
    // Rank 0 rewrites (the cache file has one writer); the others take its answer.
    setup.rewrite = [this, rewriter](const std::vector<std::string>& prompts) {
      return json::parse(comm_.OnRoot(DecisionKey("rewrite"),
                                      [&] { return json(rewriter->Rewrite(prompts)).dump(); }))
          .get<std::vector<std::string>>();
    };
  }
  setup.vae = Vae();
  setup.comm = &comm_;
  json result = EvaluateModel(*model, Encoders(*model), setup);
  result["weights"] = ema ? "ema" : "raw";
  result["model"] = {{"params", model->NumParameters()},
                     {"trainable", model->NumTrainableParameters()},
                     {"spatial_blocks", model->spatial_blocks().size()},
                     {"temporal_blocks", model->temporal_blocks().size()},
                     {"conditions", model->config().ConditionNames()}};
  return result;
}

std::string RunContext::BaselineKey(const StageSpec& s) {
  ContentHash key("baseline/2");
  key.Add("stage", keys_.at(s.eval.baseline)).Add("table", s.table.ToToml());
  // The rewriting model's identity (the table names it only by id).
  if (s.eval.rewrite) key.Add("rewrite", TextKey(s.eval.rewrite->text));
  return key.Short();
}

json RunContext::EvaluateStage(const StageSpec& s, const fs::path& dir) {
  AttributeClassifier classifier = Classifier(s.eval);
  json result = Evaluate(dirs_.at(s.from) / "checkpoint", s.eval, classifier, dir / "samples", "");
  if (!s.eval.baseline.empty()) {
    // The base model's row: one evaluation per baseline stage and settings, shared by runs.
    fs::path base_dir =
        out_ / "cache" / fmt::format("baseline-{}-{}", s.eval.baseline, BaselineKey(s));
    std::optional<FolderLock> lock;
    json base;
    if (ClaimShared(
            base_dir, fmt::format("the baseline evaluation of stage {}", s.eval.baseline),
            [&] { return ReadJsonIfExists(base_dir / "results.json").is_object(); }, lock)) {
      if (comm_.is_root()) {
        std::cerr << fmt::format("== {} | baseline: evaluating stage {}\n", run_.id,
                                 s.eval.baseline);
      }
      base = Evaluate(dirs_.at(s.eval.baseline) / "checkpoint", s.eval, classifier,
                      base_dir / "samples", "base_");
      comm_.OnRoot(DecisionKey("baseline recorded"), [&] {
        WriteFileAtomic(base_dir / "results.json", base.dump(2) + "\n");
        return std::string();
      });
      lock.reset();
    } else {
      base = ReadJsonIfExists(base_dir / "results.json");
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
  json growth = json::array(), wall = json::object(), curves = json::object();
  for (std::string name = s.from; !name.empty(); name = m_.stages().at(name).from) {
    json info = ReadJsonIfExists(dirs_.at(name) / "stage.json");
    if (info.is_object()) wall[name] = info.value("seconds", 0.0);
    // The training that made the evaluated weights: how it was shared (the nearest stage).
    if (info.is_object() && info.contains("optimizer") && !result.contains("training")) {
      result["training"] = {{"stage", name},
                            {"world_size", info.value("world_size", 1)},
                            {"optimizer", info["optimizer"]}};
    }
    json g = ReadJsonIfExists(dirs_.at(name) / "checkpoint" / kGrowthReportFile);
    // Only a grow stage's own report counts: later checkpoints do not carry one.
    json steps = g.is_object() && m_.stages().at(name).kind == StageKind::kGrow
                     ? g.value("steps", json::array())
                     : json::array();
    for (auto it = steps.rbegin(); it != steps.rend(); ++it) growth.insert(growth.begin(), *it);
    if (fs::exists(dirs_.at(name) / "metrics.jsonl")) {
      curves[name] = fs::relative(dirs_.at(name) / "metrics.jsonl", dir).string();
    }
  }
  result["growth"] = growth;
  result["stage_seconds"] = wall;
  result["curves"] = curves;
  if (comm_.is_root()) {
    WriteFileAtomic(dir / "results.json", result.dump(2) + "\n");
    AppendMetrics(dir, s.name, {{"metrics", result["metrics"]}});
  }
  return {{"metrics", result["metrics"]}};
}

}  // namespace modelgrow
