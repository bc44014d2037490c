// The video-autoencoder conformance suite: what every VAE plugin must satisfy, run over every VAE
// plugin found (conformance_plugins.h) and each of its [[example]] tables, on small random clips.
//
// Suite key: test_options_error = "text" -- constructing must report a problem containing the
// text. String options that name something in the plugin's data folder ("${data}/...") are the
// example's weights: pointed at a missing folder, construction must still succeed and Load() fail.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "conformance/conformance_plugins.h"
#include "modelgrow/sdk/video_autoencoder.h"
#include "test_util.h"

namespace modelgrow::conformance {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

bool Runs(const Options& t) { return !t.Has("test_options_error"); }
bool Rejected(const Options& t) { return t.Has("test_options_error"); }

std::shared_ptr<VideoAutoencoder> Construct(const Example& example, const Options& options) {
  PluginContext context;
  context.options = options;
  return Plugins().MakeVideoAutoencoder(example.plugin.name, context);
}

std::shared_ptr<VideoAutoencoder> Loaded(const Example& example) {
  std::shared_ptr<VideoAutoencoder> vae = Construct(example, example.PluginOptions());
  vae->Load();
  return vae;
}

// A clip of `frames` frames, 2 x 3 latent pixels in size, in [-1, 1].
torch::Tensor Clip(const VideoAutoencoder& vae, int64_t batch, int64_t frames, uint64_t seed) {
  const int64_t f = vae.spatial_factor();
  at::Generator g = at::detail::createCPUGenerator(seed);
  return torch::rand({batch, 3, frames, 2 * f, 3 * f}, g, torch::TensorOptions()) * 2 - 1;
}

TEST(VaeConformance, FindsVaePlugins) { ExpectPluginsFound(PluginKind::kVae); }

class VaePlugin : public ::testing::TestWithParam<Plugin> {};

TEST_P(VaePlugin, DeclaresExamples) {
  ExpectUsableExamples(GetParam(), {"test_options_error"}, Runs);
}

INSTANTIATE_TEST_SUITE_P(Vae, VaePlugin, ::testing::ValuesIn(PluginsOf(PluginKind::kVae)),
                         PluginName);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(VaePlugin);

class VaeExample : public ::testing::TestWithParam<Example> {};

// Constructing reads the options only: pointed at weights that do not exist it succeeds, and
// Load() is what reports them, as an InputError.
TEST_P(VaeExample, ConstructsWithoutLoading) {
  ASSERT_NE(Construct(GetParam(), GetParam().PluginOptions()), nullptr);
  std::vector<std::string> paths = GetParam().DataKeys();
  if (paths.empty()) return;
  TempDir dir;
  Options options = GetParam().PluginOptions();
  for (const std::string& key : paths) {
    fs::path missing = dir / "missing" / fs::path(options.String(key, "")).filename();
    options.Set(key, "'" + missing.string() + "'");
  }
  std::shared_ptr<VideoAutoencoder> vae = Construct(GetParam(), options);
  ASSERT_NE(vae, nullptr);
  EXPECT_THROW(vae->Load(), InputError);
}

// Encode gives [B, latent_channels, LatentFrames(T), H / f, W / f] float32 and Decode gives the
// clip's shape back, for a short clip, a longer one and a single image.
TEST_P(VaeExample, EncodesAndDecodesToTheDeclaredShapes) {
  std::shared_ptr<VideoAutoencoder> vae = Loaded(GetParam());
  const int64_t f = vae->spatial_factor();
  ASSERT_GE(f, 1);
  ASSERT_GE(vae->latent_channels(), 1);
  for (int64_t frames : {int64_t{1}, int64_t{5}, int64_t{19}}) {
    SCOPED_TRACE(fmt::format("{} frames", frames));
    torch::Tensor clip = Clip(*vae, 2, frames, 1);
    torch::Tensor z = vae->Encode(clip, {});
    EXPECT_EQ(z.scalar_type(), torch::kFloat);
    EXPECT_EQ(z.sizes().vec(),
              (std::vector<int64_t>{2, vae->latent_channels(), vae->LatentFrames(frames), 2, 3}));
    EXPECT_TRUE(torch::isfinite(z).all().item<bool>());
    torch::Tensor x = vae->Decode(z, frames);
    EXPECT_EQ(x.scalar_type(), torch::kFloat);
    EXPECT_EQ(x.sizes().vec(), clip.sizes().vec());
    EXPECT_TRUE(torch::isfinite(x).all().item<bool>());
  }
  EXPECT_GE(vae->LatentFrames(2), vae->LatentFrames(1));
}

// The mean path gives the same latents every time; a sampled encoding is a function of its seed;
// batch items are encoded independently of each other.
TEST_P(VaeExample, IsDeterministic) {
  std::shared_ptr<VideoAutoencoder> vae = Loaded(GetParam());
  torch::Tensor clip = Clip(*vae, 2, 5, 2);
  torch::Tensor mean = vae->Encode(clip, {});
  EXPECT_TRUE(torch::equal(mean, Loaded(GetParam())->Encode(clip, {})));
  VaeEncodeOptions a{.sample = true, .seed = 3}, b{.sample = true, .seed = 4};
  torch::Tensor sampled = vae->Encode(clip, a);
  EXPECT_TRUE(torch::equal(sampled, vae->Encode(clip, a)));
  EXPECT_FALSE(torch::equal(sampled, vae->Encode(clip, b)));
  torch::Tensor alone = vae->Encode(clip.slice(0, 1, 2), {});
  EXPECT_LE(testing::MaxRelError(alone, mean.slice(0, 1, 2)), 1e-5);
  torch::Tensor z = mean;
  EXPECT_TRUE(torch::equal(vae->Decode(z, 5), vae->Decode(z, 5)));
}

// A VAE refuses what it cannot take with an InputError, never a crash: latents of the wrong
// channel count, and a frame count its latents cannot stand for.
TEST_P(VaeExample, RefusesMismatchedLatents) {
  std::shared_ptr<VideoAutoencoder> vae = Loaded(GetParam());
  const int64_t c = vae->latent_channels();
  EXPECT_THROW(vae->Decode(torch::zeros({1, c + 1, vae->LatentFrames(5), 2, 3}), 5), InputError);
  EXPECT_THROW(vae->Encode(torch::zeros({1, 3, 2}), {}), InputError);
}

TEST_P(VaeExample, CacheKeyIsStable) {
  std::string key = Loaded(GetParam())->CacheKey();
  EXPECT_FALSE(key.empty());
  EXPECT_EQ(Loaded(GetParam())->CacheKey(), key);
}

INSTANTIATE_TEST_SUITE_P(Vae, VaeExample, ::testing::ValuesIn(ExamplesOf(PluginKind::kVae, Runs)),
                         ExampleName);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(VaeExample);

class VaeOptionsRefusal : public ::testing::TestWithParam<Example> {};

TEST_P(VaeOptionsRefusal, ConstructionReportsTheDeclaredProblem) {
  const std::string expected = GetParam().TestString("test_options_error");
  EXPECT_THROW_WITH(Construct(GetParam(), GetParam().PluginOptions()), ValidationError,
                    expected.c_str());
}

INSTANTIATE_TEST_SUITE_P(Vae, VaeOptionsRefusal,
                         ::testing::ValuesIn(ExamplesOf(PluginKind::kVae, Rejected)), ExampleName);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(VaeOptionsRefusal);

}  // namespace
}  // namespace modelgrow::conformance
