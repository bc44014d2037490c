// The `hdf5` data pipeline: samples from ModelGrow video shards (docs/formats.md), over any
// number of shard files, read one sample at a time.
#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "modelgrow/sdk/content_hash.h"
#include "modelgrow/sdk/data_pipeline.h"
#include "modelgrow/sdk/plugin.h"
#include "modelgrow/sdk/video_shards.h"

namespace modelgrow {

namespace {

class Hdf5Pipeline : public DataPipeline {
 public:
  // The conformance suites' tables: a folder of shards with labels, targets and stored text
  // embeddings (testdata/, made by scripts/goldens/make_plugin_testdata.py), and the same shards
  // named one by one, in another order, without embeddings or labels.
  static constexpr const char* kExamples = R"toml(
[[example]]
path = "${data}/shards"

[[example]]
path = ["${data}/shards/shard-00001.h5", "${data}/shards/shard-0000[0].h5"]
text_embeddings = false
labels = false
)toml";

  explicit Hdf5Pipeline(const PluginContext& context) {
    const Options& o = context.options;
    entries_ = o.StringOrList("path", {});
    if (entries_.empty())
      o.Fail("path",
             "missing required key: a shard file, a folder of shards, "
             "a glob pattern, or a list of them");
    text_embeddings_ = o.Bool("text_embeddings", true);
    labels_ = o.Bool("labels", true);
  }

  void Open() override {
    if (opened_) return;
    std::vector<std::filesystem::path> files = ResolveShardPaths(entries_);
    ContentHash key("hdf5");
    for (const auto& file : files) {
      auto shard = VideoShardReader::Open(file);
      if (!shards_.empty()) {
        const VideoShardReader& first = *shards_[0];
        if (shard->latent() != first.latent())
          throw InputError(fmt::format("shards disagree on latents: {} holds {} but {} holds {}",
                                       first.file().string(), first.latent() ? "latents" : "pixels",
                                       file.string(), shard->latent() ? "latents" : "pixels"));
        // Targets index into the schema: one data set has one.
        if (labels_ && shard->label_schema() != first.label_schema())
          throw InputError(fmt::format(
              "shards disagree on their label schema: {} declares {} but {} declares {} (read "
              "them with labels = false, or export them again)",
              first.file().string(), SchemaText(first), file.string(), SchemaText(*shard)));
      }
      offsets_.push_back(total_);
      total_ += shard->size();
      key.Add("shard", FileFingerprint(file));
      shards_.push_back(std::move(shard));
    }
    key_ = key.Hex();
    if (text_embeddings_) stored_ = StoredText();
    opened_ = true;
  }

  int64_t size() const override { return total_; }

  Sample Get(int64_t index) override {
    if (index < 0 || index >= total_)
      throw InputError(fmt::format("hdf5: index {} out of range [0, {})", index, total_));
    auto [shard, local] = Locate(index);
    Sample s = shard->Read(local, text_embeddings_);
    s.index = index;
    if (!labels_) {
      s.labels = nullptr;
      s.targets.clear();
    }
    return s;
  }

  std::optional<std::array<int64_t, 4>> ShapeOf(int64_t index) const override {
    auto [shard, local] = Locate(index);
    return shard->Shape(local);
  }

  bool latent() const override { return !shards_.empty() && shards_[0]->latent(); }
  // The shards' content, in order; the options are keyed by the host.
  std::string CacheKey() const override { return key_; }
  std::optional<LabelSchema> label_schema() const override {
    if (!labels_ || shards_.empty()) return std::nullopt;
    return shards_[0]->label_schema();
  }
  std::map<std::string, StoredTextInfo> stored_text() const override { return stored_; }
  nlohmann::json Summary() const override {
    return {{"shards", shards_.size()}, {"samples", total_}};
  }

 private:
  static std::string SchemaText(const VideoShardReader& shard) {
    return shard.label_schema() ? shard.label_schema()->ToJson().dump() : "none";
  }

  // The embeddings every shard stores under the same name with the same caption kind, encoder
  // and shape (anything else cannot stand in for an encoder; the shards still read).
  std::map<std::string, StoredTextInfo> StoredText() const {
    std::map<std::string, StoredTextInfo> out;
    for (size_t k = 0; k < shards_.size(); ++k) {
      std::map<std::string, StoredTextInfo> here;
      // A named copy: iterating over part of a temporary would read freed memory.
      const nlohmann::json described = shards_[k]->Describe();
      for (const auto& [name, t] : described["text"].items()) {
        StoredTextInfo info;
        info.caption = t.value("caption", "");
        info.encoder_key = t.value("encoder", "");
        info.length = t.value("length", int64_t{0});
        info.dim = t.value("dim", int64_t{0});
        if (!info.caption.empty()) here[name] = info;
      }
      if (k == 0) {
        out = here;
        continue;
      }
      for (auto it = out.begin(); it != out.end();) {
        auto found = here.find(it->first);
        const bool same = found != here.end() && found->second.caption == it->second.caption &&
                          found->second.encoder_key == it->second.encoder_key &&
                          found->second.length == it->second.length &&
                          found->second.dim == it->second.dim;
        it = same ? std::next(it) : out.erase(it);
      }
    }
    return out;
  }

  std::pair<const VideoShardReader*, int64_t> Locate(int64_t index) const {
    size_t k = std::upper_bound(offsets_.begin(), offsets_.end(), index) - offsets_.begin() - 1;
    // Empty shards share an offset with the next one; step past them.
    while (index - offsets_[k] >= shards_[k]->size()) ++k;
    return {shards_[k].get(), index - offsets_[k]};
  }

  // Options.
  std::vector<std::string> entries_;
  bool text_embeddings_ = true;
  bool labels_ = true;
  // What Open() found.
  bool opened_ = false;
  std::vector<std::shared_ptr<VideoShardReader>> shards_;
  std::vector<int64_t> offsets_;
  int64_t total_ = 0;
  std::string key_;
  std::map<std::string, StoredTextInfo> stored_;
};

}  // namespace

}  // namespace modelgrow

MODELGROW_DATA_PIPELINE(modelgrow::Hdf5Pipeline, "hdf5", "1.2.0",
                        "ModelGrow HDF5 video shards (latents or pixels, captions, labels and "
                        "targets, precomputed text embeddings), read sample by sample over many "
                        "files")
