// The msg operator's own behaviour (what every operator must satisfy is the conformance suite's):
// which units carry masks, the ramp its training hook runs and how it resumes, that new units
// learn only once their mask opens, and that the model is plain again when the ramp ends.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "growth/growth_test_util.h"
#include "modelgrow/model/clone.h"
#include "test_util.h"

namespace modelgrow {
namespace {

using growth_testing::GrowWith;
using growth_testing::Registry;
using growth_testing::SomeInput;
using growth_testing::Step;
using growth_testing::TinyConfig;
using growth_testing::TrainedModel;
using json = nlohmann::json;

std::unique_ptr<TrainingHook> HookFor(const std::string& toml, const json& state) {
  GrowthStep step = Step("msg", toml);
  std::unique_ptr<TrainingHook> hook = step.instance->ResumeTrainingHook(state);
  EXPECT_NE(hook, nullptr);
  return hook;
}

torch::Tensor Output(STDiT3Impl& model, bool frame_mask = false) {
  torch::NoGradGuard no_grad;
  model.eval();
  return model.forward(SomeInput(model.config(), frame_mask));
}

TEST(Msg, NewBlocksAreGatedAndEveryOtherUnitIsNot) {
  STDiT3 model = TrainedModel(TinyConfig(4));
  GrowthReport report = GrowWith(*model, "new_blocks = 4\nramp_steps = 10\n");
  EXPECT_TRUE(report.claims_preserving);
  EXPECT_EQ(report.training_hook, (json{{"ramp_steps", 10}, {"steps_done", 0}}));
  // Insert stacking: after each original pair its copy, s0 t0 s0' t0' ...: the copies are the
  // odd entries of each list, each gated at 0.
  std::vector<GrowthMask> expected;
  for (int i = 1; i < 8; i += 2) expected.push_back({fmt::format("spatial_blocks.{}", i), -1, 0});
  for (int i = 1; i < 8; i += 2) expected.push_back({fmt::format("temporal_blocks.{}", i), -1, 0});
  EXPECT_EQ(model->config().growth_masks, expected);
  EXPECT_EQ(model->spatial_blocks()[1]->growth_gate(), 0);
  EXPECT_EQ(model->spatial_blocks()[0]->growth_gate(), 1);
  EXPECT_LE(report.preservation.max_rel, 1e-6);
}

TEST(Msg, WidthMasksStartAtTheOldWidthsAndNewWeightsAreNotZero) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  GrowWith(*model, "mlp_hidden = 192\nheads = 3\n");
  const STDiT3Block& block = model->spatial_blocks()[0];
  EXPECT_EQ(block->mlp->fc2->input_mask_first(), 128);
  EXPECT_EQ(block->attn->proj->input_mask_first(), 32);
  EXPECT_EQ(block->cross_attns[0]->proj->input_mask_first(), 32);
  EXPECT_EQ(block->mlp->fc1->input_mask_first(), -1);
  // Whatever the init: the new output columns are random, not zero (the mask makes it exact).
  EXPECT_GT(block->mlp->fc2->weight.slice(1, 128).abs().max().item<double>(), 0);
  EXPECT_GT(block->attn->proj->weight.slice(1, 32).abs().max().item<double>(), 0);
  // 2 lists x 2 blocks x (attn.proj, cross_attn.proj, mlp.fc2)
  EXPECT_EQ(model->config().growth_masks.size(), 12u);
}

TEST(Msg, TheHookRampsEveryMaskFromZeroToOneThenRemovesThem) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  const std::string toml = "new_blocks = 2\nmlp_hidden = 160\nramp_steps = 4\n";
  GrowthReport report = GrowWith(*model, toml);
  // 2 new blocks per list; fc2 of every block, new ones too.
  EXPECT_EQ(model->config().growth_masks.size(), 4u + 8u);
  std::unique_ptr<TrainingHook> hook = HookFor(toml, report.training_hook);
  for (int k = 0; k <= 4; ++k) {
    SCOPED_TRACE(k);
    hook->BeforeStep(*model);
    for (const GrowthMask& m : model->config().growth_masks) EXPECT_EQ(m.value, k / 4.0);
    EXPECT_EQ(hook->Finished(), k == 4);
  }
  // At c = 1 a block gate is no gate (1 is the plain block); fc2's masks stay until Remove.
  EXPECT_EQ(model->config().growth_masks.size(), 8u);
  hook->Remove(*model);
  EXPECT_TRUE(model->config().growth_masks.empty());
  EXPECT_FALSE(model->config().ToJson().contains("modelgrow_growth_masks"));
}

TEST(Msg, AHookRebuiltFromItsStateContinuesTheSameRamp) {
  STDiT3 a = TrainedModel(TinyConfig(2));
  const std::string toml = "new_blocks = 2\nramp_steps = 7\n";
  GrowthReport report = GrowWith(*a, toml);
  STDiT3 b = CloneModel(*a);
  std::unique_ptr<TrainingHook> straight = HookFor(toml, report.training_hook);
  std::unique_ptr<TrainingHook> first = HookFor(toml, report.training_hook);
  for (int k = 0; k < 3; ++k) {
    straight->BeforeStep(*a);
    first->BeforeStep(*b);
  }
  json saved = first->State();
  EXPECT_EQ(saved, (json{{"ramp_steps", 7}, {"steps_done", 3}}));
  std::unique_ptr<TrainingHook> resumed = HookFor(toml, json::parse(saved.dump()));
  for (int k = 3; k < 9; ++k) {
    straight->BeforeStep(*a);
    resumed->BeforeStep(*b);
    EXPECT_EQ(a->config().growth_masks, b->config().growth_masks) << k;
    EXPECT_EQ(straight->Finished(), resumed->Finished()) << k;
  }
}

TEST(Msg, BadHookStateIsNamed) {
  for (const json& state : {json(nullptr), json{{"ramp_steps", 0}, {"steps_done", 0}},
                            json{{"ramp_steps", 3}, {"steps_done", -1}}, json{{"ramp_steps", 3}}}) {
    GrowthStep step = Step("msg", "new_blocks = 4\n");
    try {
      step.instance->ResumeTrainingHook(state);
      ADD_FAILURE() << state.dump();
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("training-hook state"), std::string::npos) << e.what();
    }
  }
}

// Mid-ramp the new units are really there; at the end the model is the grown one without masks.
TEST(Msg, MidRampTheNewUnitsContributeInProportion) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  STDiT3 base = CloneModel(*model);
  const std::string toml = "new_blocks = 2\nplacement = \"suffix\"\nramp_steps = 2\n";
  GrowthReport report = GrowWith(*model, toml);
  torch::Tensor at0 = Output(*model);
  EXPECT_TRUE(torch::allclose(at0, Output(*base), 1e-5, 1e-6));
  std::unique_ptr<TrainingHook> hook = HookFor(toml, report.training_hook);
  hook->BeforeStep(*model);  // c = 0
  hook->BeforeStep(*model);  // c = 1/2
  torch::Tensor half = Output(*model);
  EXPECT_GT((half - at0).abs().max().item<double>(), 1e-4);
  hook->BeforeStep(*model);  // c = 1
  ASSERT_TRUE(hook->Finished());
  hook->Remove(*model);
  torch::Tensor full = Output(*model);
  EXPECT_GT((full - half).abs().max().item<double>(), 1e-4);
  // A model built from the final config (no masks) with the same weights computes the same.
  STDiT3 plain(model->config());
  torch::NoGradGuard no_grad;
  auto target = plain->named_parameters();
  for (const auto& item : model->named_parameters()) target[item.key()].copy_(item.value());
  auto buffers = plain->named_buffers();
  for (const auto& item : model->named_buffers()) buffers[item.key()].copy_(item.value());
  EXPECT_TRUE(torch::equal(Output(*plain), full));
}

// At c = 0 a new block and the new MLP units get no gradient; once the mask opens they do.
TEST(Msg, NewUnitsLearnOnlyOnceTheirMaskOpens) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  const std::string toml =
      "new_blocks = 2\nplacement = \"suffix\"\nmlp_hidden = 160\n"
      "ramp_steps = 3\n";
  GrowthReport report = GrowWith(*model, toml);
  std::unique_ptr<TrainingHook> hook = HookFor(toml, report.training_hook);
  auto grads = [&] {
    model->train();
    for (auto& p : model->parameters()) p.mutable_grad() = torch::Tensor();
    model->forward(SomeInput(model->config(), false)).pow(2).mean().backward();
    auto params = model->named_parameters();
    return std::pair{
        params["spatial_blocks.2.mlp.fc1.weight"].grad().abs().max().item<double>(),
        params["spatial_blocks.0.mlp.fc1.weight"].grad().slice(0, 128).abs().max().item<double>()};
  };
  hook->BeforeStep(*model);  // c = 0
  auto [new_block, new_units] = grads();
  EXPECT_EQ(new_block, 0);
  EXPECT_EQ(new_units, 0);
  hook->BeforeStep(*model);  // c = 1/3
  std::tie(new_block, new_units) = grads();
  EXPECT_GT(new_block, 0);
  EXPECT_GT(new_units, 0);
}

TEST(Msg, RefusesAModelStillRamping) {
  STDiT3 model = TrainedModel(TinyConfig(4));
  GrowWith(*model, "new_blocks = 4\n");
  try {
    GrowWith(*model, "mlp_hidden = 200\n");
    ADD_FAILURE() << "grew a model whose masks are still ramping";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("still has growth masks"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace modelgrow
