// Parity of the Open-Sora VAE with the reference code (Open-Sora v1.2.0 + diffusers v0.27.2) on
// random weights at small widths (goldens: scripts/goldens/make_vae_goldens.py), and its errors.
#include <fstream>
#include <iostream>

#include <fmt/format.h>
#include <torch/torch.h>

#include "modelgrow/sdk/safetensors.h"
#include "opensora_vae.h"
#include "test_paths.h"
#include "test_util.h"

namespace modelgrow::vae {
namespace {

using ::modelgrow::testing::MaxAbsError;
using ::modelgrow::testing::MaxRelError;
using ::modelgrow::testing::TempDir;
namespace fs = std::filesystem;

// The reference moves by ~1e-5 between float32 and float64 (docs/vae.md): latents are compared at
// 2e-5 of their scale, decoded frames at 5e-5.
constexpr double kLatentTolerance = 2e-5;
constexpr double kFrameTolerance = 5e-5;

fs::path TestData(const std::string& name) {
  return fs::path(MODELGROW_SOURCE_DIR) / "datasets" / "opensora_vae" / "testdata" / name;
}

const SafetensorsFile& Goldens() {
  static const SafetensorsFile file =
      SafetensorsFile::Open(::modelgrow::testing::Fixture("reference/opensora_vae_io.safetensors"));
  return file;
}

torch::Tensor Golden(const std::string& key) { return Goldens().Get(key, torch::kFloat); }

// The error relative to the golden's scale, printed with the absolute one: the log says how close
// the parity is, not only that it holds.
double Error(const std::string& key, const torch::Tensor& got) {
  torch::Tensor expected = Golden(key);
  const double rel = MaxRelError(got, expected);
  std::cout << fmt::format("{}: max abs error {:.3g} (scale {:.3g}: {:.3g} of it)\n", key,
                           MaxAbsError(got, expected), expected.abs().max().item<double>(), rel);
  return rel;
}

std::unique_ptr<OpenSoraVae> MakeVae(const fs::path& folder, const std::string& extra = "") {
  PluginContext context;
  context.options =
      Options::ParseString(fmt::format("path = \"{}\"\n{}", folder.string(), extra), "test");
  auto vae = std::make_unique<OpenSoraVae>(context);
  context.options.ThrowIfProblems();
  vae->Load();
  return vae;
}

OpenSoraVae& Tiny() {
  static std::unique_ptr<OpenSoraVae> vae = MakeVae(TestData("opensora_vae_tiny"));
  return *vae;
}

TEST(OpenSoraVaeParity, SpatialEncoderMatchesReferenceInMicroBatches) {
  VaeEncodeOptions mean;
  OpenSoraVae::Draws draws{&mean};
  torch::NoGradGuard no_grad;
  torch::Tensor z = Tiny().SpatialEncode(Golden("spatial.x"), draws);
  EXPECT_LE(Error("spatial.z", z), kLatentTolerance);
  EXPECT_EQ(draws.spatial, 3);  // 5 frames in micro-batches of 2
}

TEST(OpenSoraVaeParity, SpatialDecoderMatchesReference) {
  torch::NoGradGuard no_grad;
  torch::Tensor x = Tiny().SpatialDecode(Golden("spatial.z_in"));
  EXPECT_LE(Error("spatial.decoded", x), kFrameTolerance);
}

TEST(OpenSoraVaeParity, TemporalEncoderAndDecoderMatchReferenceForEveryPadding) {
  torch::NoGradGuard no_grad;
  VaeEncodeOptions mean;
  for (int t : {17, 10, 8, 1}) {
    SCOPED_TRACE(fmt::format("{} frames", t));
    OpenSoraVae::Draws draws{&mean};
    torch::Tensor z = Tiny().TemporalEncode(Golden(fmt::format("temporal.{}.x", t)), draws);
    ASSERT_EQ(z.sizes(), Golden(fmt::format("temporal.{}.z", t)).sizes());
    EXPECT_LE(Error(fmt::format("temporal.{}.z", t), z), kLatentTolerance);
    torch::Tensor x = Tiny().TemporalDecode(Golden(fmt::format("temporal.{}.z_in", t)), t);
    ASSERT_EQ(x.sizes(), Golden(fmt::format("temporal.{}.decoded", t)).sizes());
    EXPECT_LE(Error(fmt::format("temporal.{}.decoded", t), x), kFrameTolerance);
  }
}

TEST(OpenSoraVaeParity, PipelineMatchesReferenceOnClipsAndAnImage) {
  for (int t : {17, 24, 34, 1}) {
    SCOPED_TRACE(fmt::format("{} frames", t));
    torch::Tensor z = Tiny().Encode(Golden(fmt::format("pipeline.{}.x", t)), {});
    torch::Tensor expected = Golden(fmt::format("pipeline.{}.z", t));
    ASSERT_EQ(z.sizes(), expected.sizes());
    EXPECT_EQ(z.size(2), Tiny().LatentFrames(t));
    EXPECT_LE(Error(fmt::format("pipeline.{}.z", t), z), kLatentTolerance);
    // Decoding the reference's own latents isolates the decoder.
    torch::Tensor x = Tiny().Decode(expected, t);
    ASSERT_EQ(x.sizes(), Golden(fmt::format("pipeline.{}.decoded", t)).sizes());
    EXPECT_LE(Error(fmt::format("pipeline.{}.decoded", t), x), kFrameTolerance);
  }
}

TEST(OpenSoraVaeParity, SampledPathMatchesReferenceWithItsNoise) {
  VaeEncodeOptions options;
  options.sample = true;
  std::vector<std::string> asked;
  options.noise = [&](const VaeNoiseRequest& r) {
    asked.push_back(fmt::format("{}.{}", r.stage, r.draw));
    return Golden(fmt::format("sampled.24.noise.{}.{}", r.stage, r.draw));
  };
  torch::Tensor z = Tiny().Encode(Golden("pipeline.24.x"), options);
  EXPECT_LE(Error("sampled.24.z", z), kLatentTolerance);
  ASSERT_EQ(asked.size(), 26u);  // 48 frames in micro-batches of 2, then 2 chunks of 17 frames
  EXPECT_EQ(asked.front(), "spatial.0");
  EXPECT_EQ(asked.back(), "temporal.1");
  // The sampled latents really differ from the mean.
  EXPECT_GT(MaxRelError(z, Golden("pipeline.24.z")), 1e-3);
}

TEST(OpenSoraVaeParity, PlainAutoencoderKLFolderRunsFrameByFrameWithItsScalingFactor) {
  auto kl = MakeVae(TestData("autoencoder_kl_tiny"));
  EXPECT_EQ(kl->LatentFrames(7), 7);
  EXPECT_EQ(kl->latent_channels(), 4);
  torch::Tensor z = kl->Encode(Golden("kl.x"), {});
  EXPECT_LE(Error("kl.z", z), kLatentTolerance);
  torch::Tensor x = kl->Decode(Golden("kl.z"), 3);
  EXPECT_LE(Error("kl.decoded", x), kFrameTolerance);
}

TEST(OpenSoraVae, LatentFramesFollowTheChunking) {
  for (int64_t t = 1; t <= 70; ++t) {
    EXPECT_EQ(Tiny().LatentFrames(t), 5 * (t / 17) + (t % 17 + 3) / 4) << t;
  }
  EXPECT_EQ(Tiny().spatial_factor(), 8);
  EXPECT_EQ(Tiny().latent_channels(), 4);
}

TEST(OpenSoraVae, SeededSamplingIsReproducibleAndTheMeanIsDeterministic) {
  torch::Tensor x = Golden("pipeline.17.x");
  VaeEncodeOptions a{.sample = true, .seed = 7}, b{.sample = true, .seed = 8};
  torch::Tensor za = Tiny().Encode(x, a);
  EXPECT_TRUE(torch::equal(za, Tiny().Encode(x, a)));
  EXPECT_FALSE(torch::allclose(za, Tiny().Encode(x, b)));
  EXPECT_TRUE(torch::equal(Tiny().Encode(x, {}), Tiny().Encode(x, {})));
}

// bf16 keeps 8 bits of mantissa (~0.4 % per rounding) and the tiny random-weight nets amplify it
// more than trained ones: measured ~3 % on latents and ~6 % on frames of the output scale here.
// The bounds catch a wrong cast (a float16 overflow, a layer left in another dtype), and the
// lower bound that bf16 really ran.
TEST(OpenSoraVae, Bfloat16StaysCloseToFloat32) {
  auto bf16 = MakeVae(TestData("opensora_vae_tiny"), "dtype = \"bfloat16\"");
  torch::Tensor x = Golden("pipeline.17.x");
  torch::Tensor z = bf16->Encode(x, {});
  EXPECT_EQ(z.scalar_type(), torch::kFloat);
  const double latent_error = Error("pipeline.17.z", z);
  EXPECT_LE(latent_error, 0.1);
  EXPECT_GT(latent_error, 1e-4);
  torch::Tensor decoded = bf16->Decode(Golden("pipeline.17.z"), 17);
  EXPECT_EQ(decoded.scalar_type(), torch::kFloat);
  EXPECT_LE(Error("pipeline.17.decoded", decoded), 0.15);
}

TEST(OpenSoraVaeErrors, ConstructionReadsNothingAndLoadNamesTheMissingFolder) {
  PluginContext context;
  context.options = Options::ParseString("path = \"/nonexistent/vae\"", "test");
  OpenSoraVae vae(context);
  EXPECT_FALSE(context.options.HasProblems());
  EXPECT_THROW_WITH(vae.Load(), InputError, "/nonexistent/vae");
}

TEST(OpenSoraVaeErrors, MissingAndMisshapenTensorsAreNamedAllAtOnce) {
  TempDir dir;
  fs::path folder = dir / "broken";
  fs::create_directories(folder);
  fs::copy_file(TestData("opensora_vae_tiny") / "config.json", folder / "config.json");
  SafetensorsFile original =
      SafetensorsFile::Open(TestData("opensora_vae_tiny") / "model.safetensors");
  NamedTensors kept;
  for (const std::string& key : original.Keys()) {
    if (key == "spatial_vae.module.encoder.conv_in.weight" ||
        key == "temporal_vae.decoder.conv_out.conv.bias")
      continue;
    torch::Tensor t = original.Get(key);
    if (key == "temporal_vae.encoder.conv_in.conv.weight") t = t.narrow(0, 0, 2).contiguous();
    kept.emplace_back(key, t);
  }
  WriteSafetensors(folder / "model.safetensors", kept);
  auto load = [&] { MakeVae(folder); };
  EXPECT_THROW_WITH(load(), InputError, "3 tensors",
                    "spatial_vae.module.encoder.conv_in.weight: missing",
                    "temporal_vae.decoder.conv_out.conv.bias: missing",
                    "temporal_vae.encoder.conv_in.conv.weight: [2, 4, 3, 3, 3] in the file, "
                    "[4, 4, 3, 3, 3] expected");
}

TEST(OpenSoraVaeErrors, UnknownLayoutsAndArchitecturesAreNamed) {
  TempDir dir;
  auto write = [&](const std::string& name, const std::string& config) {
    fs::create_directories(dir / name);
    std::ofstream(dir / name / "config.json") << config;
    return dir / name;
  };
  EXPECT_THROW_WITH(MakeVae(write("other", R"({"model_type": "t5"})")), InputError,
                    "neither Open-Sora's VAE", "model_type \"t5\"");
  EXPECT_THROW_WITH(MakeVae(write("hub", R"({"model_type": "VideoAutoencoderPipeline",
        "vae_2d": {"type": "VideoAutoencoderKL", "from_pretrained": "someone/other-vae"},
        "vae_temporal": {"type": "VAE_Temporal_SD"}})")),
                    InputError, "someone/other-vae", "vae_2d.autoencoder_kl");
  EXPECT_THROW_WITH(MakeVae(write("temporal", R"({"model_type": "VideoAutoencoderPipeline",
        "vae_2d": {"type": "VideoAutoencoderKL", "from_pretrained": "stabilityai/sdxl-vae"},
        "vae_temporal": {"type": "MagvitV2"}})")),
                    InputError, "vae_temporal", "MagvitV2");
  EXPECT_THROW_WITH(MakeVae(write("kl", R"({"_class_name": "AutoencoderKL",
        "down_block_types": ["DownEncoderBlock2D", "AttnDownEncoderBlock2D"],
        "block_out_channels": [8, 16], "norm_num_groups": 4})")),
                    InputError, "AttnDownEncoderBlock2D");
}

TEST(OpenSoraVaeErrors, ShapesItCannotEncodeOrDecodeAreExplained) {
  EXPECT_THROW_WITH(Tiny().Encode(torch::zeros({1, 3, 4, 20, 24}), {}), InputError, "20x24",
                    "not divisible by 8", "--fit");
  EXPECT_THROW_WITH(Tiny().Encode(torch::zeros({3, 4, 16, 24}), {}), InputError, "[3, 4, 16, 24]");
  EXPECT_THROW_WITH(Tiny().Decode(torch::zeros({1, 4, 7, 2, 3}), 17), InputError,
                    "7 latent frames do not decode to 17 frames", "clips of 22-25 frames");
  EXPECT_THROW_WITH(Tiny().Decode(torch::zeros({1, 3, 5, 2, 3}), 17), InputError,
                    "[B, 4, T', h, w]");
}

}  // namespace
}  // namespace modelgrow::vae
