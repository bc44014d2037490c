// Several operators through the host in one run: composition, and how problems of a later step
// are reported. What each operator must satisfy on its own is the conformance suite's
// (tests/conformance/growth_conformance_test.cc); each operator's own behaviour is tested in its
// folder (growth_ops/<name>/<name>_test.cc).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "growth_test_util.h"
#include "modelgrow/model/clone.h"
#include "test_util.h"

namespace modelgrow {
namespace {

using growth_testing::BlockParams;
using growth_testing::GrowWithSteps;
using growth_testing::RegistryWith;
using growth_testing::Step;
using growth_testing::TinyConfig;
using growth_testing::TinyProbe;
using growth_testing::TrainedModel;

TEST(BlockFormula, MatchesOpenSorasXLBlock) {
  EXPECT_EQ(BlockParams(1152, 16, 72, 4608), 21'255'696);
}

TEST(GrowthSteps, CompositionListsEveryStepAndStaysExact) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  STDiT3 base = CloneModel(*model);
  std::vector<GrowthReport> reports = GrowWithSteps(
      *model, {Step("stack"), Step("text_condition", "caption_channels = 12\ntoken_num = 4\n")});
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[0].op, "stack");
  EXPECT_EQ(reports[1].op, "text_condition");
  EXPECT_EQ(reports[1].params_before, reports[0].params_after);
  EXPECT_EQ(model->config().depth, 4);
  EXPECT_EQ(model->config().num_conditions(), 2);
  // The new condition reaches every block, the copies included.
  for (const auto& block : model->spatial_blocks()) EXPECT_EQ(block->cross_attns.size(), 2u);
  for (const GrowthReport& r : reports) EXPECT_LE(r.preservation.max_rel, 1e-6);
  EXPECT_LE(MeasurePreservation(*base, *model, TinyProbe()).max_rel, 1e-6);
  nlohmann::json j = GrowthReportsToJson(reports);
  EXPECT_EQ(j.at("steps").size(), 2u);
  EXPECT_EQ(j.at("params_after"), model->NumParameters());
}

// Every step's operator is made before the first runs: the option problems of all steps come
// together, so a typo in step 2 costs nothing.
TEST(GrowthSteps, OptionProblemsOfEveryStepAreReportedTogether) {
  RegistryWith("stack");
  RegistryWith("lora");
  std::vector<std::pair<std::string, Options>> ops = {
      {"stack", Options::ParseString("placement = \"inside\"\n", "step 1")},
      {"lora", Options::ParseString("rnk = 4\n", "step 2")}};
  EXPECT_THROW_WITH(MakeGrowthSteps(growth_testing::Registry(), ops, torch::kCPU), ValidationError,
                    "placement", "unknown key 'rnk'", "rank");
}

TEST(GrowthSteps, ALaterStepsImpossibleRequestNamesItsStep) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  EXPECT_THROW_WITH(GrowWithSteps(*model, {Step("stack"), Step("llama_pro", "every = 3\n")}),
                    InputError, "grow step 2 ('llama_pro')", "every = 3", "N = 4");
}

TEST(GrowthSteps, AnUnknownOperatorListsTheOnesThatExist) {
  RegistryWith("stack");
  EXPECT_THROW_WITH(Step("stak"), InputError, "no growth plugin named 'stak'", "stack");
}

TEST(Probe, RejectsAnEmptyProbe) {
  ProbeOptions probe = TinyProbe();
  probe.timesteps.clear();
  EXPECT_THROW_WITH(ProbeInputs(TinyConfig(1), probe, torch::kCPU), InputError,
                    "at least one timestep");
}

}  // namespace
}  // namespace modelgrow
