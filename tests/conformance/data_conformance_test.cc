// The data-pipeline conformance suite: what every data pipeline must satisfy, run over every data
// plugin found (conformance_plugins.h) and each of its [[example]] tables, on the first samples.
//
// Suite key: test_options_error = "text" -- constructing must report a problem containing the
// text. String options that name something in the plugin's data folder ("${data}/...") are the
// example's paths: pointed at a missing file, construction must still succeed and Open() fail.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <thread>

#include "conformance/conformance_plugins.h"
#include "modelgrow/data/loader.h"
#include "modelgrow/sdk/data_pipeline.h"
#include "test_util.h"

namespace modelgrow::conformance {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

// Samples each test reads (from the start): enough to see more than one, cheap for any pipeline.
constexpr int64_t kSamples = 4;

bool Opens(const Options& t) { return !t.Has("test_options_error"); }
bool Rejected(const Options& t) { return t.Has("test_options_error"); }

std::shared_ptr<DataPipeline> Construct(const Example& example, const Options& options) {
  PluginContext context;
  context.options = options;
  return Plugins().MakeDataPipeline(example.plugin.name, context);
}

std::shared_ptr<DataPipeline> Opened(const Example& example) {
  std::shared_ptr<DataPipeline> pipeline = Construct(example, example.PluginOptions());
  pipeline->Open();
  return pipeline;
}

int64_t SamplesToRead(const DataPipeline& pipeline) {
  return std::min<int64_t>(kSamples, pipeline.size());
}

::testing::AssertionResult SameSample(const Sample& a, const Sample& b) {
  if (!a.video.sizes().equals(b.video.sizes()) || !torch::equal(a.video, b.video)) {
    return ::testing::AssertionFailure() << "sample " << a.index << ": the videos differ";
  }
  if (a.captions != b.captions) return ::testing::AssertionFailure() << "captions differ";
  if (a.labels != b.labels) return ::testing::AssertionFailure() << "labels differ";
  if (a.targets != b.targets) return ::testing::AssertionFailure() << "targets differ";
  if (a.fps != b.fps || a.height != b.height || a.width != b.width || a.index != b.index) {
    return ::testing::AssertionFailure() << "fps, size or index differ";
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult SameBatch(const Batch& a, const Batch& b) {
  if (a.indices != b.indices) {
    return ::testing::AssertionFailure() << "other samples: " << ::testing::PrintToString(a.indices)
                                         << " vs " << ::testing::PrintToString(b.indices);
  }
  if (!a.video.sizes().equals(b.video.sizes()) || !torch::equal(a.video, b.video)) {
    return ::testing::AssertionFailure() << "the videos differ";
  }
  if (a.captions != b.captions) return ::testing::AssertionFailure() << "captions differ";
  return ::testing::AssertionSuccess();
}

// ---- every plugin --------------------------------------------------------------------------

TEST(DataConformance, FindsDataPlugins) { ExpectPluginsFound(PluginKind::kData); }

class DataPlugin : public ::testing::TestWithParam<Plugin> {};

TEST_P(DataPlugin, DeclaresExamples) {
  ExpectUsableExamples(GetParam(), {"test_options_error"}, Opens);
}

INSTANTIATE_TEST_SUITE_P(Data, DataPlugin, ::testing::ValuesIn(PluginsOf(PluginKind::kData)),
                         PluginName);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(DataPlugin);

// ---- examples --------------------------------------------------------------------------------

class DataExample : public ::testing::TestWithParam<Example> {};

// Constructing reads the options only: with its files pointed at ones that do not exist it
// succeeds, and Open() is what reports them, as an InputError.
TEST_P(DataExample, ConstructsWithoutOpening) {
  ASSERT_NE(Construct(GetParam(), GetParam().PluginOptions()), nullptr);
  std::vector<std::string> paths = GetParam().DataKeys();
  if (paths.empty()) return;  // reads no files
  TempDir dir;
  Options options = GetParam().PluginOptions();
  for (const std::string& key : paths) {
    fs::path missing = dir / "missing" / fs::path(options.String(key, "")).filename();
    options.Set(key, "'" + missing.string() + "'");
  }
  std::shared_ptr<DataPipeline> pipeline = Construct(GetParam(), options);
  ASSERT_NE(pipeline, nullptr);
  EXPECT_THROW(pipeline->Open(), InputError);
}

TEST_P(DataExample, OpensAndGivesWellFormedSamples) {
  std::shared_ptr<DataPipeline> pipeline = Opened(GetParam());
  ASSERT_GT(pipeline->size(), 0);
  for (int64_t i = 0; i < SamplesToRead(*pipeline); ++i) {
    Sample s = pipeline->Get(i);
    ASSERT_EQ(s.video.dim(), 4) << "sample " << i << ": video is [C, T, H, W]";
    EXPECT_EQ(s.video.scalar_type(), torch::kFloat) << "sample " << i;
    EXPECT_EQ(s.index, i);
    EXPECT_TRUE(s.captions.contains("short")) << "sample " << i << " has no short caption";
    EXPECT_GT(s.fps, 0) << "sample " << i;
    EXPECT_TRUE(torch::isfinite(s.video).all().item<bool>()) << "sample " << i;
    if (!pipeline->latent()) {
      EXPECT_EQ(s.video.size(0), 3) << "sample " << i << ": pixels are RGB";
      EXPECT_EQ(s.height, s.video.size(2)) << "sample " << i;
      EXPECT_EQ(s.width, s.video.size(3)) << "sample " << i;
      EXPECT_GE(s.video.min().item<float>(), -1.0f) << "sample " << i;
      EXPECT_LE(s.video.max().item<float>(), 1.0f) << "sample " << i;
    }
    if (auto shape = pipeline->ShapeOf(i)) {
      EXPECT_EQ(std::vector<int64_t>(shape->begin(), shape->end()), s.video.sizes().vec())
          << "ShapeOf(" << i << ") is not the shape Get(" << i << ") gives";
    }
  }
}

// The same sample every time: twice from one instance, from another instance, and from two
// threads at once.
TEST_P(DataExample, IsDeterministic) {
  std::shared_ptr<DataPipeline> pipeline = Opened(GetParam());
  std::shared_ptr<DataPipeline> other = Opened(GetParam());
  const int64_t n = SamplesToRead(*pipeline);
  std::vector<Sample> serial;
  for (int64_t i = 0; i < n; ++i) serial.push_back(pipeline->Get(i));
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_TRUE(SameSample(pipeline->Get(i), serial[i]));
    EXPECT_TRUE(SameSample(other->Get(i), serial[i]));
  }
  std::vector<std::vector<Sample>> threaded(2, std::vector<Sample>(n));
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (int64_t k = 0; k < n; ++k) {
        int64_t i = t == 0 ? k : n - 1 - k;  // opposite orders, so the threads meet
        threaded[t][i] = other->Get(i);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < 2; ++t) {
    for (int64_t i = 0; i < n; ++i)
      EXPECT_TRUE(SameSample(threaded[t][i], serial[i])) << "thread " << t;
  }
}

// A run resumes where it stopped: a loader restored to a saved position yields the batch the
// original would have yielded next.
TEST_P(DataExample, ResumesFromASavedPosition) {
  LoaderOptions options;
  options.batch_size = 2;
  options.seed = 1;
  options.shuffle = true;
  options.drop_last = false;
  options.workers = 2;
  options.prefetch_batches = 2;
  DataLoader original(Opened(GetParam()), options);
  ASSERT_GT(original.batches_per_epoch(), 0);
  for (int k = 0; k < 3; ++k) original.Next();
  const LoaderPosition saved = LoaderPosition::FromJson(original.position().ToJson());
  Batch expected = original.Next();

  DataLoader resumed(Opened(GetParam()), options);
  resumed.Restore(saved);
  EXPECT_TRUE(SameBatch(resumed.Next(), expected));
}

// The labels a pipeline declares are the labels its samples carry: every target's category is in
// the schema and its index in range (a non-empty set of its classes, for a multi-label one); every
// category a caption kind states exists.
TEST_P(DataExample, DeclaresAConsistentLabelSchema) {
  std::shared_ptr<DataPipeline> pipeline = Opened(GetParam());
  std::optional<LabelSchema> schema = pipeline->label_schema();
  for (int64_t i = 0; i < SamplesToRead(*pipeline); ++i) {
    Sample s = pipeline->Get(i);
    if (!schema) {
      EXPECT_TRUE(s.targets.empty())
          << "sample " << i << " has targets but no schema declares them";
      continue;
    }
    for (const auto& [category, index] : s.targets) {
      auto classes = schema->classes.find(category);
      ASSERT_NE(classes, schema->classes.end())
          << "sample " << i << ": target category '" << category << "' is not in the schema";
      EXPECT_TRUE(schema->IsValidTarget(category, index))
          << "sample " << i << ": target '" << category << "' = " << index << "; expected "
          << schema->DescribeTargets(category);
    }
  }
  if (!schema) return;
  EXPECT_FALSE(schema->classes.empty());
  for (const auto& [category, names] : schema->classes) {
    EXPECT_FALSE(names.empty()) << category << " has no classes";
    std::vector<std::string> sorted = names;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end())
        << category << " names a class twice";
  }
  for (const std::string& category : schema->multi_label) {
    EXPECT_LE(schema->classes.at(category).size(), LabelSchema::kMaxMultiLabelClasses) << category;
  }
  for (const auto& [kind, categories] : schema->stated_by) {
    for (const std::string& category : categories) {
      EXPECT_TRUE(schema->classes.contains(category))
          << "'" << kind << "' captions state '" << category << "', which the schema lacks";
    }
  }
  EXPECT_EQ(LabelSchema::FromJson(schema->ToJson()), *schema);
}

// What the pipeline reads beyond its options has a key: non-empty, the same for two instances.
TEST_P(DataExample, CacheKeyIsStable) {
  std::string key = Opened(GetParam())->CacheKey();
  EXPECT_FALSE(key.empty());
  EXPECT_EQ(Opened(GetParam())->CacheKey(), key);
}

INSTANTIATE_TEST_SUITE_P(Data, DataExample,
                         ::testing::ValuesIn(ExamplesOf(PluginKind::kData, Opens)), ExampleName);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(DataExample);

// ---- examples whose options must be rejected -----------------------------------------------

class DataOptionsRefusal : public ::testing::TestWithParam<Example> {};

TEST_P(DataOptionsRefusal, ConstructionReportsTheDeclaredProblem) {
  const std::string expected = GetParam().TestString("test_options_error");
  EXPECT_THROW_WITH(Construct(GetParam(), GetParam().PluginOptions()), ValidationError,
                    expected.c_str());
}

INSTANTIATE_TEST_SUITE_P(Data, DataOptionsRefusal,
                         ::testing::ValuesIn(ExamplesOf(PluginKind::kData, Rejected)), ExampleName);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(DataOptionsRefusal);

}  // namespace
}  // namespace modelgrow::conformance
