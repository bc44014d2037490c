// Evaluation parts: GIF encoding (read back by an independent decoder), Fréchet distance against
// closed forms, the attribute classes and targets of real synthetic samples, accuracy, the
// classifier cache, and EvaluateModel's metrics.
#include <cmath>
#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "eval/gif_reader.h"
#include "fakes/indexed_videos.h"
#include "fakes/labelled_pixels.h"
#include "modelgrow/eval/attribute_classifier.h"
#include "modelgrow/eval/evaluator.h"
#include "modelgrow/eval/frechet.h"
#include "modelgrow/host/plugin_registry.h"
#include "modelgrow/io/gif.h"
#include "modelgrow/sdk/atomic_file.h"
#include "test_util.h"
#include "train/train_fixtures.h"

namespace modelgrow {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using testing::GifImage;
using testing::ReadGif;
using testing::TempDir;

// ---------------------------------------------------------------- GIF

// The palette colour of a decoded pixel.
std::array<int, 3> Colour(const GifImage& gif, uint8_t index) {
  return {gif.palette[3 * index], gif.palette[3 * index + 1], gif.palette[3 * index + 2]};
}

// Decodes `bytes`, checks the frames' layout, and returns the largest and the mean per-channel
// distance of a decoded pixel from its source.
std::pair<double, double> DecodedError(const std::string& bytes, const at::Tensor& video,
                                       int scale) {
  GifImage gif = ReadGif(bytes);
  const int64_t frames = video.size(1), height = video.size(2) * scale,
                width = video.size(3) * scale;
  EXPECT_EQ(bytes.substr(0, 6), "GIF89a");
  EXPECT_EQ(static_cast<uint8_t>(bytes.back()), 0x3B);
  EXPECT_EQ(gif.width, width);
  EXPECT_EQ(gif.height, height);
  EXPECT_TRUE(gif.loops);
  EXPECT_EQ(gif.palette.size(), 256u * 3);
  EXPECT_EQ(gif.frames.size(), static_cast<size_t>(frames));
  const at::Tensor levels = ((video + 1) * 127.5).round();
  double largest = 0, sum = 0;
  for (int64_t t = 0; t < std::min<int64_t>(frames, gif.frames.size()); ++t) {
    const testing::GifFrame& f = gif.frames[t];
    EXPECT_EQ(f.width, width);
    EXPECT_EQ(f.height, height);
    EXPECT_EQ(f.delay_centiseconds, 10);
    for (int64_t y = 0; y < height; ++y) {
      for (int64_t x = 0; x < width; ++x) {
        auto c = Colour(gif, f.indices[y * width + x]);
        for (int ch = 0; ch < 3; ++ch) {
          const double e = std::abs(c[ch] - levels[ch][t][y / scale][x / scale].item<double>());
          largest = std::max(largest, e);
          sum += e;
        }
      }
    }
  }
  return {largest, sum / static_cast<double>(3 * frames * height * width)};
}

TEST(Gif, AVideoOfAtMost256ColoursDecodesExactly) {
  // 200 random colours at random places: long LZW streams, so the code table fills and is
  // cleared on the way.
  at::Generator g = at::detail::createCPUGenerator(3);
  at::Tensor colours = at::rand({3, 200}, g, at::TensorOptions()) * 2 - 1;
  at::Tensor which = at::randint(200, {5 * 12 * 10}, g, at::TensorOptions().dtype(at::kLong));
  at::Tensor video = colours.index_select(1, which).view({3, 5, 12, 10});
  auto [largest, mean] = DecodedError(EncodeGif(video, {.fps = 10, .scale = 3}), video, 3);
  EXPECT_EQ(largest, 0);
}

TEST(Gif, AVideoOfManyColoursDecodesNearItsOwnColours) {
  // 600 random colours: a median cut into 256 boxes, each pixel drawn in the nearest.
  at::Generator g = at::detail::createCPUGenerator(3);
  at::Tensor video = at::rand({3, 5, 12, 10}, g, at::TensorOptions()) * 2 - 1;
  auto [largest, mean] = DecodedError(EncodeGif(video, {.fps = 10, .scale = 3}), video, 3);
  // 28 and 7.4 levels here; uniform noise is the hardest case for a palette of the video's own
  // colours, which keeps few-coloured videos exact instead (above, and ExactColoursAndGreyVideos).
  EXPECT_LE(largest, 32);
  EXPECT_LE(mean, 8.5);
}

TEST(Gif, ExactColoursAndGreyVideos) {
  // Black, white, pure red and pure blue lie on the palette grid: they come back exactly.
  at::Tensor video = at::full({3, 2, 2, 2}, -1.0f);
  video.select(1, 0).select(1, 0).select(1, 1).fill_(1.0f);  // frame 0, (0,1): white
  video[0][1][1][0] = 1.0f;                                  // frame 1, (1,0): red
  video[2][1][1][1] = 1.0f;                                  // frame 1, (1,1): blue
  GifImage gif = ReadGif(EncodeGif(video, {.fps = 4, .scale = 1}));
  ASSERT_EQ(gif.frames.size(), 2u);
  EXPECT_EQ(gif.frames[0].delay_centiseconds, 25);
  using C = std::array<int, 3>;
  EXPECT_EQ(Colour(gif, gif.frames[0].indices[0]), (C{0, 0, 0}));
  EXPECT_EQ(Colour(gif, gif.frames[0].indices[1]), (C{255, 255, 255}));
  EXPECT_EQ(Colour(gif, gif.frames[1].indices[2]), (C{255, 0, 0}));
  EXPECT_EQ(Colour(gif, gif.frames[1].indices[3]), (C{0, 0, 255}));

  at::Tensor grey = at::linspace(-1, 1, 16).view({1, 1, 4, 4}).expand({1, 3, 4, 4}).contiguous();
  GifImage g = ReadGif(EncodeGif(grey, {.fps = 8, .scale = 2}));
  ASSERT_EQ(g.frames.size(), 3u);
  EXPECT_EQ(g.width, 8);
  auto first = Colour(g, g.frames[0].indices[0]), last = Colour(g, g.frames[0].indices[63]);
  EXPECT_EQ(first, (C{0, 0, 0}));
  EXPECT_EQ(last, (C{255, 255, 255}));
}

TEST(Gif, WriteGifIsAtomicAndBadShapesAreRejected) {
  TempDir dir;
  at::Tensor video = at::zeros({3, 2, 4, 4});
  WriteGif(dir / "a.gif", video);
  EXPECT_EQ(ReadFile(dir / "a.gif"), EncodeGif(video));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
  EXPECT_THROW_WITH(EncodeGif(at::zeros({3, 4, 4})), InputError,
                    "a GIF needs a [3 or 1, T, H, W] video, got 3 dims");
  EXPECT_THROW_WITH(EncodeGif(at::zeros({2, 1, 4, 4})), InputError, "[3 or 1, T, H, W]");
}

// ffmpeg, where installed, decodes our GIFs to the same frames (an independent decoder).
TEST(Gif, FfmpegDecodesTheSameFrames) {
  if (std::system("ffmpeg -version > /dev/null 2>&1") != 0) GTEST_SKIP() << "no ffmpeg";
  TempDir dir;
  at::Generator g = at::detail::createCPUGenerator(11);
  at::Tensor video = at::rand({3, 3, 6, 7}, g, at::TensorOptions()) * 2 - 1;
  std::string bytes = EncodeGif(video, {.fps = 8, .scale = 2});
  WriteGif(dir / "v.gif", video, {.fps = 8, .scale = 2});
  std::string command = "ffmpeg -loglevel error -i " + (dir / "v.gif").string() +
                        " -vsync passthrough -f rawvideo -pix_fmt rgb24 " +
                        (dir / "v.rgb").string();
  ASSERT_EQ(std::system(command.c_str()), 0);
  std::string raw = ReadFile(dir / "v.rgb");
  GifImage gif = ReadGif(bytes);
  const size_t frame_bytes = 14 * 12 * 3;
  ASSERT_EQ(raw.size(), 3 * frame_bytes);
  for (size_t t = 0; t < 3; ++t) {
    for (size_t p = 0; p < 14 * 12; ++p) {
      auto c = Colour(gif, gif.frames[t].indices[p]);
      for (int ch = 0; ch < 3; ++ch)
        ASSERT_EQ(static_cast<uint8_t>(raw[t * frame_bytes + 3 * p + ch]), c[ch]) << t << " " << p;
    }
  }
}

// ---------------------------------------------------------------- Fréchet distance

// N samples whose mean and (N - 1)-normalised covariance are exactly `mean` and `cov`.
at::Tensor WithMoments(const at::Tensor& mean, const at::Tensor& cov, int64_t n, uint64_t seed) {
  at::Generator g = at::detail::createCPUGenerator(seed);
  at::Tensor x = at::randn({n, mean.size(0)}, g, at::TensorOptions().dtype(at::kDouble));
  x = x - x.mean(0);
  at::Tensor c = x.t().mm(x) / static_cast<double>(n - 1);
  at::Tensor white = x.mm(at::linalg_cholesky(c).inverse().t());
  return white.mm(at::linalg_cholesky(cov).t()) + mean;
}

TEST(FrechetDistance, OfASetWithItselfIsZero) {
  at::Tensor a = at::randn({50, 6}, at::TensorOptions().dtype(at::kDouble)) * 3 + 1;
  EXPECT_NEAR(FrechetDistance(a, a), 0.0, 1e-9);
  EXPECT_NEAR(FrechetDistance(a.to(at::kFloat), a.to(at::kFloat)), 0.0, 1e-5);
  // A shifted copy: the distance is the squared shift.
  at::Tensor shift = at::tensor({1.0, -2.0, 0.5, 0.0, 0.0, 3.0}, at::kDouble);
  EXPECT_NEAR(FrechetDistance(a, a + shift), 1 + 4 + 0.25 + 9, 1e-8);
}

TEST(FrechetDistance, MatchesTheClosedFormForGaussians) {
  // Non-commuting 2x2 covariances: tr sqrt(Sa Sb) = sqrt(tr(Sa Sb) + 2 sqrt(det(Sa Sb))).
  at::Tensor mu_a = at::tensor({0.5, -1.0}, at::kDouble),
             mu_b = at::tensor({2.0, 1.0}, at::kDouble);
  at::Tensor s_a = at::tensor({2.0, 0.6, 0.6, 1.0}, at::kDouble).view({2, 2});
  at::Tensor s_b = at::tensor({0.5, -0.3, -0.3, 3.0}, at::kDouble).view({2, 2});
  at::Tensor product = s_a.mm(s_b);
  double tr_sqrt =
      std::sqrt(product.trace().item<double>() + 2 * std::sqrt(at::det(product).item<double>()));
  double expected = (mu_a - mu_b).pow(2).sum().item<double>() + s_a.trace().item<double>() +
                    s_b.trace().item<double>() - 2 * tr_sqrt;
  at::Tensor a = WithMoments(mu_a, s_a, 40, 1), b = WithMoments(mu_b, s_b, 60, 2);
  EXPECT_NEAR(FrechetDistance(a, b), expected, 1e-9 * expected);
  EXPECT_NEAR(FrechetDistance(b, a), expected, 1e-9 * expected);  // symmetric

  // Diagonal covariances in 5 dimensions: sum of (sqrt(a_i) - sqrt(b_i))^2 plus the mean term.
  at::Tensor va = at::tensor({1.0, 4.0, 0.25, 2.0, 9.0}, at::kDouble);
  at::Tensor vb = at::tensor({4.0, 1.0, 0.25, 8.0, 1.0}, at::kDouble);
  at::Tensor ma = at::zeros({5}, at::kDouble), mb = at::full({5}, 0.5, at::kDouble);
  double diagonal = (va.sqrt() - vb.sqrt()).pow(2).sum().item<double>() + 5 * 0.25;
  EXPECT_NEAR(
      FrechetDistance(WithMoments(ma, at::diag(va), 30, 3), WithMoments(mb, at::diag(vb), 30, 4)),
      diagonal, 1e-9 * diagonal);
}

TEST(FrechetDistance, ApproachesTheClosedFormFromSamples) {
  // Plain Gaussian samples (no exact moments): the estimate converges to the population value.
  at::Generator g = at::detail::createCPUGenerator(5);
  auto opts = at::TensorOptions().dtype(at::kDouble);
  at::Tensor a = at::randn({20000, 3}, g, opts);
  at::Tensor b = at::randn({20000, 3}, g, opts) * 2 + 1;  // cov 4 I, mean 1
  double expected = 3 * 1.0 + 3 * (1 - 2) * (1 - 2);      // |mu|^2 + sum (1 - 2)^2
  EXPECT_NEAR(FrechetDistance(a, b), expected, 0.15);
}

TEST(FrechetDistance, RejectsSetsItCannotCompare) {
  const char* expected = "needs two [N >= 2, D] feature sets of the same width";
  EXPECT_THROW_WITH(FrechetDistance(at::zeros({1, 3}), at::zeros({4, 3})), InputError, expected);
  EXPECT_THROW_WITH(FrechetDistance(at::zeros({4, 3}), at::zeros({4, 2})), InputError, expected);
  EXPECT_THROW_WITH(FrechetDistance(at::zeros({4}), at::zeros({4, 1})), InputError, expected);
}

// ---------------------------------------------------------------- attribute classifier

std::shared_ptr<DataPipeline> Synthetic(const PluginRegistry& registry, const std::string& toml) {
  PluginContext context;
  context.options = Options::ParseString(toml, "synthetic.toml");
  std::shared_ptr<DataPipeline> pipeline = registry.MakeDataPipeline("synthetic", context);
  pipeline->Open();
  return pipeline;
}

class SyntheticTest : public ::testing::Test {
 protected:
  void SetUp() override { registry_.LoadFrom(PluginRegistry::SearchPath({})); }
  PluginRegistry registry_;
};

// Evaluation reads labels only through the schema a data pipeline declares: a pipeline with
// another schema (the tests' moving bars) is evaluated exactly as the synthetic world is.
TEST(AttributeTargets, EveryCategoryOfTheSchemaIsATargetOrMinusOne) {
  std::optional<LabelSchema> schema = testing::LabelledPixels().label_schema();
  ASSERT_TRUE(schema);
  EXPECT_EQ(AllTargets(*schema, {{"color", 2}}),
            (std::map<std::string, int64_t>{{"color", 2}, {"count", -1}}));
  // Out-of-range indices and categories outside the schema are not targets.
  EXPECT_EQ(AllTargets(*schema, {{"color", 3}, {"count", 1}, {"size", 0}}),
            (std::map<std::string, int64_t>{{"color", -1}, {"count", 1}}));
  EXPECT_EQ(LabelSchema::FromJson(schema->ToJson()), *schema);
  EXPECT_THROW_WITH(LabelSchema::FromJson(json{{"stated_by", json::object()}}), InputError,
                    "label schema");
}

TEST(Accuracy, CountsOnlyKnownTargets) {
  LabelSchema schema;
  schema.classes["color"] = {"red", "green", "blue"};
  schema.classes["shape"] = {"circle", "square"};
  AttributeClassifier classifier(schema, 4);
  {
    // Zero weights: features are zero, so the logits are the head biases.
    torch::NoGradGuard no_grad;
    for (auto& item : classifier->named_parameters()) item.value().zero_();
    auto params = classifier->named_parameters();
    params["head_color.bias"][1] = 1.0f;  // always "green"
    params["head_shape.bias"][0] = 1.0f;  // always "circle"
  }
  at::Tensor videos = at::zeros({4, 3, 2, 8, 8});
  std::vector<std::map<std::string, int64_t>> targets = {{{"color", 1}, {"shape", 0}},
                                                         {{"color", 1}, {"shape", 1}},
                                                         {{"color", 2}, {"shape", 1}},
                                                         {{"color", -1}, {"shape", 1}}};
  auto acc = Accuracy(classifier, videos, targets, {"color", "shape"});
  EXPECT_DOUBLE_EQ(acc.at("color"), 2.0 / 3);  // the -1 target is not counted
  EXPECT_DOUBLE_EQ(acc.at("shape"), 1.0 / 4);
  EXPECT_DOUBLE_EQ(acc.at("mean"), (2.0 / 3 + 1.0 / 4) / 2);
  auto only_color = Accuracy(classifier, videos, targets, {"color"});
  EXPECT_EQ(only_color.count("shape"), 0u);
  EXPECT_DOUBLE_EQ(only_color.at("mean"), 2.0 / 3);
}

// A multi-label category's target is a bit set of its classes; a schema says which categories are
// multi-label in JSON only when some are, so schemas without them serialise as they always did.
TEST(LabelSchema, MultiLabelTargetsAreNonEmptySetsOfClasses) {
  LabelSchema schema;
  schema.classes = {{"color", {"red", "green", "blue"}}, {"colors", {"red", "green", "blue"}}};
  schema.multi_label = {"colors"};
  EXPECT_TRUE(schema.IsValidTarget("colors", 0b101));
  EXPECT_TRUE(schema.IsValidTarget("colors", 0b111));
  EXPECT_FALSE(schema.IsValidTarget("colors", 0));       // the empty set
  EXPECT_FALSE(schema.IsValidTarget("colors", 0b1000));  // a class it lacks
  EXPECT_FALSE(schema.IsValidTarget("colors", -1));
  EXPECT_TRUE(schema.IsValidTarget("color", 2));
  EXPECT_FALSE(schema.IsValidTarget("color", 3));
  EXPECT_FALSE(schema.IsValidTarget("size", 0));
  EXPECT_EQ(AllTargets(schema, {{"colors", 0b110}, {"color", 0b110}}),
            (std::map<std::string, int64_t>{{"color", -1}, {"colors", 0b110}}));
  EXPECT_EQ(schema.DescribeTargets("colors"),
            "a non-empty set of its 3 classes, bit k for class k: an integer in [1, 2^3)");
  EXPECT_EQ(schema.DescribeTargets("color"), "a class index in [0, 3)");

  EXPECT_EQ(schema.ToJson()["multi_label"], json::array({"colors"}));
  EXPECT_EQ(LabelSchema::FromJson(schema.ToJson()), schema);
  EXPECT_FALSE(testing::LabelledPixels::Schema().ToJson().contains("multi_label"));
  json unknown = schema.ToJson();
  unknown["multi_label"] = {"colours"};
  EXPECT_THROW_WITH(LabelSchema::FromJson(unknown), InputError,
                    "multi_label names 'colours', which is not one of its categories");
  json wide = schema.ToJson();
  wide["classes"]["colors"] = std::vector<std::string>(63, "c");
  EXPECT_THROW_WITH(LabelSchema::FromJson(wide), InputError, "'colors' has 63 classes",
                    "at most 62");
  json wrong_type = schema.ToJson();
  wrong_type["multi_label"] = "colors";
  EXPECT_THROW_WITH(LabelSchema::FromJson(wrong_type), InputError, "malformed label schema");
}

// A multi-label category is read as the classes the classifier is most sure of, as many as the
// target holds: right only when that set is the target's.
TEST(Accuracy, ReadsAMultiLabelCategoryAsItsMostLikelyClasses) {
  LabelSchema schema;
  schema.classes["colors"] = {"red", "green", "blue", "white"};
  schema.multi_label = {"colors"};
  AttributeClassifier classifier(schema, 4);
  {
    torch::NoGradGuard no_grad;
    for (auto& item : classifier->named_parameters()) item.value().zero_();
    auto params = classifier->named_parameters();
    // Most sure of green, then white, then red.
    params["head_colors.bias"][1] = 3.0f;
    params["head_colors.bias"][3] = 2.0f;
    params["head_colors.bias"][0] = 1.0f;
  }
  at::Tensor videos = at::zeros({6, 3, 2, 8, 8});
  std::vector<std::map<std::string, int64_t>> targets = {
      {{"colors", 0b1010}},  // green, white: right
      {{"colors", 0b0010}},  // green: right
      {{"colors", 0b1011}},  // red, green, white: right
      {{"colors", 0b0011}},  // red, green: wrong (white is likelier than red)
      {{"colors", 0b1100}},  // blue, white: wrong
      {{"colors", -1}}};     // not shown: not counted
  auto acc = Accuracy(classifier, videos, targets, {"colors"});
  EXPECT_DOUBLE_EQ(acc.at("colors"), 3.0 / 5);
  EXPECT_DOUBLE_EQ(acc.at("mean"), 3.0 / 5);
}

// Videos whose colour channels say which of three classes are present (+1 present, -1 absent):
// a multi-label category a classifier can learn exactly.
class TintedSets : public DataPipeline {
 public:
  static LabelSchema Schema() {
    LabelSchema schema;
    schema.classes = {{"tints", {"red", "green", "blue"}}};
    schema.multi_label = {"tints"};
    schema.stated_by = {{"short", {"tints"}}};
    return schema;
  }
  void Open() override {}
  int64_t size() const override { return 7; }
  Sample Get(int64_t index) override {
    const int64_t set = index + 1;  // every non-empty set of three classes
    Sample s;
    s.video = torch::empty({3, 2, 4, 4});
    for (int64_t c = 0; c < 3; ++c) s.video[c].fill_(((set >> c) & 1) ? 1.0f : -1.0f);
    s.captions["short"] = fmt::format("tints {}", set);
    s.height = s.width = 4;
    s.index = index;
    s.targets["tints"] = set;
    return s;
  }
  std::optional<LabelSchema> label_schema() const override { return Schema(); }
  std::string CacheKey() const override { return "tinted-sets"; }
};

TEST(AttributeClassifier, LearnsAMultiLabelCategory) {
  TempDir dir;
  auto data = std::make_shared<TintedSets>();
  ClassifierSpec t;
  t.steps = 150;
  t.batch_size = 7;
  t.width = 4;
  t.lr = 3e-2;
  AttributeClassifier classifier = TrainOrLoadClassifier({data}, t, dir / "c");
  std::vector<at::Tensor> videos;
  std::vector<std::map<std::string, int64_t>> targets;
  for (int64_t i = 0; i < data->size(); ++i) {
    Sample s = data->Get(i);
    videos.push_back(s.video);
    targets.push_back(s.targets);
  }
  EXPECT_DOUBLE_EQ(Accuracy(classifier, at::stack(videos), targets, {"tints"}).at("tints"), 1.0);
  // Untrained, it reads them at about chance.
  torch::manual_seed(0);
  AttributeClassifier untrained(TintedSets::Schema(), 4);
  EXPECT_LT(Accuracy(untrained, at::stack(videos), targets, {"tints"}).at("tints"), 1.0);
}

TEST_F(SyntheticTest, ClassifierTrainsOnceThenLoadsFromItsCache) {
  TempDir dir;
  auto data = Synthetic(registry_, "size = 16\nframes = 2\nheight = 16\nwidth = 16\n");
  ClassifierSpec t;
  t.steps = 3;
  t.batch_size = 4;
  t.width = 4;
  AttributeClassifier trained = TrainOrLoadClassifier({data}, t, dir / "c");
  EXPECT_TRUE(fs::exists(dir / "c" / "classifier.safetensors"));
  json meta = json::parse(ReadFile(dir / "c" / "classifier.json"));
  EXPECT_EQ(meta["steps"], 3);
  AttributeClassifier loaded = TrainOrLoadClassifier({data}, t, dir / "c");
  auto a = trained->named_parameters(), b = loaded->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& item : a) EXPECT_TRUE(torch::equal(item.value(), b[item.key()])) << item.key();
  at::Tensor video = data->Get(0).video.unsqueeze(0);
  EXPECT_TRUE(torch::equal(trained->Features(video), loaded->Features(video)));

  // Other settings: trained again (not the cached one), into the same folder.
  t.steps = 4;
  AttributeClassifier retrained = TrainOrLoadClassifier({data}, t, dir / "c");
  EXPECT_EQ(json::parse(ReadFile(dir / "c" / "classifier.json"))["steps"], 4);
  EXPECT_FALSE(torch::equal(retrained->Features(video), trained->Features(video)));

  // Data without labels cannot train it, nor can data of two schemas.
  EXPECT_THROW_WITH(
      TrainOrLoadClassifier({std::make_shared<testing::IndexedVideos>(8)}, t, dir / "d"),
      InputError, "declares no label schema");
  EXPECT_THROW_WITH(
      TrainOrLoadClassifier({data, std::make_shared<testing::LabelledPixels>()}, t, dir / "e"),
      InputError, "different label schemas");
}

// ---------------------------------------------------------------- EvaluateModel

TEST_F(SyntheticTest, EvaluateModelReportsEveryMetricDeterministically) {
  TempDir dir;
  auto heldout =
      Synthetic(registry_, "split = \"heldout\"\nsize = 4\nframes = 2\nheight = 16\nwidth = 16\n");
  ClassifierSpec t;
  t.steps = 2;
  t.batch_size = 4;
  t.width = 4;
  EvaluationSetup setup;
  setup.domains["base"] = heldout;
  setup.classifier = TrainOrLoadClassifier({heldout}, t, dir / "classifier");
  setup.spec.samples = 3;
  setup.spec.loss_samples = 2;
  setup.spec.sampling_steps = 2;
  setup.spec.loss_timesteps = {200, 800};
  setup.spec.grid_prompts = 2;
  setup.samples_dir = dir / "samples";
  setup.sample_prefix = "m_";
  STDiT3Config config = testing::TinyConfig();
  torch::manual_seed(0);
  STDiT3 model(config);
  TextEncoderCache text(std::make_shared<testing::HashedWords>());
  json first = EvaluateModel(*model, {&text}, setup);
  const json& m = first["metrics"];
  const LabelSchema schema = *heldout->label_schema();
  for (const char* kind : {"short", "detailed"}) {
    std::string k = kind;
    EXPECT_GT(m.value("loss/base/" + k, -1.0), 0) << m.dump();
    // The per-timestep losses average to the overall one (equal samples at each timestep).
    const double at_200 = m.value("loss_at/base/" + k + "/200", -1.0);
    const double at_800 = m.value("loss_at/base/" + k + "/800", -1.0);
    EXPECT_GT(at_200, 0) << m.dump();
    EXPECT_GT(at_800, 0) << m.dump();
    EXPECT_NEAR((at_200 + at_800) / 2, m.value("loss/base/" + k, -1.0), 1e-9);
    EXPECT_NE(at_200, at_800);
    EXPECT_GE(m.value("fd/base/" + k, -1.0), 0) << m.dump();
    for (const std::string& category : schema.stated_by.at(k)) {
      // The base domain's scenes have one object: none shows a set of colours, so none is scored.
      if (category == "colors") {
        EXPECT_FALSE(m.contains("acc/base/" + k + "/colors"));
        continue;
      }
      double acc = m.value("acc/base/" + k + "/" + category, -1.0);
      EXPECT_GE(acc, 0) << category;
      EXPECT_LE(acc, 1) << category;
    }
    EXPECT_TRUE(m.contains("acc/base/" + k + "/mean"));
  }
  for (const auto& [category, names] : schema.classes)
    EXPECT_EQ(m.contains("ceiling/base/" + category), category != "colors") << category;
  ASSERT_EQ(first["samples"].size(), 4u);  // 2 prompts x 2 kinds
  for (const json& s : first["samples"]) {
    GifImage gen = ReadGif(ReadFile(setup.samples_dir / s["generated"].get<std::string>()));
    EXPECT_EQ(gen.frames.size(), 2u);
    EXPECT_EQ(s["generated"].get<std::string>().rfind("m_base_", 0), 0u);
    EXPECT_TRUE(fs::exists(setup.samples_dir / s["real"].get<std::string>()));
  }
  json second = EvaluateModel(*model, {&text}, setup);
  EXPECT_EQ(first["metrics"], second["metrics"]);
}

// A data set core knows nothing about (the tests' moving bars, whose one category is the bar's
// direction) is evaluated through the schema it declares, like the synthetic world.
TEST(Evaluation, AnyLabelledDataIsScoredByItsOwnSchema) {
  TempDir dir;
  testing::MovingBars::Settings settings;
  settings.size = 8;
  settings.frames = 2;
  auto bars = std::make_shared<testing::MovingBars>(settings);
  ClassifierSpec t;
  t.steps = 2;
  t.batch_size = 4;
  t.width = 4;
  EvaluationSetup setup;
  setup.domains["bars"] = bars;
  setup.classifier = TrainOrLoadClassifier({bars}, t, dir / "classifier");
  EXPECT_EQ(setup.classifier->schema(), *bars->label_schema());
  setup.spec.samples = 2;
  setup.spec.loss_samples = 2;
  setup.spec.sampling_steps = 2;
  torch::manual_seed(0);
  STDiT3 model(testing::TinyConfig());
  TextEncoderCache text(std::make_shared<testing::HashedWords>());
  json m = EvaluateModel(*model, {&text}, setup)["metrics"];
  EXPECT_TRUE(m.contains("acc/bars/short/direction")) << m.dump();
  EXPECT_TRUE(m.contains("acc/bars/detailed/direction")) << m.dump();
  EXPECT_TRUE(m.contains("ceiling/bars/direction")) << m.dump();
}

// A classifier that misreads real videos gives every model the same poor score; evaluation says
// so instead of letting the table suggest a finding.
TEST(Evaluation, AClassifierTooWeakToJudgeIsNamed) {
  TempDir dir;
  testing::MovingBars::Settings settings;
  settings.size = 8;
  settings.frames = 2;
  auto bars = std::make_shared<testing::MovingBars>(settings);
  ClassifierSpec t;
  t.steps = 1;  // next to untrained
  t.batch_size = 4;
  t.width = 4;
  EvaluationSetup setup;
  setup.domains["bars"] = bars;
  setup.classifier = TrainOrLoadClassifier({bars}, t, dir / "classifier");
  setup.spec.samples = 2;
  setup.spec.loss_samples = 2;
  setup.spec.sampling_steps = 1;
  torch::manual_seed(0);
  STDiT3 model(testing::TinyConfig());
  TextEncoderCache text(std::make_shared<testing::HashedWords>());
  json result = EvaluateModel(*model, {&text}, setup);
  ASSERT_LT(result["metrics"]["ceiling/bars/direction"].get<double>(), 0.7) << result.dump();
  EXPECT_NE(result["notes"].dump().find("reads 'direction' correctly on only"), std::string::npos)
      << result["notes"].dump();
  EXPECT_NE(result["notes"].dump().find("train it longer"), std::string::npos);
}

// A manifest that asks for more held-out samples than the split holds gets the split's size; the
// counts actually used are in the notes, so a table's "64 videos" is never silently 8.
TEST(Evaluation, SaysWhenASplitHoldsFewerSamplesThanAskedFor) {
  testing::MovingBars::Settings settings;
  settings.size = 8;
  settings.frames = 2;
  auto bars = std::make_shared<testing::MovingBars>(settings);
  torch::manual_seed(0);
  STDiT3 model(testing::TinyConfig());
  TextEncoderCache text(std::make_shared<testing::HashedWords>());
  auto notes_for = [&](int64_t samples, int64_t loss_samples) {
    EvaluationSetup setup;
    setup.domains["bars"] = bars;
    setup.spec.samples = samples;
    setup.spec.loss_samples = loss_samples;
    setup.spec.sampling_steps = 1;
    return EvaluateModel(*model, {&text}, setup)["notes"].dump();
  };
  EXPECT_EQ(notes_for(0, 8).find("holds"), std::string::npos) << notes_for(0, 8);
  const std::string loss_only = notes_for(0, 20);
  EXPECT_NE(loss_only.find("domain 'bars' holds 8 samples, so the held-out loss is over 8 "
                           "(loss_samples = 20)"),
            std::string::npos)
      << loss_only;
  EXPECT_EQ(loss_only.find("generated"), std::string::npos) << loss_only;
  const std::string both = notes_for(12, 4);
  EXPECT_NE(
      both.find(
          "holds 8 samples, so at most 8 videos are generated per prompt kind (samples = 12)"),
      std::string::npos)
      << both;
  EXPECT_EQ(both.find("held-out loss"), std::string::npos) << both;
}

// Evaluation samples on the schedule the model was trained with: a timestep shift changes the
// videos it generates.
TEST(Evaluation, SamplesOnTheModelsOwnFlowSchedule) {
  TempDir dir;
  testing::MovingBars::Settings settings;
  settings.size = 4;
  settings.frames = 4;
  settings.height = settings.width = 16;
  auto bars = std::make_shared<testing::MovingBars>(settings);
  torch::manual_seed(0);
  STDiT3 model(testing::TinyConfig());
  TextEncoderCache text(std::make_shared<testing::HashedWords>());
  std::map<bool, std::string> gifs;
  for (bool shift : {false, true}) {
    EvaluationSetup setup;
    setup.domains["bars"] = bars;
    setup.spec.samples = 1;
    setup.spec.loss_samples = 0;
    setup.spec.sampling_steps = 4;
    setup.spec.grid_prompts = 1;
    setup.flow.use_timestep_transform = shift;
    ClassifierSpec t;
    t.steps = 1;
    t.batch_size = 4;
    t.width = 4;
    setup.classifier = TrainOrLoadClassifier({bars}, t, dir / "classifier");
    setup.samples_dir = dir / (shift ? "shift" : "plain");
    json result = EvaluateModel(*model, {&text}, setup);
    gifs[shift] =
        ReadFile(setup.samples_dir / result["samples"][0]["generated"].get<std::string>());
  }
  EXPECT_NE(gifs[false], gifs[true]);
}

}  // namespace
}  // namespace modelgrow
