// Everything one run of a manifest needs while its stages execute: the plugins it made, the
// stage folders and their content keys. Each stage kind is implemented in its own file
// (train_stage.cc, grow_stage.cc, evaluate_stage.cc); run_context.cc holds what they share.
//
// With several ranks every rank executes the run: training and evaluation are split among them,
// growth and the folders only one process makes (a text model, the classifier) are made by rank 0
// while the others wait, and rank 0 alone claims shared folders (FolderLock, so concurrent sweep
// tasks compute each of them once) and writes the records.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include "modelgrow/dist/communicator.h"
#include "modelgrow/eval/attribute_classifier.h"
#include "modelgrow/experiment/folder_lock.h"
#include "modelgrow/experiment/manifest.h"
#include "modelgrow/host/plugin_registry.h"
#include "modelgrow/io/checkpoint.h"
#include "modelgrow/io/tensorboard_writer.h"
#include "modelgrow/model/stdit3.h"
#include "modelgrow/sdk/data_pipeline.h"
#include "modelgrow/sdk/video_autoencoder.h"
#include "modelgrow/text/text_cache.h"
#include "rewritten_prompts.h"

namespace modelgrow {

class RunContext {
 public:
  // `tensorboard` (may be null) receives every stage's metrics, run or reused.
  RunContext(const PluginRegistry& registry, const Manifest& manifest, const RunSpec& run,
             const std::filesystem::path& out, const std::filesystem::path& run_dir,
             c10::Device device, bool resume, Communicator& comm,
             TensorBoardWriter* tensorboard = nullptr);

  // Runs (or reuses) every stage in order and writes the run's stages.json and results.json.
  void Execute();

 private:
  // The content key of a stage: the canonical TOML of everything it reads, the keys of the
  // stages it starts from, and the run's seed.
  std::string StageKey(const StageSpec& s);
  // The text encoder ids a stage's input model conditions on.
  std::vector<std::string> TextIdsOf(const StageSpec& s) const;
  // A text encoder's identity: plugin, options, and for a made one its make table and corpus.
  std::string TextKey(const std::string& id);
  // A data table's key: its options and the pipeline's own CacheKey (opens the pipeline).
  std::string DataKey(const std::string& id);

  nlohmann::json RunStage(const StageSpec& s, const std::filesystem::path& dir);
  // Writes a finished stage's metrics.jsonl (and an evaluation's sample videos) to TensorBoard.
  void RecordStage(const StageSpec& s, const std::filesystem::path& dir);
  nlohmann::json TrainStage(const StageSpec& s, const std::filesystem::path& dir);
  nlohmann::json GrowStage(const StageSpec& s, const std::filesystem::path& dir);
  nlohmann::json EvaluateStage(const StageSpec& s, const std::filesystem::path& dir);
  nlohmann::json Evaluate(const std::filesystem::path& checkpoint, const EvaluateSpec& spec,
                          AttributeClassifier classifier, const std::filesystem::path& samples_dir,
                          const std::string& prefix);
  AttributeClassifier Classifier(const EvaluateSpec& spec);
  // The cache key of an evaluate stage's baseline row (shared by runs with the same settings).
  std::string BaselineKey(const StageSpec& s);

  // Plugins of this run, made and opened on first use.
  std::shared_ptr<DataPipeline> Data(const std::string& id);
  // The manifest's [vae], loaded on first use; null when it has none.
  std::shared_ptr<VideoAutoencoder> Vae();
  TextEncoderCache* Text(const std::string& id);
  // The folder of a made text model (made on first use; shared by every run and seed).
  std::filesystem::path MadeTextModel(const std::string& id);
  // The options a text encoder is constructed with (a made one's folder as `path`).
  Options TextOptions(const std::string& id);
  std::vector<TextEncoderCache*> Encoders(const STDiT3Impl& model);
  // The prompt rewriter an evaluation's `rewrite` table names (made and loaded on first use), with
  // its rewrites cached on disk.
  RewrittenPrompts* Rewriter(const RewriteSpec& spec);
  // Fills the null captions of conditions whose encoders want the empty prompt's encoding.
  void ApplyNullPolicies(STDiT3Impl& model, int64_t from_condition);
  CheckpointMeta Meta(const STDiT3Impl& model, const StageSpec& s);
  // Whether this task computes the shared folder `dir`: rank 0 returns at once when `done()`
  // holds, otherwise claims the folder (waiting while another task holds it) and looks again;
  // every rank gets the same answer. When it is to be computed, `lock` holds rank 0's claim and
  // `before_compute` (may throw, on every rank) has run under it.
  bool ClaimShared(const std::filesystem::path& dir, const std::string& what,
                   const std::function<bool()>& done, std::optional<FolderLock>& lock,
                   const std::function<void()>& before_compute = {});
  // A key for the rendezvous store naming the next decision every rank of this run takes.
  std::string DecisionKey(const std::string& what);

  const PluginRegistry& registry_;
  const Manifest& m_;
  const RunSpec& run_;
  std::filesystem::path out_, run_dir_;
  c10::Device device_;
  bool resume_;
  TensorBoardWriter* tensorboard_;
  Communicator& comm_;
  int64_t decisions_ = 0;
  std::map<std::string, std::string> keys_;
  std::map<std::string, std::string> data_keys_, text_keys_;
  std::map<std::string, std::filesystem::path> dirs_;
  std::map<std::string, std::shared_ptr<DataPipeline>> data_;
  std::map<std::string, std::shared_ptr<TextEncoderCache>> text_;
  std::map<std::string, std::unique_ptr<RewrittenPrompts>> rewriters_;
  std::shared_ptr<VideoAutoencoder> vae_;
};

// Appends one line {"time", "stage", ...fields} to a stage's metrics.jsonl.
void AppendMetrics(const std::filesystem::path& dir, const std::string& stage,
                   nlohmann::json fields);

// The fingerprint (sdk/content_hash.h) of every file in a finished folder but its stage.json and
// lock, by path relative to it: recorded in stage.json when the folder is committed.
nlohmann::json FolderRecord(const std::filesystem::path& dir);
// A stage or cache folder is usable when its stage.json says it finished and its files match it.
bool StageDone(const std::filesystem::path& dir);
// StageDone; a finished folder that does not match is moved aside (`<dir>.mismatch-<time>`, the
// lock file kept) with a warning, so it is computed again and never used. For the one process
// that claims the folder.
bool StageDoneOrSetAside(const std::filesystem::path& dir);
nlohmann::json ReadJsonIfExists(const std::filesystem::path& file);

}  // namespace modelgrow
