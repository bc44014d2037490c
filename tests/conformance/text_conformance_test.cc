// The text-encoder conformance suite: what every text encoder must satisfy, run over every text
// plugin found (conformance_plugins.h) and each of its [[example]] tables.
//
// An example with a `make` table is made into a tiny model first (the plugin's Maker, from the
// suite's fixed caption corpus, in a temporary folder that becomes `path`); one without names
// its model in `path` (usually under "${data}"). Suite key: test_options_error = "text" --
// constructing must report a problem containing the text; test_prompts = [...] -- the prompts to
// encode instead of the suite's own (for an encoder that knows only the prompts it stored).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sstream>

#include "conformance/conformance_plugins.h"
#include "modelgrow/sdk/text_encoder.h"
#include "test_util.h"

namespace modelgrow::conformance {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

bool Encodes(const Options& t) { return !t.Has("test_options_error"); }
bool Rejected(const Options& t) { return t.Has("test_options_error"); }

// The captions a `make` example's tiny model is fitted to: short and long ones over a small
// vocabulary, like the synthetic world's, with each long one paired to the short one it details.
TextCorpus Corpus() {
  static const TextCorpus corpus = [] {
    const std::vector<std::string> colors = {"red", "green", "blue", "yellow", "purple", "white"};
    const std::vector<std::string> shapes = {"circle", "square", "triangle", "star", "cross"};
    const std::vector<std::string> motions = {"left", "right", "up", "down", "up-left"};
    TextCorpus out;
    for (size_t c = 0; c < colors.size(); ++c) {
      for (size_t s = 0; s < shapes.size(); ++s) {
        for (size_t m = 0; m < motions.size(); ++m) {
          const std::string short_caption =
              "a " + colors[c] + " " + shapes[s] + " moves " + motions[m];
          out.captions.push_back(short_caption);
          if ((c + s + m) % 3 == 0) {
            out.captions.push_back("two objects on a black background: a small " + colors[c] + " " +
                                   shapes[s] + " moving " + motions[m] +
                                   " quickly, left of a large " + colors[(c + 1) % colors.size()] +
                                   " " + shapes[(s + 2) % shapes.size()] + " that stays still");
            out.pairs.push_back({short_caption, out.captions.back()});
          }
        }
      }
    }
    return out;
  }();
  return corpus;
}

// Prompts of different lengths, one longer than any tiny model's window. An encoder that can only
// encode prompts it has stored (precomputed embeddings) lists them in `test_prompts`.
const std::vector<std::string> kDefaultPrompts = {
    "a red circle moves left",
    "two objects on a black background: a small blue star moving up quickly, left of a large "
    "white square that stays still, and then a third one, a green cross, moving down slowly",
    "a yellow triangle moves up-left"};

std::vector<std::string> PromptsOf(const Example& example) {
  std::vector<std::string> prompts = example.Table().StringList("test_prompts", {});
  return prompts.empty() ? kDefaultPrompts : prompts;
}

// The example's table for the encoder: without `make` (the host's, not the encoder's) and with
// `path` set to `path` when given.
Options EncoderOptions(const Example& example, const fs::path& path) {
  Options options = example.PluginOptions();
  options.Erase("make");
  if (!path.empty()) options.Set("path", "'" + path.string() + "'");
  return options;
}

std::shared_ptr<TextEncoder> Construct(const Example& example, const Options& options,
                                       const fs::path& work_dir) {
  PluginContext context;
  context.options = options;
  context.work_dir = work_dir;
  return Plugins().MakeTextEncoder(example.plugin.name, context);
}

// The example's encoder, loaded: its model made first when the example has `make`.
std::shared_ptr<TextEncoder> Loaded(const Example& example, const TempDir& dir) {
  fs::path path;
  Options table = example.Table();
  if (table.Has("make")) {
    if (!example.plugin.makes_text_models) {
      throw RunError(example.plugin.name +
                     ": the example has `make` but the plugin declares no "
                     "Maker");
    }
    path = dir / "model";
    if (!fs::exists(path)) {
      PluginContext make;
      make.options = table.Table("make").Subset({"corpus"});
      make.work_dir = dir / "make";
      auto maker =
          Plugins().MakeTextModelMaker(example.plugin.name, make, EncoderOptions(example, path));
      std::ostringstream log;
      maker->Make(Corpus(), path, log);
    }
  }
  std::shared_ptr<TextEncoder> encoder =
      Construct(example, EncoderOptions(example, path), dir / "work");
  encoder->Load();
  return encoder;
}

::testing::AssertionResult SameEncoding(const TextEncoding& a, const TextEncoding& b,
                                        double tolerance = 0) {
  if (!a.embedding.sizes().equals(b.embedding.sizes()) || !a.mask.sizes().equals(b.mask.sizes())) {
    return ::testing::AssertionFailure()
           << "shapes differ: " << a.embedding.sizes() << " vs " << b.embedding.sizes();
  }
  if (!torch::equal(a.mask, b.mask)) return ::testing::AssertionFailure() << "masks differ";
  if (tolerance == 0) {
    if (!torch::equal(a.embedding, b.embedding)) {
      return ::testing::AssertionFailure() << "embeddings differ";
    }
    return ::testing::AssertionSuccess();
  }
  double error = testing::MaxAbsError(a.embedding, b.embedding);
  double scale = std::max(1.0, b.embedding.abs().max().item<double>());
  if (error > tolerance * scale) {
    return ::testing::AssertionFailure()
           << "embeddings differ by " << error << " (scale " << scale << ")";
  }
  return ::testing::AssertionSuccess();
}

// ---- every plugin --------------------------------------------------------------------------

TEST(TextConformance, FindsTextPlugins) { ExpectPluginsFound(PluginKind::kText); }

class TextPlugin : public ::testing::TestWithParam<Plugin> {};

TEST_P(TextPlugin, DeclaresExamples) {
  ExpectUsableExamples(GetParam(), {"test_options_error", "test_prompts"}, Encodes);
}

INSTANTIATE_TEST_SUITE_P(Text, TextPlugin, ::testing::ValuesIn(PluginsOf(PluginKind::kText)),
                         PluginName);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(TextPlugin);

// ---- examples --------------------------------------------------------------------------------

class TextExample : public ::testing::TestWithParam<Example> {};

// Constructing reads the options only: pointed at a folder that does not exist it succeeds, and
// Load() is what reports the missing model, as an InputError.
TEST_P(TextExample, ConstructsWithoutLoading) {
  TempDir dir;
  Options table = GetParam().Table();
  if (!table.Has("path") && !table.Has("make")) {
    ASSERT_NE(Construct(GetParam(), EncoderOptions(GetParam(), {}), dir / "work"), nullptr);
    return;  // nothing to point elsewhere
  }
  std::shared_ptr<TextEncoder> encoder =
      Construct(GetParam(), EncoderOptions(GetParam(), dir / "missing" / "model"), dir / "work");
  ASSERT_NE(encoder, nullptr);
  EXPECT_FALSE(fs::exists(dir / "missing")) << "construction created the model folder";
  EXPECT_THROW(encoder->Load(), InputError);
}

TEST_P(TextExample, EncodesToItsDeclaredShapes) {
  TempDir dir;
  std::shared_ptr<TextEncoder> encoder = Loaded(GetParam(), dir);
  const std::vector<std::string> prompts = PromptsOf(GetParam());
  const int64_t b = static_cast<int64_t>(prompts.size());
  ASSERT_GT(encoder->dim(), 0);
  ASSERT_GT(encoder->max_length(), 0);
  TextEncoding e = encoder->Encode(prompts);
  EXPECT_EQ(e.embedding.sizes(), (std::vector<int64_t>{b, encoder->max_length(), encoder->dim()}));
  EXPECT_EQ(e.embedding.scalar_type(), torch::kFloat);
  EXPECT_EQ(e.mask.sizes(), (std::vector<int64_t>{b, encoder->max_length()}));
  EXPECT_EQ(e.mask.scalar_type(), torch::kBool);
  EXPECT_TRUE(e.mask.any(1).all().item<bool>()) << "a prompt without a single real token";
  EXPECT_TRUE(torch::isfinite(e.embedding).all().item<bool>());
}

// The same prompts give the same encodings: twice from one encoder, and from a second one.
TEST_P(TextExample, IsDeterministic) {
  TempDir dir;
  std::shared_ptr<TextEncoder> encoder = Loaded(GetParam(), dir);
  const std::vector<std::string> prompts = PromptsOf(GetParam());
  TextEncoding first = encoder->Encode(prompts);
  EXPECT_TRUE(SameEncoding(encoder->Encode(prompts), first));
  EXPECT_TRUE(SameEncoding(Loaded(GetParam(), dir)->Encode(prompts), first));
}

// A prompt's encoding does not depend on the batch it is in (padding, batch statistics).
TEST_P(TextExample, IsBatchIndependent) {
  TempDir dir;
  std::shared_ptr<TextEncoder> encoder = Loaded(GetParam(), dir);
  const std::vector<std::string> prompts = PromptsOf(GetParam());
  TextEncoding batch = encoder->Encode(prompts);
  for (size_t i = 0; i < prompts.size(); ++i) {
    TextEncoding alone = encoder->Encode({prompts[i]});
    TextEncoding row{batch.embedding.narrow(0, static_cast<int64_t>(i), 1),
                     batch.mask.narrow(0, static_cast<int64_t>(i), 1)};
    EXPECT_TRUE(SameEncoding(alone, row, 1e-5)) << "prompt " << i << ": " << prompts[i];
  }
}

// The cache key names the weights and settings: non-empty, and the same for two instances.
TEST_P(TextExample, CacheKeyIsStable) {
  TempDir dir;
  std::string key = Loaded(GetParam(), dir)->CacheKey();
  EXPECT_FALSE(key.empty());
  EXPECT_EQ(Loaded(GetParam(), dir)->CacheKey(), key);
}

INSTANTIATE_TEST_SUITE_P(Text, TextExample,
                         ::testing::ValuesIn(ExamplesOf(PluginKind::kText, Encodes)), ExampleName);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(TextExample);

// ---- examples whose options must be rejected -----------------------------------------------

class TextOptionsRefusal : public ::testing::TestWithParam<Example> {};

TEST_P(TextOptionsRefusal, ConstructionReportsTheDeclaredProblem) {
  TempDir dir;
  const std::string expected = GetParam().TestString("test_options_error");
  EXPECT_THROW_WITH(Construct(GetParam(), EncoderOptions(GetParam(), {}), dir / "work"),
                    ValidationError, expected.c_str());
}

INSTANTIATE_TEST_SUITE_P(Text, TextOptionsRefusal,
                         ::testing::ValuesIn(ExamplesOf(PluginKind::kText, Rejected)), ExampleName);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(TextOptionsRefusal);

}  // namespace
}  // namespace modelgrow::conformance
