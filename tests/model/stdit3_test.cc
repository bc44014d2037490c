// STDiT3 behaviour beyond reference parity: sizes, checkpoints, conditions, precision,
// activation checkpointing, rectified flow training and sampling.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "modelgrow/diffusion/rectified_flow.h"
#include "modelgrow/io/checkpoint.h"
#include "modelgrow/model/embedders.h"
#include "modelgrow/model/precision.h"
#include "modelgrow/model/stdit3.h"
#include "test_util.h"

namespace modelgrow {
namespace {

using testing::MaxAbsError;
using testing::MaxRelError;
using testing::TempDir;

STDiT3Config TinyConfig() {
  STDiT3Config c = PresetConfig("STDiT3-T/2");
  c.caption_channels = 24;
  c.model_max_length = 6;
  return c;
}

ModelInput TinyInput(const STDiT3Config& c, int64_t batch = 2, uint64_t seed = 7) {
  torch::manual_seed(seed);
  ModelInput in;
  in.x = torch::randn({batch, c.in_channels, 3, 6, 5});
  in.timestep = torch::tensor({700.0f, 50.0f}).slice(0, 0, batch);
  in.fps = torch::full({batch}, 24.0f);
  TextInput text{torch::randn({batch, c.model_max_length, c.caption_channels}),
                 torch::ones({batch, c.model_max_length}, torch::kBool)};
  text.mask.index_put_({0, torch::indexing::Slice(3, torch::indexing::None)}, false);
  in.text = {text};
  for (const auto& spec : c.extra_conditions) {
    in.text.push_back({torch::randn({batch, spec.token_num, spec.caption_channels}), {}});
  }
  return in;
}

// Open-Sora's own count for one XL block: 16C^2 + 19C + 144 (stdit3.md).
TEST(STDiT3, OneXLBlockHasTheReferenceParameterCount) {
  STDiT3Config xl = PresetConfig("STDiT3-XL/2");
  STDiT3Block block(BlockSpec{xl.hidden_size, xl.num_heads, xl.resolved_head_dim(),
                              xl.resolved_mlp_hidden(), xl.qk_norm, false, 1});
  int64_t n = 0;
  for (const auto& p : block->parameters()) n += p.numel();
  EXPECT_EQ(n, 21'255'696);
}

TEST(STDiT3, SmallPresetsAreAFewHundredThousandToAFewMillionParameters) {
  for (const char* name : {"STDiT3-T/2", "STDiT3-S/2", "STDiT3-M/2"}) {
    STDiT3 model(PresetConfig(name));
    EXPECT_GE(model->NumParameters(), 200'000) << name;
    EXPECT_LE(model->NumParameters(), 10'000'000) << name;
  }
}

TEST(STDiT3, TemporalBlocksStartAsIdentity) {
  STDiT3 model(TinyConfig());
  model->eval();
  torch::NoGradGuard no_grad;
  int checked = 0;
  model->set_block_observer(
      [&](const BlockRef& ref, const torch::Tensor& in, const torch::Tensor& out) {
        if (!ref.temporal) return;
        EXPECT_TRUE(torch::equal(in, out));
        ++checked;
      });
  model->forward(TinyInput(model->config()));
  EXPECT_EQ(checked, 2);
}

// A video whose frames are all the same (as pure noise is, in distribution) gives the same output
// in every frame under rotary attention alone, whatever the weights: a caption's direction of
// motion cannot shape the first sampling step. The frame-index embedding is what tells the frames
// apart.
TEST(STDiT3, OnlyTheTemporalPositionEmbeddingTellsIdenticalFramesApart) {
  for (bool frame_embedding : {false, true}) {
    STDiT3Config config = TinyConfig();
    config.temporal_pos_embed = frame_embedding;
    STDiT3 model(config);
    model->eval();
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters()) p.add_(torch::randn_like(p) * 0.2);  // non-identity blocks
    ModelInput in = TinyInput(model->config());
    in.x = in.x.select(2, 0).unsqueeze(2).repeat({1, 1, 4, 1, 1});
    torch::Tensor out = model->forward(in);
    // Relative to the output's size; without the embedding only rounding separates the frames.
    double spread = (out - out.select(2, 0).unsqueeze(2)).abs().max().item<double>() /
                    out.abs().max().item<double>();
    if (frame_embedding) {
      EXPECT_GT(spread, 1e-2);
    } else {
      EXPECT_LT(spread, 1e-4);
    }
  }
}

TEST(STDiT3, TemporalPositionEmbeddingIsOpenSoraOnesSinCosAndRoundTrips) {
  torch::Tensor e = PositionEmbedding1D(8, 3, torch::kFloat);
  ASSERT_EQ(e.sizes(), (std::vector<int64_t>{3, 8}));
  // Position 2, frequency index 1 of 4: 1 / 10000^(1/4) = 0.1.
  EXPECT_NEAR(e[2][1].item<double>(), std::sin(0.2), 1e-6);
  EXPECT_NEAR(e[2][5].item<double>(), std::cos(0.2), 1e-6);
  EXPECT_NEAR(e[0][4].item<double>(), 1.0, 1e-6);

  STDiT3Config config = TinyConfig();
  EXPECT_FALSE(config.ToJson().contains("modelgrow_temporal_pos_embed"));  // Open-Sora's keys only
  config.temporal_pos_embed = true;
  EXPECT_EQ(config.ToJson()["modelgrow_temporal_pos_embed"], true);
  EXPECT_EQ(STDiT3Config::FromJson(config.ToJson(), "config.json"), config);

  TempDir dir;
  STDiT3 model(config);
  model->eval();
  SaveModel(dir / "ckpt", *model, DescribeModel(*model));
  LoadedModel loaded = LoadModel(dir / "ckpt");
  loaded.model->eval();
  EXPECT_TRUE(loaded.model->config().temporal_pos_embed);
  torch::NoGradGuard no_grad;
  ModelInput in = TinyInput(config);
  EXPECT_TRUE(torch::equal(model->forward(in), loaded.model->forward(in)));
}

TEST(STDiT3, SaveLoadRoundTripIsBitExact) {
  TempDir dir;
  STDiT3 model(TinyConfig());
  {
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters()) p.add_(torch::randn_like(p) * 0.1);
  }
  model->eval();
  SaveModel(dir / "ckpt", *model, DescribeModel(*model));
  LoadedModel loaded = LoadModel(dir / "ckpt");
  loaded.model->eval();
  EXPECT_EQ(loaded.model->config(), model->config());
  auto a = model->StateDict(), b = loaded.model->StateDict();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
  }
  torch::NoGradGuard no_grad;
  ModelInput in = TinyInput(model->config());
  EXPECT_TRUE(torch::equal(model->forward(in), loaded.model->forward(in)));
}

TEST(STDiT3, ShardedAndBf16CheckpointsLoad) {
  TempDir dir;
  STDiT3 model(TinyConfig());
  SaveOptions options;
  options.max_shard_bytes = 200'000;
  options.dtype = torch::kBFloat16;
  SaveModel(dir / "ckpt", *model, DescribeModel(*model), options);
  EXPECT_TRUE(std::filesystem::exists(dir / "ckpt" / "model.safetensors.index.json"));
  LoadedModel loaded = LoadModel(dir / "ckpt");
  auto a = model->StateDict(), b = loaded.model->StateDict();
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(torch::equal(a[i].second.to(torch::kBFloat16).to(torch::kFloat), b[i].second))
        << a[i].first;
  }
}

TEST(STDiT3, ModelWithMoreBlocksSavesWithNewDepthAndRenumberedKeys) {
  TempDir dir;
  STDiT3 model(TinyConfig());
  auto spatial = model->spatial_blocks();
  auto temporal = model->temporal_blocks();
  spatial.insert(spatial.begin() + 1, spatial[0]->Copy());
  temporal.insert(temporal.begin() + 1, temporal[0]->Copy());
  model->SetBlocks(spatial, temporal, {});
  EXPECT_EQ(model->config().depth, 3);
  SaveModel(dir / "grown", *model, DescribeModel(*model));
  LoadedModel loaded = LoadModel(dir / "grown");
  EXPECT_EQ(loaded.model->config().depth, 3);
  EXPECT_TRUE(torch::equal(loaded.model->named_parameters()["spatial_blocks.1.attn.qkv.weight"],
                           model->spatial_blocks()[0]->attn->qkv->weight));
  EXPECT_TRUE(loaded.model->named_parameters().contains("temporal_blocks.2.mlp.fc2.weight"));
}

TEST(STDiT3, UnevenListsRecordTheirOrder) {
  TempDir dir;
  STDiT3 model(TinyConfig());
  auto spatial = model->spatial_blocks();
  spatial.push_back(spatial.back()->Copy());
  std::vector<BlockRef> order = {{false, 0}, {true, 0}, {false, 1}, {true, 1}, {false, 2}};
  model->SetBlocks(spatial, model->temporal_blocks(), order);
  SaveModel(dir / "uneven", *model, DescribeModel(*model));
  LoadedModel loaded = LoadModel(dir / "uneven");
  EXPECT_EQ(loaded.model->config().ResolvedOrder(), order);
  torch::NoGradGuard no_grad;
  model->eval();
  loaded.model->eval();
  ModelInput in = TinyInput(model->config());
  EXPECT_TRUE(torch::equal(model->forward(in), loaded.model->forward(in)));
}

TEST(STDiT3, AddedTextConditionKeepsTheFunctionAndHasDocumentedKeys) {
  STDiT3 model(TinyConfig());
  model->eval();
  torch::NoGradGuard no_grad;
  ModelInput in = TinyInput(model->config());
  torch::Tensor before = model->forward(in);
  int64_t k = model->AddTextCondition({"llm", 40, 9});
  EXPECT_EQ(k, 1);
  auto params = model->named_parameters();
  EXPECT_TRUE(params.contains("y_embedder_1.y_proj.fc1.weight"));
  EXPECT_TRUE(params.contains("spatial_blocks.0.cross_attn_1.kv_linear.weight"));
  EXPECT_TRUE(model->named_buffers().contains("y_embedder_1.y_embedding"));
  in.text.push_back({torch::randn({2, 9, 40}), {}});
  EXPECT_TRUE(torch::equal(model->forward(in), before));
}

TEST(STDiT3, MissingUnknownAndMisshapenKeysAreNamed) {
  TempDir dir;
  STDiT3 model(TinyConfig());
  SaveModel(dir / "ckpt", *model, DescribeModel(*model));
  NamedTensors tensors = model->StateDict();
  tensors.erase(tensors.begin() + 3);
  std::string dropped = model->StateDict()[3].first;
  tensors.emplace_back("spatial_blocks.0.extra.weight", torch::zeros({2}));
  WriteSafetensors(dir / "ckpt" / "model.safetensors", tensors);
  EXPECT_THROW_WITH(LoadModel(dir / "ckpt"), InputError, "missing 1", dropped.c_str(), "unknown 1",
                    "spatial_blocks.0.extra.weight");

  tensors = model->StateDict();
  tensors[5].second = torch::zeros({3, 3});
  WriteSafetensors(dir / "ckpt" / "model.safetensors", tensors);
  EXPECT_THROW_WITH(LoadModel(dir / "ckpt"), InputError, tensors[5].first.c_str(), "[3, 3]");
}

TEST(STDiT3, CorruptCheckpointsAreClearErrors) {
  TempDir dir;
  STDiT3 model(TinyConfig());
  SaveModel(dir / "ckpt", *model, DescribeModel(*model));
  std::filesystem::resize_file(dir / "ckpt" / "model.safetensors", 5000);
  EXPECT_THROW_WITH(LoadModel(dir / "ckpt"), InputError, "model.safetensors", "truncated");
  std::filesystem::remove(dir / "ckpt" / "config.json");
  EXPECT_THROW_WITH(LoadModel(dir / "ckpt"), InputError, "config.json", "missing");
  EXPECT_THROW_WITH(LoadModel(dir / "nowhere"), InputError, "no such checkpoint folder");
}

TEST(STDiT3, Bf16ComputeIsWithinBf16ToleranceOfFp32) {
  STDiT3 model(TinyConfig());
  model->eval();
  torch::NoGradGuard no_grad;
  ModelInput in = TinyInput(model->config());
  torch::Tensor fp32 = model->forward(in);
  torch::Tensor bf16;
  {
    PrecisionScope scope(torch::kBFloat16);
    bf16 = model->forward(in);
  }
  EXPECT_EQ(bf16.scalar_type(), torch::kFloat);
  double err = MaxRelError(bf16, fp32);
  EXPECT_GT(err, 0);     // it really ran in bf16
  EXPECT_LT(err, 3e-2);  // bf16 keeps 8 bits of mantissa
}

TEST(STDiT3, ActivationCheckpointingGivesTheSameGradients) {
  STDiT3 model(TinyConfig());
  {
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters()) p.add_(torch::randn_like(p) * 0.05);
  }
  ModelInput in = TinyInput(model->config());
  auto grads = [&](bool checkpointing) {
    model->zero_grad();
    model->set_activation_checkpointing(checkpointing);
    model->forward(in).pow(2).mean().backward();
    std::vector<torch::Tensor> g;
    for (const auto& p : model->parameters()) g.push_back(p.grad().clone());
    return g;
  };
  auto plain = grads(false), checkpointed = grads(true);
  ASSERT_EQ(plain.size(), checkpointed.size());
  for (size_t i = 0; i < plain.size(); ++i) {
    EXPECT_LT(MaxAbsError(plain[i], checkpointed[i]), 1e-6) << i;
  }
}

TEST(STDiT3, CaptionWithNoValidTokenGivesFiniteOutputAndGradients) {
  STDiT3 model(TinyConfig());
  ModelInput in = TinyInput(model->config());
  in.text[0].mask.index_put_({1}, false);
  torch::Tensor out = model->forward(in);
  out.pow(2).mean().backward();
  EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
  for (const auto& p : model->parameters()) {
    if (p.grad().defined()) EXPECT_TRUE(torch::isfinite(p.grad()).all().item<bool>());
  }
}

TEST(RectifiedFlow, ShiftNeverCollapsesShortClips) {
  RectifiedFlowConfig c;
  c.use_timestep_transform = true;
  RectifiedFlow rf(c);
  torch::Tensor t = torch::tensor({500.0f});
  // Upstream's num_frames // 17 * 5 makes this 0 for a 5-frame clip; here it is the formula.
  torch::Tensor shifted = rf.TransformTimesteps(t, 256, 256, 5);
  double r = std::sqrt(256.0 * 256 / (512.0 * 512)) * std::sqrt(5.0);
  EXPECT_NEAR(shifted.item<double>(), r * 0.5 / (1 + (r - 1) * 0.5) * 1000, 1e-3);
  EXPECT_GT(shifted.item<double>(), 0);
}

TEST(RectifiedFlow, LogitNormalTimestepsAreSeededAndInRange) {
  RectifiedFlow rf;
  at::Generator g1 = at::detail::createCPUGenerator(3), g2 = at::detail::createCPUGenerator(3);
  torch::Tensor a = rf.SampleTimesteps(1000, 32, 32, 8, g1);
  torch::Tensor b = rf.SampleTimesteps(1000, 32, 32, 8, g2);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_GT(a.min().item<double>(), 0);
  EXPECT_LT(a.max().item<double>(), 1000);
  EXPECT_NEAR(a.mean().item<double>(), 500, 30);  // sigmoid(N(0,1)) is symmetric about 1/2
}

TEST(RectifiedFlow, FrameMaskedLossCountsOnlyNoisedFrames) {
  STDiT3 model(TinyConfig());
  RectifiedFlow rf;
  ModelInput in = TinyInput(model->config());
  torch::Tensor noise = torch::randn_like(in.x);
  torch::Tensor t = torch::tensor({400.0f, 800.0f});
  torch::Tensor mask = torch::tensor({{true, false, true}, {true, true, true}});
  torch::Tensor loss = rf.TrainingLoss(*model, in, noise, t, mask);
  // By hand: the model sees frame 1 of sample 0 clean and at timestep 0, and it is not scored.
  torch::Tensor x_t = rf.AddNoise(in.x, noise, t);
  x_t.index_put_({0, torch::indexing::Slice(), 1}, in.x.index({0, torch::indexing::Slice(), 1}));
  ModelInput manual = in;
  manual.x = x_t;
  manual.timestep = t;
  manual.x_mask = mask;
  torch::Tensor err = (model->forward(manual) - (in.x - noise)).pow(2);
  double sample0 = (err[0].index({torch::indexing::Slice(), 0}).sum() +
                    err[0].index({torch::indexing::Slice(), 2}).sum())
                       .item<double>() /
                   (2.0 * 3 * 6 * 5);
  EXPECT_NEAR(loss[0].item<double>(), sample0, 1e-5 * sample0);
  EXPECT_NEAR(loss[1].item<double>(), err[1].mean().item<double>(), 1e-5);
}

TEST(RectifiedFlow, TinyModelOverfitsOneBatch) {
  torch::manual_seed(0);
  STDiT3 model(TinyConfig());
  RectifiedFlow rf;
  ModelInput in = TinyInput(model->config());
  torch::Tensor noise = torch::randn_like(in.x);
  torch::Tensor t = torch::tensor({300.0f, 600.0f});
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(3e-3));
  double first = 0, last = 0;
  for (int step = 0; step < 300; ++step) {
    torch::Tensor loss = rf.TrainingLoss(*model, in, noise, t).mean();
    if (step == 0) first = loss.item<double>();
    last = loss.item<double>();
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  EXPECT_LT(last, first / 10) << "first " << first << " last " << last;
}

TEST(RectifiedFlow, SamplingWithOneSeedIsDeterministicAndUsesGuidance) {
  STDiT3 model(TinyConfig());
  model->eval();
  RectifiedFlowConfig c;
  c.num_sampling_steps = 4;
  RectifiedFlow rf(c);
  ModelInput in = TinyInput(model->config());
  torch::NoGradGuard no_grad;
  auto sample = [&](uint64_t seed, double cfg) {
    RectifiedFlowConfig cc = c;
    cc.cfg_scale = cfg;
    at::Generator g = at::detail::createCPUGenerator(seed);
    torch::Tensor z = at::randn({2, 3, 3, 6, 5}, g, at::TensorOptions());
    return RectifiedFlow(cc).Sample(*model, z, in.text, in.fps, 6, 5);
  };
  torch::Tensor a = sample(11, 7.0), b = sample(11, 7.0), c2 = sample(12, 7.0);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::equal(a, c2));
  EXPECT_FALSE(torch::equal(a, sample(11, 1.0)));
}

}  // namespace
}  // namespace modelgrow
