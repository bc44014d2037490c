// Masked structural growth in the model itself (config.h's GrowthMask): what a mask computes, how
// it is recorded in config.json and travels with its block, and bad masks named.
#include <algorithm>
#include <tuple>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "modelgrow/io/checkpoint.h"
#include "modelgrow/model/stdit3.h"
#include "modelgrow/sdk/errors.h"
#include "test_util.h"

namespace modelgrow {
namespace {

using testing::TempDir;

STDiT3Config MaskConfig() {
  STDiT3Config c = PresetConfig("STDiT3-T/2");
  c.caption_channels = 24;
  c.model_max_length = 6;
  c.depth = 2;
  return c;
}

ModelInput MaskInput(const STDiT3Config& c) {
  torch::manual_seed(7);
  ModelInput in;
  in.x = torch::randn({2, c.in_channels, 3, 6, 6});
  in.timestep = torch::tensor({700.0f, 50.0f});
  in.text = {{torch::randn({2, c.model_max_length, c.caption_channels}), {}}};
  return in;
}

// The model keeps masks in its own order (list, block, layer); tests compare them as sets.
std::vector<GrowthMask> Sorted(std::vector<GrowthMask> masks) {
  std::sort(masks.begin(), masks.end(), [](const GrowthMask& a, const GrowthMask& b) {
    return std::tie(a.module, a.first_input) < std::tie(b.module, b.first_input);
  });
  return masks;
}

void PrintTo(const GrowthMask& m, std::ostream* out) {
  *out << m.module << "[" << m.first_input << ":]=" << m.value;
}

STDiT3 PerturbedModel(const STDiT3Config& c) {
  torch::manual_seed(3);
  STDiT3 model(c);
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters()) p.add_(torch::randn_like(p) * 0.05);
  model->eval();
  return model;
}

TEST(GrowthMasks, ALinearMaskScalesItsInputsFromTheFirstMaskedOne) {
  torch::manual_seed(1);
  Linear layer(6, 4);
  torch::Tensor x = torch::randn({3, 6});
  layer->SetInputMask(4, 0.25);
  torch::Tensor scaled = x.clone();
  scaled.slice(1, 4).mul_(0.25);
  EXPECT_TRUE(torch::allclose(layer(x), torch::linear(scaled, layer->weight, layer->bias)));
  layer->SetInputMask(-1, 0);
  EXPECT_TRUE(torch::equal(layer(x), torch::linear(x, layer->weight, layer->bias)));
  EXPECT_THROW(layer->SetInputMask(6, 0.5), InputError);
}

TEST(GrowthMasks, AGatedBlockMovesItsInputPartWayToItsOutput) {
  STDiT3 model = PerturbedModel(MaskConfig());
  torch::Tensor in, out;  // spatial block 1's, at the last forward pass
  model->set_block_observer(
      [&](const BlockRef& ref, const torch::Tensor& block_in, const torch::Tensor& block_out) {
        if (!ref.temporal && ref.index == 1) {
          in = block_in.clone();
          out = block_out.clone();
        }
      });
  torch::NoGradGuard no_grad;
  model->forward(MaskInput(model->config()));
  const torch::Tensor plain_in = in, plain_out = out;
  model->SetGrowthMasks({{"spatial_blocks.1", -1, 0.3}});
  model->forward(MaskInput(model->config()));
  ASSERT_TRUE(torch::equal(in, plain_in));  // blocks before it are untouched
  EXPECT_TRUE(torch::allclose(out, plain_in + 0.3 * (plain_out - plain_in), 1e-5, 1e-6));
  model->SetGrowthMasks({{"spatial_blocks.1", -1, 0.0}});
  model->forward(MaskInput(model->config()));
  EXPECT_TRUE(torch::equal(out, plain_in));
}

TEST(GrowthMasks, ACheckpointTakenMidRampComputesWhatTheModelDid) {
  STDiT3 model = PerturbedModel(MaskConfig());
  std::vector<GrowthMask> masks = {{"spatial_blocks.1", -1, 0.4},
                                   {"temporal_blocks.0.mlp.fc2", 100, 0.7},
                                   {"spatial_blocks.0.attn.proj", 48, 0.1}};
  model->SetGrowthMasks(masks);
  EXPECT_EQ(Sorted(model->config().growth_masks), Sorted(masks));
  nlohmann::json j = model->config().ToJson();
  ASSERT_TRUE(j.contains("modelgrow_growth_masks"));
  EXPECT_EQ(Sorted(STDiT3Config::FromJson(j, "test").growth_masks), Sorted(masks));
  TempDir dir;
  SaveModel(dir / "ckpt", *model, {});
  LoadedModel loaded = LoadModel(dir / "ckpt", torch::kCPU);
  loaded.model->eval();
  torch::NoGradGuard no_grad;
  ModelInput in = MaskInput(model->config());
  EXPECT_TRUE(torch::equal(loaded.model->forward(in), model->forward(in)));
  model->SetGrowthMasks({});
  EXPECT_FALSE(torch::equal(loaded.model->forward(in), model->forward(in)));
  EXPECT_FALSE(model->config().ToJson().contains("modelgrow_growth_masks"));
}

TEST(GrowthMasks, MasksTravelWithTheirBlocksWhenTheListsChange) {
  STDiT3 model = PerturbedModel(MaskConfig());
  model->SetGrowthMasks({{"spatial_blocks.0", -1, 0.5}, {"spatial_blocks.0.mlp.fc2", 10, 0.5}});
  std::vector<STDiT3Block> spatial = model->spatial_blocks();
  std::vector<STDiT3Block> temporal = model->temporal_blocks();
  std::swap(spatial[0], spatial[1]);
  model->SetBlocks(spatial, temporal, {});
  std::vector<GrowthMask> expected = {{"spatial_blocks.1", -1, 0.5},
                                      {"spatial_blocks.1.mlp.fc2", 10, 0.5}};
  EXPECT_EQ(model->config().growth_masks, expected);
}

TEST(GrowthMasks, BadMasksAreNamedAndChangeNothing) {
  STDiT3 model = PerturbedModel(MaskConfig());
  model->SetGrowthMasks({{"spatial_blocks.0", -1, 0.5}});
  const std::vector<GrowthMask> before = model->config().growth_masks;
  struct Case {
    GrowthMask mask;
    std::string error;
  };
  for (const Case& c : std::vector<Case>{
           {{"spatial_blocks.9", -1, 0.5}, "no block or block layer 'spatial_blocks.9'"},
           {{"x_embedder", -1, 0.5}, "no block or block layer 'x_embedder'"},
           {{"spatial_blocks.1.mlp", -1, 0.5}, "is not a block"},
           {{"spatial_blocks.1.mlp.fc2", 100000, 0.5}, "not a linear layer with more than 100000"},
           {{"spatial_blocks.1", -1, 1.5}, "expected a value in [0, 1]"},
       }) {
    SCOPED_TRACE(c.mask.module);
    try {
      model->SetGrowthMasks({{"temporal_blocks.0", -1, 0.2}, c.mask});
      ADD_FAILURE() << "accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(c.error), std::string::npos) << e.what();
    }
    EXPECT_EQ(model->config().growth_masks, before);
    EXPECT_EQ(model->temporal_blocks()[0]->growth_gate(), 1);
  }
  // From a file: the same checks, naming the file.
  nlohmann::json j = model->config().ToJson();
  j["modelgrow_growth_masks"] = {{{"module", "spatial_blocks.0"}, {"value", "half"}}};
  EXPECT_THROW(STDiT3Config::FromJson(j, "config.json"), InputError);
  j["modelgrow_growth_masks"] = {{{"module", "spatial_blocks.0"}, {"value", -0.5}}};
  try {
    STDiT3Config::FromJson(j, "config.json");
    ADD_FAILURE() << "accepted a negative mask";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("config.json"), std::string::npos) << e.what();
  }
  j["modelgrow_growth_masks"] = {{{"module", "nowhere.0"}, {"value", 0.5}}};
  STDiT3Config config = STDiT3Config::FromJson(j, "config.json");
  EXPECT_THROW(STDiT3{config}, InputError);
}

}  // namespace
}  // namespace modelgrow
