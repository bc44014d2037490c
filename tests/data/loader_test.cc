// The host's data loader: seeded order, bucketing, prefetching workers, skipped samples, resume.
#include <numeric>
#include <set>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "fakes/indexed_videos.h"
#include "modelgrow/data/loader.h"
#include "test_util.h"

namespace modelgrow {
namespace {

using testing::IndexedVideos;

std::vector<Batch> Take(DataLoader& loader, int count) {
  std::vector<Batch> out;
  for (int i = 0; i < count; ++i) out.push_back(loader.Next());
  return out;
}

void ExpectSameBatches(const std::vector<Batch>& a, const std::vector<Batch>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].indices, b[i].indices) << "batch " << i;
    EXPECT_TRUE(torch::equal(a[i].video, b[i].video)) << "batch " << i;
    EXPECT_TRUE(torch::equal(a[i].fps, b[i].fps)) << "batch " << i;
    EXPECT_EQ(a[i].captions, b[i].captions) << "batch " << i;
  }
}

LoaderOptions Opts(int64_t batch, uint64_t seed, int workers) {
  LoaderOptions o;
  o.batch_size = batch;
  o.seed = seed;
  o.workers = workers;
  o.prefetch_batches = 3;
  return o;
}

TEST(DataLoader, SameSeedGivesSameBatchesWhateverTheWorkerCount) {
  auto pipeline = std::make_shared<IndexedVideos>(40);
  DataLoader serial(pipeline, Opts(4, 7, 0));
  DataLoader threaded(pipeline, Opts(4, 7, 2));
  DataLoader again(pipeline, Opts(4, 7, 1));
  std::vector<Batch> a = Take(serial, 25);
  ExpectSameBatches(a, Take(threaded, 25));
  ExpectSameBatches(a, Take(again, 25));

  DataLoader other(pipeline, Opts(4, 8, 0));
  std::vector<Batch> b = Take(other, 10);
  int differing = 0;
  for (int i = 0; i < 10; ++i) differing += a[i].indices != b[i].indices;
  EXPECT_GT(differing, 5) << "another seed should give another order";
}

TEST(DataLoader, EachEpochIsAPermutationAndEpochsAreReshuffled) {
  auto pipeline = std::make_shared<IndexedVideos>(24);
  DataLoader loader(pipeline, Opts(4, 3, 2));
  EXPECT_EQ(loader.batches_per_epoch(), 6);
  std::vector<int64_t> epoch0, epoch1;
  for (const Batch& b : Take(loader, 6))
    epoch0.insert(epoch0.end(), b.indices.begin(), b.indices.end());
  EXPECT_EQ(loader.position().epoch, 1);
  EXPECT_EQ(loader.position().batch, 0);
  for (const Batch& b : Take(loader, 6))
    epoch1.insert(epoch1.end(), b.indices.begin(), b.indices.end());
  EXPECT_NE(epoch0, epoch1);
  std::vector<int64_t> sorted0 = epoch0, sorted1 = epoch1;
  std::sort(sorted0.begin(), sorted0.end());
  std::sort(sorted1.begin(), sorted1.end());
  std::vector<int64_t> all(24);
  std::iota(all.begin(), all.end(), 0);
  EXPECT_EQ(sorted0, all);
  EXPECT_EQ(sorted1, all);
}

TEST(DataLoader, BatchesStackVideosFpsCaptionsLabelsAndEmbeddings) {
  auto pipeline = std::make_shared<IndexedVideos>(10);
  LoaderOptions o = Opts(3, 0, 0);
  o.shuffle = false;
  DataLoader loader(pipeline, o);
  Batch b = loader.Next();
  EXPECT_EQ(b.indices, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(b.video.sizes(), (std::vector<int64_t>{3, 1, 2, 2, 2}));
  EXPECT_EQ(b.video[2].max().item<float>(), 2.0f);
  EXPECT_TRUE(torch::equal(b.fps, torch::tensor({8.0f, 9.0f, 10.0f})));
  EXPECT_EQ(b.captions[1].at("short"), "sample 1");
  EXPECT_EQ(b.labels[2]["i"], 2);
  EXPECT_EQ(b.height, 2);
  ASSERT_TRUE(b.text_embeddings.count("enc"));
  EXPECT_EQ(b.text_embeddings["enc"].embedding.sizes(), (std::vector<int64_t>{3, 3, 2}));
  EXPECT_EQ(b.text_embeddings["enc"].mask.scalar_type(), torch::kBool);
  EXPECT_FALSE(b.text_embeddings["enc"].mask[1][2].item<bool>());
}

TEST(DataLoader, ResumeMidEpochGivesIdenticalRemainingBatches) {
  auto pipeline = std::make_shared<IndexedVideos>(30, std::set<int64_t>{4, 17});
  for (int workers : {0, 2}) {
    DataLoader original(pipeline, Opts(4, 11, workers));
    Take(original, 5);  // into the second epoch's neighbourhood: 7 batches per epoch
    nlohmann::json saved = original.position().ToJson();
    std::vector<Batch> rest = Take(original, 12);

    DataLoader resumed(pipeline, Opts(4, 11, workers));
    resumed.Restore(LoaderPosition::FromJson(nlohmann::json::parse(saved.dump())));
    ExpectSameBatches(rest, Take(resumed, 12));

    // Restoring an already running loader (workers busy prefetching) works as well.
    DataLoader rewound(pipeline, Opts(4, 11, workers));
    Take(rewound, 9);
    rewound.Restore(LoaderPosition::FromJson(saved));
    ExpectSameBatches(rest, Take(rewound, 12));
  }
}

TEST(DataLoader, SkippedSamplesAreCountedAndReplacedByTheNextInOrder) {
  std::set<int64_t> bad = {1, 2, 7};
  auto pipeline = std::make_shared<IndexedVideos>(12, bad);
  LoaderOptions o = Opts(4, 0, 2);
  o.shuffle = false;
  DataLoader loader(pipeline, o);
  Batch first = loader.Next();
  // 1 and 2 fail; their places are taken by the next usable samples in order (3, 3).
  EXPECT_EQ(first.indices, (std::vector<int64_t>{0, 3, 3, 3}));
  Batch second = loader.Next();
  EXPECT_EQ(second.indices, (std::vector<int64_t>{4, 5, 6, 8}));
  nlohmann::json stats = loader.Stats();
  EXPECT_EQ(stats["skipped"], 4);  // 1, 2, 2 (again, as 1's replacement candidate), 7
  EXPECT_EQ(stats["skipped_unique"], 3);
  EXPECT_EQ(stats["skipped_indices"], nlohmann::json({1, 2, 7}));
  EXPECT_EQ(stats["pipeline"]["bad"], 3);
  EXPECT_EQ(stats["samples"], 8);
}

TEST(DataLoader, AllSamplesSkippedIsAnError) {
  auto pipeline = std::make_shared<IndexedVideos>(3, std::set<int64_t>{0, 1, 2});
  DataLoader loader(pipeline, Opts(2, 0, 1));
  EXPECT_THROW_WITH(loader.Next(), RunError, "every one of the 3 samples", "skipped");
  // The position stays at the failing batch.
  EXPECT_EQ(loader.position().batch, 0);
}

TEST(DataLoader, BucketsByShapeAndCoversEverySampleWithoutDropLast) {
  auto pipeline = std::make_shared<IndexedVideos>(20, std::set<int64_t>{}, true);
  LoaderOptions o = Opts(3, 5, 2);
  o.drop_last = false;
  DataLoader loader(pipeline, o);
  // 7 samples of the large shape (0, 3, ..., 18) -> 3 batches; 13 small -> 5 batches.
  EXPECT_EQ(loader.batches_per_epoch(), 8);
  std::multiset<int64_t> seen;
  for (const Batch& b : Take(loader, 8)) {
    int64_t h = b.video.size(3);
    for (int64_t i : b.indices) {
      EXPECT_EQ(h, i % 3 == 0 ? 4 : 2) << "sample " << i << " in a batch of another shape";
      seen.insert(i);
    }
    EXPECT_EQ(b.height, h);
  }
  EXPECT_EQ(seen.size(), 20u);
  EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), 20u);
  EXPECT_EQ(loader.Stats()["buckets"], 2);
}

TEST(DataLoader, LastBatchIsSmallerWithoutDropLast) {
  auto pipeline = std::make_shared<IndexedVideos>(10);
  LoaderOptions o = Opts(4, 0, 0);
  o.drop_last = false;
  o.shuffle = false;
  DataLoader loader(pipeline, o);
  EXPECT_EQ(loader.batches_per_epoch(), 3);
  std::vector<Batch> b = Take(loader, 3);
  EXPECT_EQ(b[2].indices, (std::vector<int64_t>{8, 9}));
  o.drop_last = true;
  EXPECT_EQ(DataLoader(pipeline, o).batches_per_epoch(), 2);
}

TEST(DataLoader, BadSettingsAndPositionsAreClearErrors) {
  auto pipeline = std::make_shared<IndexedVideos>(5);
  EXPECT_THROW_WITH(DataLoader(pipeline, Opts(0, 0, 0)), InputError, "batch_size must be >= 1");
  EXPECT_THROW_WITH(DataLoader(pipeline, Opts(2, 0, -1)), InputError, "workers must be >= 0");
  LoaderOptions o = Opts(2, 0, 0);
  o.prefetch_batches = 0;
  EXPECT_THROW_WITH(DataLoader(pipeline, o), InputError, "prefetch_batches must be >= 1");
  EXPECT_THROW_WITH(DataLoader(nullptr, Opts(2, 0, 0)), InputError, "no pipeline");

  DataLoader small(pipeline, Opts(8, 0, 1));
  EXPECT_THROW_WITH(small.Next(), InputError, "has 5 samples", "one batch of 8");

  DataLoader loader(pipeline, Opts(2, 0, 0));
  EXPECT_THROW_WITH(loader.Restore({0, 2}), InputError, "epoch 0 batch 2", "has 2 batches");
  EXPECT_THROW_WITH(LoaderPosition::FromJson({{"epoch", 1}}), InputError, "loader position",
                    "'batch'");
  EXPECT_THROW_WITH(LoaderPosition::FromJson({{"epoch", -1}, {"batch", 0}}), InputError, "'epoch'");

  // Samples of different shapes from a pipeline that does not report shapes.
  auto unreported = std::make_shared<IndexedVideos>(6, std::set<int64_t>{}, true, false);
  LoaderOptions ordered = Opts(3, 0, 0);
  ordered.shuffle = false;
  DataLoader mixed(unreported, ordered);
  EXPECT_THROW_WITH(mixed.Next(), InputError, "samples 0 and 1", "[1, 2, 4, 4]", "ShapeOf");
}

TEST(DataLoader, ShardsSplitEveryGlobalBatchIntoDisjointEqualParts) {
  // Two bad samples: a replacement depends on the sample's place in the global batch only.
  auto pipeline = std::make_shared<IndexedVideos>(30, std::set<int64_t>{4, 17});
  DataLoader whole(pipeline, Opts(6, 3, 1));
  std::vector<Batch> expected = Take(whole, 9);  // into the second epoch (5 batches per epoch)
  std::vector<std::vector<Batch>> parts;
  for (int shard = 0; shard < 3; ++shard) {
    LoaderOptions o = Opts(6, 3, shard % 2);
    o.shard = shard;
    o.shards = 3;
    parts.push_back(Take(*std::make_unique<DataLoader>(pipeline, o), 9));
  }
  for (size_t b = 0; b < expected.size(); ++b) {
    std::vector<int64_t> joined;
    for (int shard = 0; shard < 3; ++shard) {
      const Batch& part = parts[shard][b];
      ASSERT_EQ(part.size(), 2);
      // Samples are numbered globally: part `shard` starts 2 * shard into global batch b.
      EXPECT_EQ(part.first_sample, static_cast<int64_t>(b) * 6 + 2 * shard);
      joined.insert(joined.end(), part.indices.begin(), part.indices.end());
    }
    EXPECT_EQ(joined, expected[b].indices) << "global batch " << b;
    EXPECT_EQ(expected[b].first_sample, static_cast<int64_t>(b) * 6);
  }
  // A sharded loader resumes at the same global position.
  LoaderOptions o = Opts(6, 3, 0);
  o.shard = 1;
  o.shards = 3;
  DataLoader resumed(pipeline, o);
  resumed.Restore({1, 2});
  EXPECT_EQ(resumed.Next().indices, parts[1][7].indices);
}

TEST(DataLoader, ShardingNeedsABatchThatDividesEvenly) {
  auto pipeline = std::make_shared<IndexedVideos>(12);
  LoaderOptions o = Opts(6, 0, 0);
  o.shards = 4;
  EXPECT_THROW_WITH(DataLoader(pipeline, o), InputError,
                    "batch_size 6 does not divide evenly among 4 ranks");
  o.shards = 2;
  o.shard = 2;
  EXPECT_THROW_WITH(DataLoader(pipeline, o), InputError, "shard 2 of 2 does not exist");
  o.shard = 1;
  o.drop_last = false;
  EXPECT_THROW_WITH(DataLoader(pipeline, o), InputError, "needs drop_last");
}

}  // namespace
}  // namespace modelgrow
