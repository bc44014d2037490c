#include "run_context.h"

#include <chrono>
#include <fstream>
#include <iostream>
#include <set>

#include <fmt/format.h>
#include <torch/torch.h>

#include "modelgrow/base/interruption.h"
#include "modelgrow/base/provenance.h"
#include "modelgrow/host/vae_loading.h"
#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/sdk/content_hash.h"
#include "modelgrow/sdk/prompt_rewriter.h"
#include "modelgrow/sdk/text_encoder.h"

namespace modelgrow {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// The stage key's layout (what it is made of). What the toolkit computes is keyed by
// kCodeVersion, a hash of the sources the build made automatically (cmake/WriteCodeVersion.cmake).
constexpr const char* kStageKeyVersion = "stage/5";

// The fingerprint of a file or model folder a table names, for keys: its files' sizes and the
// hashes of their heads and tails (sdk/content_hash.h).
// A path that does not exist is keyed as such: the plugin that reads it says what it expected
// when it loads (a test plugin may not read its `path` at all).
std::string PathFingerprint(const fs::path& path) {
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return FileFingerprint(path);
  if (fs::is_directory(path, ec)) return FolderFingerprint(path);
  return "missing";
}

std::string PluginKey(const PluginSpec& spec) {
  return fmt::format("{}\n{}", spec.plugin, spec.options.ToToml());
}

}  // namespace

json ReadJsonIfExists(const fs::path& file) {
  std::error_code ec;
  if (!fs::exists(file, ec)) return json();
  return json::parse(ReadFile(file), nullptr, false);
}

json FolderRecord(const fs::path& dir) {
  json files = json::object();
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    const std::string name = fs::relative(it->path(), dir).generic_string();
    if (name == "stage.json" || name == "stage.lock") continue;
    files[name] = FileFingerprint(it->path());
  }
  return files;
}

namespace {

// Whether stage.json says the folder's work finished (its files not yet checked).
bool MarkedDone(const json& record) {
  return record.is_object() && record.value("status", "") == "done";
}

// Why a finished folder does not match the files its record lists (one missing, truncated or
// changed; no list at all); "" when it matches.
std::string Mismatch(const fs::path& dir, const json& record) {
  const json recorded = record.value("files", json());
  if (!recorded.is_object()) return "stage.json lists no files to check the folder against";
  for (const auto& [name, fingerprint] : recorded.items()) {
    const fs::path file = dir / name;
    std::error_code ec;
    if (!fs::is_regular_file(file, ec)) return fmt::format("{} is missing", name);
    std::string now;
    try {
      now = FileFingerprint(file);
    } catch (const InputError&) {
      return fmt::format("{} cannot be read", name);
    }
    if (now != fingerprint.get<std::string>()) {
      return fmt::format("{} changed (recorded {}, now {})", name, fingerprint.get<std::string>(),
                         now);
    }
  }
  return "";
}

}  // namespace

bool StageDone(const fs::path& dir) {
  json record = ReadJsonIfExists(dir / "stage.json");
  return MarkedDone(record) && Mismatch(dir, record).empty();
}

bool StageDoneOrSetAside(const fs::path& dir) {
  json record = ReadJsonIfExists(dir / "stage.json");
  if (!MarkedDone(record)) return false;
  const std::string mismatch = Mismatch(dir, record);  // each file read once
  if (mismatch.empty()) return true;
  // Never used, never deleted: moved aside for a person to look at, and computed again. The
  // folder's lock file stays, so tasks waiting on it keep waiting on the same file.
  fs::path aside = dir;
  aside += ".mismatch-" + UtcTimestamp();
  std::error_code ec;
  for (int n = 2; fs::exists(aside, ec); ++n) {
    aside = dir;
    aside += fmt::format(".mismatch-{}-{}", UtcTimestamp(), n);
  }
  fs::create_directories(aside, ec);
  std::vector<fs::path> entries;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    if (it->path().filename() != "stage.lock") entries.push_back(it->path());
  }
  for (const fs::path& entry : entries) {
    if (!ec) fs::rename(entry, aside / entry.filename(), ec);
  }
  if (ec) {
    throw RunError(fmt::format("{} does not match its record ({}) and cannot be moved aside: {}",
                               dir.string(), mismatch, ec.message()));
  }
  std::cerr << fmt::format(
      "warning: {} does not match its record ({}): moved to {} and computed again\n", dir.string(),
      mismatch, aside.filename().string());
  return false;
}

RunContext::RunContext(const PluginRegistry& registry, const Manifest& manifest, const RunSpec& run,
                       const fs::path& out, const fs::path& run_dir, c10::Device device,
                       bool resume, Communicator& comm, TensorBoardWriter* tensorboard)
    : registry_(registry),
      m_(manifest),
      run_(run),
      out_(out),
      run_dir_(run_dir),
      device_(device),
      resume_(resume),
      tensorboard_(tensorboard),
      comm_(comm) {}

std::string RunContext::DecisionKey(const std::string& what) {
  return fmt::format("run/{}/decision/{}/{}", run_.id, decisions_++, what);
}

bool RunContext::ClaimShared(const fs::path& dir, const std::string& what,
                             const std::function<bool()>& done, std::optional<FolderLock>& lock,
                             const std::function<void()>& before_compute) {
  std::string answer = comm_.OnRoot(DecisionKey(what), [&]() -> std::string {
    if (done()) return "done";
    lock.emplace(FolderLock::Acquire(dir / "stage.lock", what));
    // Another task may have finished it while we waited.
    if (done()) {
      lock.reset();
      return "done";
    }
    if (before_compute) before_compute();
    return "compute";
  });
  return answer == "compute";
}

void AppendMetrics(const fs::path& dir, const std::string& stage, json fields) {
  json line = {{"time", UtcTimestamp()}, {"stage", stage}};
  line.update(fields);
  std::ofstream(dir / "metrics.jsonl", std::ios::app) << line.dump() << "\n";
}

void RunContext::RecordStage(const StageSpec& s, const fs::path& dir) {
  if (tensorboard_ == nullptr) return;
  std::ifstream in(dir / "metrics.jsonl");
  for (std::string text; std::getline(in, text);) {
    json line = json::parse(text, nullptr, false);
    if (!line.is_object()) continue;
    const int64_t step = line.value("step", int64_t{0});
    for (const auto& [key, value] : line.items()) {
      if (value.is_number() && key != "step" && key != "elapsed_s") {
        tensorboard_->Scalar(s.name + "/" + key, step, value.get<double>());
      }
    }
    const json metrics = line.value("metrics", json::object());
    for (const auto& [key, value] : metrics.items()) {
      if (value.is_number()) tensorboard_->Scalar(s.name + "/" + key, step, value.get<double>());
    }
  }
  // An evaluation's generated videos: TensorBoard's image dashboard plays GIFs.
  json results = ReadJsonIfExists(dir / "results.json");
  if (results.is_object()) {
    const json samples = results.value("samples", json::array());
    for (const json& sample : samples) {
      fs::path gif = dir / "samples" / sample.value("generated", "");
      std::error_code ec;
      if (!fs::is_regular_file(gif, ec)) continue;
      std::string bytes = ReadFile(gif);
      // Width and height from the GIF's logical screen descriptor.
      const auto byte = [&](size_t i) {
        return static_cast<int64_t>(static_cast<uint8_t>(bytes[i]));
      };
      const int64_t width = bytes.size() > 9 ? byte(6) | (byte(7) << 8) : 0;
      const int64_t height = bytes.size() > 9 ? byte(8) | (byte(9) << 8) : 0;
      tensorboard_->Image(fmt::format("{}/{}/{}/{}", s.name, sample.value("domain", ""),
                                      sample.value("kind", ""), sample.value("index", 0)),
                          0, bytes, height, width);
    }
  }
  tensorboard_->Flush();
}

void RunContext::Execute() {
  json stages = json::object();
  for (const std::string& name : m_.stage_order()) {
    const StageSpec& s = m_.stages().at(name);
    std::string key = StageKey(s);
    keys_[name] = key;
    fs::path dir = out_ / "cache" / fmt::format("{}-{}", name, key);
    dirs_[name] = dir;
    comm_.ThrowIfStopAgreed(fmt::format("stopped before stage {} of run {}", name, run_.id));
    std::optional<FolderLock> lock;
    bool reused = !ClaimShared(
        dir, fmt::format("stage {} of run {}", name, run_.id),
        [&] { return StageDoneOrSetAside(dir); }, lock,
        [&] {
          if (resume_ || !fs::exists(dir / "checkpoint" / "trainer_state.json")) return;
          // Neither restart silently (hours lost) nor resume silently (the user may not know).
          json state = ReadJsonIfExists(dir / "checkpoint" / "trainer_state.json");
          throw InputError(fmt::format(
              "stage {} of run {} was interrupted at step {} ({}); continue it with --resume, or "
              "delete that folder to start it over",
              name, run_.id, state.is_object() ? state.value("step", int64_t{0}) : 0,
              fs::relative(dir, out_).string()));
        });
    if (comm_.is_root()) {
      std::cerr << fmt::format("== {} | stage {} ({}) {} {}\n", run_.id, name,
                               StageKindName(s.kind), reused ? "reused from" : "->",
                               fs::relative(dir, out_).string());
    }
    if (!reused) {
      auto start = std::chrono::steady_clock::now();
      json info = RunStage(s, dir);
      info["status"] = "done";
      info["hash"] = key;
      info["kind"] = StageKindName(s.kind);
      // A stage that counts time this process did not see (a resumed training stage: the
      // training of its interrupted runs) reports its own.
      if (!info.contains("seconds")) {
        info["seconds"] =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      }
      info["finished"] = UtcTimestamp();
      info["world_size"] = comm_.size();
      info["code_version"] = std::string(kCodeVersion);
      // Every rank goes on only once the stage is recorded: later stages read its folder.
      comm_.OnRoot(fmt::format("run/{}/stage/{}/recorded", run_.id, name), [&] {
        // What the folder holds, so a later run can tell a damaged or edited one.
        info["files"] = FolderRecord(dir);
        WriteFileAtomic(dir / "stage.json", info.dump(2) + "\n");
        return std::string();
      });
    }
    lock.reset();
    RecordStage(s, dir);
    // "order": JSON objects are read back sorted by key, and a reader needs the run's order.
    stages[name] = {{"dir", fs::relative(dir, run_dir_).string()},
                    {"hash", key},
                    {"reused", reused},
                    {"order", stages.size()}};
  }
  if (!comm_.is_root()) return;
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

std::string RunContext::TextKey(const std::string& id) {
  auto it = m_.text().find(id);
  if (it == m_.text().end()) return "(no table)";
  if (auto known = text_keys_.find(id); known != text_keys_.end()) return known->second;
  const TextSpec& spec = it->second;
  // 3: keyed by the model folder's content (or, for a made model, by the code that makes it and
  // its corpus's content), not only by the table.
  ContentHash key("text/3");
  key.Add("encoder", PluginKey(spec));
  if (spec.make) {
    key.Add("make", spec.make->ToToml()).Add("code", kCodeVersion);
    for (const std::string& corpus : spec.corpus) key.Add("corpus." + corpus, DataKey(corpus));
  } else if (const std::string path = spec.options.Subset().String("path", ""); !path.empty()) {
    key.Add("folder", PathFingerprint(path));
  }
  return text_keys_[id] = key.Hex();
}

std::string RunContext::DataKey(const std::string& id) {
  if (auto known = data_keys_.find(id); known != data_keys_.end()) return known->second;
  // The table, and what the pipeline reads beyond it (its files' fingerprints).
  return data_keys_[id] = PluginKey(m_.data().at(id)) + "\n" + Data(id)->CacheKey();
}

std::string RunContext::StageKey(const StageSpec& s) {
  Options table = s.table.Subset();
  if (s.kind == StageKind::kPretrain || s.kind == StageKind::kContinue) {
    for (const std::string& k : TrainSpec::KeysThatDoNotChangeResults()) table.Erase(k);
  }
  ContentHash key(kStageKeyVersion);
  key.Add("name", s.name)
      .Add("kind", StageKindName(s.kind))
      .Add("seed", static_cast<int64_t>(run_.seed))
      .Add("table", table.ToToml())
      .Add("code", kCodeVersion);
  if (!s.from.empty()) key.Add("from", keys_.at(s.from));
  if (!s.eval.baseline.empty()) key.Add("baseline", keys_.at(s.eval.baseline));
  if (s.kind == StageKind::kPretrain) {
    key.Add("model", m_.model_table().ToToml()).Add("condition0", m_.condition0_text());
    if (!s.train.init.empty()) {
      key.Add("init", PathFingerprint(s.train.init));
    }
  }
  for (const std::string& id : s.data_ids()) key.Add("data." + id, DataKey(id));
  for (const std::string& id : TextIdsOf(s)) key.Add("text." + id, TextKey(id));
  if (s.eval.rewrite) key.Add("rewrite." + s.eval.rewrite->text, TextKey(s.eval.rewrite->text));
  // Checkpoints record the VAE and evaluation decodes through it.
  if (m_.vae()) {
    key.Add("vae", PluginKey(*m_.vae()));
    const std::string path = m_.vae()->options.Subset().String("path", "");
    if (!path.empty()) key.Add("vae.folder", PathFingerprint(path));
  }
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
  // Made by rank 0 (under the folder's lock, so concurrent tasks make it once); the other ranks
  // load what it made. The answer is the same whenever a rank asks, so rank 0 may make the model
  // inside work of its own (growth) and the others ask later.
  comm_.OnRoot(fmt::format("run/{}/text-model/{}", run_.id, dir.filename().string()), [&] {
    std::optional<FolderLock> lock;
    if (StageDone(dir)) return std::string();
    lock.emplace(FolderLock::Acquire(dir / "stage.lock", fmt::format("text model '{}'", id)));
    if (StageDoneOrSetAside(dir)) return std::string();
    std::cerr << fmt::format("== making text model '{}' ({}) -> {}\n", id, spec.plugin,
                             fs::relative(dir, out_).string());
    fs::create_directories(dir);
    // The corpus: every caption (short and detailed) of the named data, once each, in order, and
    // the (short, detailed) pairs of samples that have both, once each.
    std::set<std::string> seen;
    std::set<std::pair<std::string, std::string>> seen_pairs;
    TextCorpus corpus;
    for (const std::string& data_id : spec.corpus) {
      std::shared_ptr<DataPipeline> pipeline = Data(data_id);
      for (int64_t i = 0; i < pipeline->size(); ++i) {
        const std::map<std::string, std::string> captions = pipeline->Get(i).captions;
        for (const auto& [kind, caption] : captions) {
          if (seen.insert(caption).second) corpus.captions.push_back(caption);
        }
        auto short_it = captions.find("short"), detailed_it = captions.find("detailed");
        if (short_it != captions.end() && detailed_it != captions.end() &&
            seen_pairs.emplace(short_it->second, detailed_it->second).second) {
          corpus.pairs.push_back({short_it->second, detailed_it->second});
        }
      }
    }
    PluginContext context;
    context.options = spec.make->Subset();
    context.work_dir = dir;
    context.device = device_;
    std::shared_ptr<TextModelMaker> maker =
        registry_.MakeTextModelMaker(spec.plugin, context, spec.options);
    json info = {{"made", maker->Make(corpus, model, std::cerr)},
                 {"captions", corpus.captions.size()},
                 {"caption_pairs", corpus.pairs.size()}};
    info["status"] = "done";
    info["files"] = FolderRecord(dir);
    WriteFileAtomic(dir / "stage.json", info.dump(2) + "\n");
    return std::string();
  });
  return model;
}

Options RunContext::TextOptions(const std::string& id) {
  const TextSpec& spec = m_.text().at(id);
  Options options = spec.options.Subset();
  if (spec.make) {
    options.Set("path", json(MadeTextModel(id).string()).dump(),
                fmt::format("text.{}.path (the folder the run made from text.{}.make)", id, id));
  }
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

RewrittenPrompts* RunContext::Rewriter(const RewriteSpec& spec) {
  const std::string id = spec.text + "\n" + spec.options.ToToml();
  auto it = rewriters_.find(id);
  if (it != rewriters_.end()) return it->second.get();
  const TextSpec& text = m_.text().at(spec.text);
  // The folder of the text table: made by the run, or its `path`.
  Options options = spec.options.Subset();
  const std::string folder =
      text.make ? MadeTextModel(spec.text).string() : text.options.Subset().String("path", "");
  if (folder.empty()) {
    throw InputError(
        fmt::format("rewrite: [text.{}] names no model folder (`path` or `make`)", spec.text));
  }
  options.Set("path", json(folder).dump());
  PluginContext context;
  context.options = options;
  context.work_dir = out_ / "cache";
  context.device = device_;
  context.seed = run_.seed;
  std::shared_ptr<PromptRewriter> rewriter = registry_.MakePromptRewriter(text.plugin, context);
  rewriter->Load();
  auto prompts = std::make_unique<RewrittenPrompts>(rewriter, out_ / "cache");
  RewrittenPrompts* raw = prompts.get();
  rewriters_[id] = std::move(prompts);
  return raw;
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
  // What `modelgrow sample` needs to rebuild the text encoders of every condition. A model the
  // run made is recorded relative to the checkpoint (the experiment folder can move whole); any
  // other folder absolutely (a relative path would depend on where the run was started).
  const fs::path checkpoint = dirs_.at(s.name) / "checkpoint";
  json encoders = json::object();
  for (const std::string& name : model.config().ConditionNames()) {
    if (!m_.text().count(name)) continue;
    const TextSpec& spec = m_.text().at(name);
    Options options = TextOptions(name);
    json record = {{"plugin", spec.plugin}};
    if (options.TypeOf("path") == "string") {
      fs::path path = options.String("path", "");
      if (spec.make) {
        record["path_relative_to_checkpoint"] = fs::relative(path, checkpoint).string();
        options.Erase("path");
      } else {
        options.Set("path", json(fs::absolute(path).string()).dump(), "recorded path");
      }
    }
    record["options"] = options.ToToml();
    encoders[name] = record;
  }
  meta.provenance["text_encoders"] = encoders;
  // What `modelgrow sample` decodes a latent model's videos with.
  if (m_.vae()) meta.provenance["vae"] = VaeRecord(m_.vae()->plugin, m_.vae()->options);
  return meta;
}

}  // namespace modelgrow
