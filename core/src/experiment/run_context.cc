#include "run_context.h"

#include <chrono>
#include <iostream>
#include <set>

#include <fmt/format.h>
#include <torch/torch.h>

#include "modelgrow/base/provenance.h"
#include "modelgrow/host/vae_loading.h"
#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/sdk/content_hash.h"
#include "modelgrow/sdk/text_encoder.h"

namespace modelgrow {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// Part of every stage key: a change of what the toolkit computes for the same manifest changes
// this, so old caches are not reused. 3: content keys over the tables a stage reads.
constexpr const char* kStageKeyVersion = "stage/3";

std::string PluginKey(const PluginSpec& spec) {
  return fmt::format("{}\n{}", spec.plugin, spec.options.ToToml());
}

}  // namespace

json ReadJsonIfExists(const fs::path& file) {
  std::error_code ec;
  if (!fs::exists(file, ec)) return json();
  return json::parse(ReadFile(file), nullptr, false);
}

bool StageDone(const fs::path& dir) {
  json j = ReadJsonIfExists(dir / "stage.json");
  return j.is_object() && j.value("status", "") == "done";
}

RunContext::RunContext(const PluginRegistry& registry, const Manifest& manifest, const RunSpec& run,
                       const fs::path& out, const fs::path& run_dir, c10::Device device,
                       bool resume)
    : registry_(registry),
      m_(manifest),
      run_(run),
      out_(out),
      run_dir_(run_dir),
      device_(device),
      resume_(resume) {}

void RunContext::Execute() {
  json stages = json::object();
  for (const std::string& name : m_.stage_order()) {
    const StageSpec& s = m_.stages().at(name);
    std::string key = StageKey(s);
    keys_[name] = key;
    fs::path dir = out_ / "cache" / fmt::format("{}-{}", name, key);
    dirs_[name] = dir;
    bool reused = StageDone(dir);
    std::cerr << fmt::format("== {} | stage {} ({}) {} {}\n", run_.id, name, StageKindName(s.kind),
                             reused ? "reused from" : "->", fs::relative(dir, out_).string());
    if (!reused) {
      auto start = std::chrono::steady_clock::now();
      json info = RunStage(s, dir);
      info["status"] = "done";
      info["hash"] = key;
      info["kind"] = StageKindName(s.kind);
      info["seconds"] =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      info["finished"] = UtcTimestamp();
      WriteFileAtomic(dir / "stage.json", info.dump(2) + "\n");
    }
    stages[name] = {
        {"dir", fs::relative(dir, run_dir_).string()}, {"hash", key}, {"reused", reused}};
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

std::vector<std::string> RunContext::TextIdsOf(const StageSpec& s) const {
  switch (s.kind) {
    case StageKind::kGrow:
      return {};  // operators see the model only; new conditions get their encoders later
    case StageKind::kPretrain:
      if (s.train.init.empty()) return {m_.condition0_text()};
      break;
    case StageKind::kContinue:
    case StageKind::kEvaluate:
      break;
  }
  // The model the stage starts from says which conditions it has.
  fs::path config =
      s.kind == StageKind::kPretrain ? fs::path(s.train.init) : dirs_.at(s.from) / "checkpoint";
  json j = ReadJsonIfExists(config / "config.json");
  if (!j.is_object()) return {};  // LoadModel reports the missing checkpoint when the stage runs
  std::vector<std::string> ids = STDiT3Config::FromJson(j, config.string()).ConditionNames();
  if (!s.eval.baseline.empty()) {
    json base = ReadJsonIfExists(dirs_.at(s.eval.baseline) / "checkpoint" / "config.json");
    if (base.is_object()) {
      for (const std::string& id : STDiT3Config::FromJson(base, "").ConditionNames()) {
        ids.push_back(id);
      }
    }
  }
  std::set<std::string> unique(ids.begin(), ids.end());
  return {unique.begin(), unique.end()};
}

std::string RunContext::TextKey(const std::string& id) const {
  auto it = m_.text().find(id);
  if (it == m_.text().end()) return "(no table)";
  const TextSpec& spec = it->second;
  ContentHash key("text/1");
  key.Add("encoder", PluginKey(spec));
  if (spec.make) {
    key.Add("make", spec.make->ToToml());
    for (const std::string& corpus : spec.corpus) {
      key.Add("corpus." + corpus, PluginKey(m_.data().at(corpus)));
    }
  }
  return key.Hex();
}

std::string RunContext::StageKey(const StageSpec& s) const {
  ContentHash key(kStageKeyVersion);
  key.Add("name", s.name)
      .Add("kind", StageKindName(s.kind))
      .Add("seed", static_cast<int64_t>(run_.seed))
      .Add("table", s.table.ToToml());
  if (!s.from.empty()) key.Add("from", keys_.at(s.from));
  if (!s.eval.baseline.empty()) key.Add("baseline", keys_.at(s.eval.baseline));
  if (s.kind == StageKind::kPretrain) {
    key.Add("model", m_.model_table().ToToml()).Add("condition0", m_.condition0_text());
  }
  for (const std::string& id : s.data_ids()) key.Add("data." + id, PluginKey(m_.data().at(id)));
  for (const std::string& id : TextIdsOf(s)) key.Add("text." + id, TextKey(id));
  // Checkpoints record the VAE and evaluation decodes through it.
  if (m_.vae()) key.Add("vae", PluginKey(*m_.vae()));
  return key.Short();
}

json RunContext::RunStage(const StageSpec& s, const fs::path& dir) {
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

std::shared_ptr<DataPipeline> RunContext::Data(const std::string& id) {
  auto it = data_.find(id);
  if (it != data_.end()) return it->second;
  const PluginSpec& spec = m_.data().at(id);
  PluginContext context;
  context.options = spec.options.Subset();
  context.work_dir = out_ / "cache";
  context.seed = run_.seed;
  auto pipeline = registry_.MakeDataPipeline(spec.plugin, context);
  pipeline->Open();
  data_[id] = pipeline;
  return pipeline;
}

std::shared_ptr<VideoAutoencoder> RunContext::Vae() {
  if (vae_ || !m_.vae()) return vae_;
  vae_ = LoadVae(registry_, m_.vae()->plugin, m_.vae()->options.Subset(), device_);
  return vae_;
}

fs::path RunContext::MadeTextModel(const std::string& id) {
  const TextSpec& spec = m_.text().at(id);
  // Shared by every run and seed: the key holds no run seed.
  fs::path dir = out_ / "cache" / fmt::format("text-{}-{}", id, TextKey(id).substr(0, 16));
  fs::path model = dir / "model";
  if (StageDone(dir)) return model;
  std::cerr << fmt::format("== making text model '{}' ({}) -> {}\n", id, spec.plugin,
                           fs::relative(dir, out_).string());
  fs::create_directories(dir);
  // The corpus: every caption (short and detailed) of the named data, once each, in order.
  std::set<std::string> seen;
  std::vector<std::string> captions;
  for (const std::string& data_id : spec.corpus) {
    std::shared_ptr<DataPipeline> pipeline = Data(data_id);
    for (int64_t i = 0; i < pipeline->size(); ++i) {
      for (const auto& [kind, caption] : pipeline->Get(i).captions) {
        if (seen.insert(caption).second) captions.push_back(caption);
      }
    }
  }
  PluginContext context;
  context.options = spec.make->Subset();
  context.work_dir = dir;
  context.device = device_;
  std::shared_ptr<TextModelMaker> maker =
      registry_.MakeTextModelMaker(spec.plugin, context, spec.options);
  json info = {{"made", maker->Make(captions, model, std::cerr)}, {"captions", captions.size()}};
  info["status"] = "done";
  WriteFileAtomic(dir / "stage.json", info.dump(2) + "\n");
  return model;
}

Options RunContext::TextOptions(const std::string& id) {
  const TextSpec& spec = m_.text().at(id);
  Options options = spec.options.Subset();
  if (spec.make) options.Set("path", json(MadeTextModel(id).string()).dump());
  return options;
}

TextEncoderCache* RunContext::Text(const std::string& id) {
  auto it = text_.find(id);
  if (it != text_.end()) return it->second.get();
  if (!m_.text().count(id)) {
    throw InputError(fmt::format(
        "the model has a text condition '{}' but the manifest has no [text.{}] table", id, id));
  }
  PluginContext context;
  context.options = TextOptions(id);
  context.work_dir = out_ / "cache";
  context.device = device_;
  context.seed = run_.seed;
  auto encoder = registry_.MakeTextEncoder(m_.text().at(id).plugin, context);
  encoder->Load();
  auto cache = std::make_shared<TextEncoderCache>(encoder, out_ / "cache" / "text-embeddings");
  text_[id] = cache;
  return cache.get();
}

std::vector<TextEncoderCache*> RunContext::Encoders(const STDiT3Impl& model) {
  std::vector<TextEncoderCache*> out;
  for (const std::string& name : model.config().ConditionNames()) out.push_back(Text(name));
  return out;
}

void RunContext::ApplyNullPolicies(STDiT3Impl& model, int64_t from_condition) {
  std::vector<std::string> names = model.config().ConditionNames();
  torch::NoGradGuard no_grad;
  for (int64_t k = from_condition; k < static_cast<int64_t>(names.size()); ++k) {
    TextEncoderCache* cache = Text(names[k]);
    if (cache->encoder().null_policy() != NullCaptionPolicy::kEmptyPrompt) continue;
    model.NullCaption(k).copy_(cache->Encode({""}).embedding[0].to(model.NullCaption(k).device()));
  }
}

CheckpointMeta RunContext::Meta(const STDiT3Impl& model, const StageSpec& s) {
  CheckpointMeta meta = DescribeModel(model);
  meta.provenance = BuildProvenance();
  meta.provenance["stage"] = s.name;
  meta.provenance["run"] = run_.id;
  meta.provenance["seed"] = run_.seed;
  meta.provenance["manifest_hash"] = ContentHash("manifest").Add("toml", m_.doc().ToToml()).Short();
  meta.provenance["created"] = UtcTimestamp();
  // What `modelgrow sample` needs to rebuild the text encoders of every condition.
  json encoders = json::object();
  for (const std::string& name : model.config().ConditionNames()) {
    if (!m_.text().count(name)) continue;
    encoders[name] = {{"plugin", m_.text().at(name).plugin},
                      {"options", TextOptions(name).ToToml()}};
  }
  meta.provenance["text_encoders"] = encoders;
  // What `modelgrow sample` decodes a latent model's videos with.
  if (m_.vae()) meta.provenance["vae"] = VaeRecord(m_.vae()->plugin, m_.vae()->options);
  return meta;
}

}  // namespace modelgrow
