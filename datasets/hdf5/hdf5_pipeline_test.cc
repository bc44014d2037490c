// The `hdf5` data plugin through the host's registry, as a manifest table reaches it: exports read
// back bit-exact over many shards, shapes for the loader's buckets, stored text embeddings, the
// label schema and targets, options-only construction, content-keyed caches and its example data.
// The shard format itself is tested in tests/data/hdf5_test.cc.
#include <chrono>
#include <map>
#include <set>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "data/data_test_util.h"
#include "modelgrow/data/export.h"
#include "modelgrow/data/loader.h"
#include "modelgrow/data/video_shard_writer.h"
#include "test_paths.h"
#include "test_util.h"

namespace modelgrow {
namespace {

namespace fs = std::filesystem;
using testing::ConstructPipeline;
using testing::LabelledPixels;
using testing::MakePipeline;
using testing::MixedLatents;
using testing::TempDir;

std::string PathOption(const fs::path& path) { return fmt::format("path = \"{}\"", path.string()); }

void ExpectSameSample(const Sample& a, const Sample& b, const std::string& what) {
  EXPECT_TRUE(torch::equal(a.video, b.video)) << what;
  EXPECT_EQ(a.captions, b.captions) << what;
  EXPECT_EQ(a.fps, b.fps) << what;
  EXPECT_EQ(a.height, b.height) << what;
  EXPECT_EQ(a.width, b.width) << what;
  EXPECT_EQ(a.labels, b.labels) << what;
  EXPECT_EQ(a.targets, b.targets) << what;
}

TEST(Hdf5Pipeline, ReadsAnExportBitExactAcrossShards) {
  TempDir dir;
  auto source = MakePipeline("synthetic", "domain = \"continual\"\nsize = 10\nseed = 5");
  ExportResult r = ExportDataset(*source, dir.path(), 4, {.compression = 3});
  ASSERT_EQ(r.shards.size(), 3u);
  auto back = MakePipeline("hdf5", PathOption(dir.path()));
  ASSERT_EQ(back->size(), 10);
  EXPECT_FALSE(back->latent());
  EXPECT_EQ(back->Summary()["shards"], 3);
  EXPECT_EQ(back->label_schema(), source->label_schema());
  for (int64_t i = 0; i < 10; ++i) {
    Sample a = source->Get(i), b = back->Get(i);
    ExpectSameSample(a, b, fmt::format("sample {}", i));
    EXPECT_EQ(b.index, i);
  }
  EXPECT_THROW_WITH(back->Get(10), InputError, "index 10 out of range [0, 10)");
}

TEST(Hdf5Pipeline, GivesTheLoaderEachSamplesShape) {
  TempDir dir;
  MixedLatents source;
  ExportDataset(source, dir.path(), 3);
  auto back = MakePipeline("hdf5", PathOption(dir / "*.h5"));
  ASSERT_EQ(back->size(), 8);
  EXPECT_TRUE(back->latent());
  std::vector<int64_t> kept = {0, 1, 2, 3, 5, 6, 7, 8};
  for (int64_t i = 0; i < 8; ++i) {
    Sample a = source.Get(kept[i]), b = back->Get(i);
    ExpectSameSample(a, b, fmt::format("sample {}", i));
    auto shape = back->ShapeOf(i);
    ASSERT_TRUE(shape.has_value());
    EXPECT_EQ(std::vector<int64_t>(shape->begin(), shape->end()), b.video.sizes().vec());
  }
  // The loader buckets the two shapes the shards report.
  LoaderOptions o;
  o.batch_size = 2;
  o.workers = 2;
  DataLoader loader(back, o);
  EXPECT_EQ(loader.batches_per_epoch(), 3);  // 3 of one shape (1 batch), 5 of the other (2)
  std::multiset<int64_t> frames;
  for (int k = 0; k < 3; ++k) frames.insert(loader.Next().video.size(2));
  EXPECT_EQ(frames, (std::multiset<int64_t>{2, 3, 3}));
}

TEST(Hdf5Pipeline, StoredTextEmbeddingsReachTheLoaderOrAreLeftOut) {
  TempDir dir;
  auto source = MakePipeline("synthetic", "domain = \"continual\"\nsize = 6");
  ExportOptions options;
  auto encoder = std::make_shared<testing::HashedWords>(3, 5, "toy-encoder");
  options.text_encoders.push_back({"toy", encoder, "detailed"});
  ExportDataset(*source, dir.path(), 4, options);

  auto back = MakePipeline(
      "hdf5",
      fmt::format("path = [\"{0}/shard-00000.h5\", \"{0}/shard-00001.h5\"]", dir.path().string()));
  ASSERT_EQ(back->size(), 6);
  for (int64_t i = 0; i < 6; ++i) {
    Sample s = back->Get(i);
    TextEncoding expected = encoder->Encode({source->Get(i).captions.at("detailed")});
    ASSERT_TRUE(s.text_embeddings.count("toy"));
    EXPECT_TRUE(torch::equal(s.text_embeddings["toy"].embedding, expected.embedding)) << i;
    EXPECT_TRUE(torch::equal(s.text_embeddings["toy"].mask, expected.mask)) << i;
  }
  LoaderOptions o;
  o.batch_size = 3;
  o.shuffle = false;
  DataLoader loader(back, o);
  Batch b = loader.Next();
  EXPECT_EQ(b.text_embeddings["toy"].embedding.sizes(), (std::vector<int64_t>{3, 5, 3}));
  EXPECT_EQ(b.text_embeddings["toy"].mask.sizes(), (std::vector<int64_t>{3, 5}));

  auto without =
      MakePipeline("hdf5", PathOption(dir.path()) + "\ntext_embeddings = false\nlabels = false");
  EXPECT_TRUE(without->Get(0).text_embeddings.empty());
  EXPECT_TRUE(without->Get(0).labels.is_null());
}

// A labelled data set keeps its schema and targets through export -> hdf5 -> export -> hdf5.
TEST(Hdf5Pipeline, LabelSchemaAndTargetsRoundTripThroughExport) {
  TempDir dir;
  LabelledPixels source;
  ExportDataset(source, dir / "once", 3);
  auto once = MakePipeline("hdf5", PathOption(dir / "once"));
  ASSERT_EQ(once->label_schema(), std::optional<LabelSchema>(LabelledPixels::Schema()));
  ExportDataset(*once, dir / "twice", 4);
  auto twice = MakePipeline("hdf5", PathOption(dir / "twice"));
  ASSERT_EQ(twice->size(), source.size());
  EXPECT_EQ(twice->label_schema(), std::optional<LabelSchema>(LabelledPixels::Schema()));
  for (int64_t i = 0; i < source.size(); ++i) {
    Sample a = source.Get(i), b = twice->Get(i);
    ExpectSameSample(a, b, fmt::format("sample {}", i));
  }
  EXPECT_EQ(twice->Get(3).targets, (std::map<std::string, int64_t>{{"color", 0}}));

  // labels = false: no labels, no targets, no schema.
  auto unlabelled = MakePipeline("hdf5", PathOption(dir / "twice") + "\nlabels = false");
  EXPECT_FALSE(unlabelled->label_schema().has_value());
  EXPECT_TRUE(unlabelled->Get(2).targets.empty());
  ExportDataset(*unlabelled, dir / "plain", 10);
  EXPECT_FALSE(MakePipeline("hdf5", PathOption(dir / "plain"))->label_schema().has_value());
}

TEST(Hdf5Pipeline, ShardsOfDifferentLabelSchemasAreAnErrorUnlessLabelsAreOff) {
  TempDir dir;
  LabelledPixels source;
  ExportDataset(source, dir / "labelled", 10);
  LabelSchema other = LabelledPixels::Schema();
  other.classes["color"].push_back("purple");
  {
    VideoShardWriterOptions options;
    options.label_schema = other;
    VideoShardWriter w(dir / "other.h5", options);
    w.Add(source.Get(0));
    w.Commit();
  }
  std::string mixed = fmt::format("path = [\"{}\", \"{}\"]", (dir / "labelled").string(),
                                  (dir / "other.h5").string());
  EXPECT_THROW_WITH(MakePipeline("hdf5", mixed), InputError, "disagree on their label schema",
                    "other.h5", "purple", "labels = false");
  auto unlabelled = MakePipeline("hdf5", mixed + "\nlabels = false");
  EXPECT_EQ(unlabelled->size(), 8);
  EXPECT_FALSE(unlabelled->label_schema().has_value());
}

TEST(Hdf5Pipeline, ConstructsFromOptionsAloneAndOpenNamesWhatIsMissing) {
  TempDir dir;
  // Options only: nothing is opened, so a path that does not exist yet is fine.
  std::string missing = (dir / "not_yet/shards").string();
  auto pipeline = ConstructPipeline("hdf5", fmt::format("path = \"{}\"", missing));
  EXPECT_THROW_WITH(pipeline->Open(), InputError, missing.c_str(), "does not exist");
  // Option problems are all reported at construction.
  EXPECT_THROW_WITH(ConstructPipeline("hdf5", ""), ValidationError, "path", "missing required key");
  EXPECT_THROW_WITH(ConstructPipeline("hdf5", "path = \"x\"\nshuffle = true\nlabels = 3"),
                    ValidationError, "unknown key 'shuffle'", "labels");

  LabelledPixels source;
  ExportDataset(source, dir / "good", 10);
  fs::path truncated = dir / "truncated.h5";
  fs::copy_file(dir / "good/shard-00000.h5", truncated);
  fs::resize_file(truncated, fs::file_size(truncated) / 2);
  auto damaged = ConstructPipeline("hdf5", PathOption(truncated));
  EXPECT_THROW_WITH(damaged->Open(), InputError, "truncated.h5", "truncated");
}

// The cache key is the shards' content: a copy elsewhere or a touched file keeps it, other
// content changes it.
TEST(Hdf5Pipeline, CacheKeyFollowsTheShardsContentNotTheirPathOrTime) {
  TempDir dir;
  LabelledPixels source;
  ExportDataset(source, dir / "a", 3);
  fs::copy(dir / "a", dir / "b", fs::copy_options::recursive);
  fs::last_write_time(dir / "b/shard-00001.h5",
                      fs::last_write_time(dir / "b/shard-00001.h5") + std::chrono::hours(1));
  std::string a = MakePipeline("hdf5", PathOption(dir / "a"))->CacheKey();
  EXPECT_FALSE(a.empty());
  EXPECT_EQ(MakePipeline("hdf5", PathOption(dir / "b"))->CacheKey(), a);
  EXPECT_EQ(a.find(dir.path().string()), std::string::npos) << a;
  ExportOptions fewer;
  fewer.limit = 6;
  ExportDataset(source, dir / "c", 3, fewer);
  EXPECT_NE(MakePipeline("hdf5", PathOption(dir / "c"))->CacheKey(), a);
  // The same files in another order are another data set.
  std::string reordered = fmt::format(
      "path = [\"{0}/shard-00001.h5\", \"{0}/shard-00000.h5\", "
      "\"{0}/shard-00002.h5\"]",
      (dir / "a").string());
  EXPECT_NE(MakePipeline("hdf5", reordered)->CacheKey(), a);
}

// The shards the plugin's examples read ("${data}/shards": testdata/, written by h5py in
// scripts/goldens/make_plugin_testdata.py) hold what the examples promise.
TEST(Hdf5Pipeline, ReadsItsExampleData) {
  fs::path data = fs::path(MODELGROW_TEST_PLUGIN_FILE).replace_extension(".data");
  ASSERT_TRUE(fs::is_directory(data / "shards")) << data;
  auto p = MakePipeline("hdf5", PathOption(data / "shards"));
  ASSERT_EQ(p->size(), 5);
  ASSERT_TRUE(p->label_schema().has_value());
  EXPECT_EQ(p->label_schema()->classes.at("color"),
            (std::vector<std::string>{"red", "green", "blue"}));
  EXPECT_EQ(p->Get(0).targets, (std::map<std::string, int64_t>{{"color", 0}, {"shape", 1}}));
  EXPECT_EQ(p->Get(2).targets, (std::map<std::string, int64_t>{{"shape", 0}}));
  EXPECT_EQ(p->Get(3).captions.count("detailed"), 0u);
  Sample s = p->Get(4);
  EXPECT_EQ(s.video.sizes(), (std::vector<int64_t>{3, 2, 8, 8}));
  EXPECT_LE(s.video.abs().max().item<float>(), 1.0f);
  EXPECT_EQ(s.labels["clip"], 4);
  EXPECT_TRUE(
      torch::equal(s.text_embeddings.at("t5").mask, torch::tensor({{true, true, true, false}})));
}

}  // namespace
}  // namespace modelgrow
