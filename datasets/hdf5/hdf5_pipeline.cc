// The `hdf5` data pipeline: samples from ModelGrow video shards (docs/formats.md), over any
// number of shard files, read one sample at a time.
#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "modelgrow/data/video_shard.h"
#include "modelgrow/sdk/data_pipeline.h"
#include "modelgrow/sdk/plugin.h"

namespace modelgrow {

namespace {

class Hdf5Pipeline : public DataPipeline {
 public:
  explicit Hdf5Pipeline(const PluginContext& context) {
    const Options& o = context.options;
    std::vector<std::string> entries = o.StringOrList("path", {});
    if (entries.empty())
      o.Fail("path",
             "missing required key: a shard file, a folder of shards, "
             "a glob pattern, or a list of them");
    text_embeddings_ = o.Bool("text_embeddings", true);
    labels_ = o.Bool("labels", true);
    // Option problems first, all together, before any file is opened.
    o.RejectUnknownKeys();
    o.ThrowIfProblems();
    if (context.validate_only) return;  // options checked; open nothing

    std::vector<std::filesystem::path> files = ResolveShardPaths(entries);
    for (const auto& file : files) {
      auto shard = VideoShardReader::Open(file);
      if (!shards_.empty() && shard->latent() != shards_[0]->latent())
        throw InputError(fmt::format("shards disagree on latents: {} holds {} but {} holds {}",
                                     shards_[0]->file().string(),
                                     shards_[0]->latent() ? "latents" : "pixels", file.string(),
                                     shard->latent() ? "latents" : "pixels"));
      offsets_.push_back(total_);
      total_ += shard->size();
      std::error_code ec;
      key_ += fmt::format("{}:{}:{};", std::filesystem::absolute(file).string(),
                          std::filesystem::file_size(file, ec),
                          std::filesystem::last_write_time(file, ec).time_since_epoch().count());
      shards_.push_back(std::move(shard));
    }
  }

  int64_t size() const override { return total_; }

  Sample Get(int64_t index) override {
    if (index < 0 || index >= total_)
      throw InputError(fmt::format("hdf5: index {} out of range [0, {})", index, total_));
    auto [shard, local] = Locate(index);
    Sample s = shard->Read(local, text_embeddings_);
    s.index = index;
    if (!labels_) s.labels = nullptr;
    return s;
  }

  std::optional<std::array<int64_t, 4>> ShapeOf(int64_t index) const override {
    auto [shard, local] = Locate(index);
    return shard->Shape(local);
  }

  bool latent() const override { return !shards_.empty() && shards_[0]->latent(); }
  std::string CacheKey() const override {
    return fmt::format("hdf5/1:{}text={};labels={}", key_, text_embeddings_, labels_);
  }
  nlohmann::json Summary() const override {
    return {{"shards", shards_.size()}, {"samples", total_}};
  }

 private:
  std::pair<const VideoShardReader*, int64_t> Locate(int64_t index) const {
    size_t k = std::upper_bound(offsets_.begin(), offsets_.end(), index) - offsets_.begin() - 1;
    // Empty shards share an offset with the next one; step past them.
    while (index - offsets_[k] >= shards_[k]->size()) ++k;
    return {shards_[k].get(), index - offsets_[k]};
  }

  std::vector<std::shared_ptr<VideoShardReader>> shards_;
  std::vector<int64_t> offsets_;
  int64_t total_ = 0;
  bool text_embeddings_ = true;
  bool labels_ = true;
  std::string key_;
};

}  // namespace

}  // namespace modelgrow

MODELGROW_DATA_PIPELINE(modelgrow::Hdf5Pipeline, "hdf5", "1.0.0",
                        "ModelGrow HDF5 video shards (latents or pixels, captions, labels, "
                        "precomputed text embeddings), read sample by sample over many files")
