// The net2net operator's own behaviour (exactness and the report are the conformance suite's):
// FPI's copies and divided outputs written out by hand, AKI's units taken from the block above,
// the preservation error each really has, and the symmetry FPI's copies leave.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "growth/growth_test_util.h"
#include "modelgrow/growth/symmetry.h"
#include "modelgrow/model/clone.h"
#include "test_util.h"

namespace modelgrow {
namespace {

using growth_testing::GrowWith;
using growth_testing::TinyConfig;
using growth_testing::TrainedModel;

torch::Tensor Param(const STDiT3Impl& model, const std::string& key) {
  return model.named_parameters()[key].detach();
}

// For each new unit of a layer, the old unit whose incoming weights it holds (-1: none).
std::vector<int64_t> SourcesOf(const torch::Tensor& grown_rows, const torch::Tensor& old_rows) {
  std::vector<int64_t> sources;
  for (int64_t j = old_rows.size(0); j < grown_rows.size(0); ++j) {
    int64_t found = -1;
    for (int64_t i = 0; i < old_rows.size(0); ++i) {
      if (torch::equal(grown_rows[j], old_rows[i])) found = i;
    }
    sources.push_back(found);
  }
  return sources;
}

TEST(Net2Net, FpiCopiesUnitsAndDividesWhatTheyWrite) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  STDiT3 base = CloneModel(*model);
  GrowthReport report = GrowWith(*model, "mlp_hidden = 160\n");
  EXPECT_TRUE(report.claims_preserving);
  EXPECT_LE(report.preservation.max_rel, 1e-6);
  const std::string fc1 = "temporal_blocks.1.mlp.fc1.weight",
                    fc2 = "temporal_blocks.1.mlp.fc2.weight";
  std::vector<int64_t> sources = SourcesOf(Param(*model, fc1), Param(*base, fc1));
  ASSERT_EQ(sources.size(), 32u);
  std::vector<int64_t> count(128, 1);
  for (int64_t s : sources) {
    ASSERT_GE(s, 0) << "a new unit that copies no unit";
    ++count[s];
  }
  torch::Tensor old_out = Param(*base, fc2), new_out = Param(*model, fc2);
  for (int64_t i = 0; i < 128; ++i) {
    EXPECT_TRUE(torch::allclose(new_out.select(1, i), old_out.select(1, i) / count[i])) << i;
  }
  for (size_t j = 0; j < sources.size(); ++j) {
    EXPECT_TRUE(torch::allclose(new_out.select(1, 128 + j),
                                old_out.select(1, sources[j]) / count[sources[j]]));
  }
  // The copies are what the symmetry metric counts: every new unit and its source at least.
  SymmetryStats s = MeasureSymmetry(*model);
  int64_t split = 0;
  for (int64_t c : count) split += c > 1 ? c : 0;
  EXPECT_GE(s.mlp_near_identical, split / 2);  // at least one block's worth... of 4 blocks
  EXPECT_EQ(MeasureSymmetry(*base).mlp_near_identical, 0);
}

TEST(Net2Net, FpiHeadsAreExactToo) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  GrowthReport report = GrowWith(*model, "heads = 4\n");
  EXPECT_TRUE(report.claims_preserving);
  EXPECT_LE(report.preservation.max_rel, 1e-6);
  EXPECT_EQ(model->config().num_heads, 4);
  EXPECT_GT(MeasureSymmetry(*model).heads_near_identical, 0);
}

TEST(Net2Net, NoiseBreaksTheCopiesAndCostsExactness) {
  STDiT3 exact = TrainedModel(TinyConfig(2));
  GrowWith(*exact, "mlp_hidden = 256\n");
  STDiT3 model = TrainedModel(TinyConfig(2));
  GrowthReport report = GrowWith(*model, "mlp_hidden = 256\nnoise = 0.5\n");
  EXPECT_FALSE(report.claims_preserving);
  EXPECT_GT(report.preservation.max_rel, 1e-6);  // measured, not claimed
  const int64_t copies = MeasureSymmetry(*exact).mlp_near_identical;
  EXPECT_GE(copies, 4 * 128);  // every new unit and at least as many sources
  EXPECT_LT(MeasureSymmetry(*model).mlp_near_identical, copies / 10);
}

TEST(Net2Net, AkiTakesTheNewUnitsFromTheBlockAbove) {
  STDiT3 model = TrainedModel(TinyConfig(3));
  STDiT3 base = CloneModel(*model);
  GrowthReport report = GrowWith(*model, "method = \"aki\"\nmlp_hidden = 160\n");
  EXPECT_FALSE(report.claims_preserving);
  EXPECT_GT(report.preservation.max_rel, 1e-6);
  // Block 0's new rows are rows of block 1's fc1; the last block borrows from itself.
  std::vector<int64_t> from_above = SourcesOf(Param(*model, "spatial_blocks.0.mlp.fc1.weight"),
                                              Param(*base, "spatial_blocks.1.mlp.fc1.weight"));
  for (int64_t s : from_above) EXPECT_GE(s, 0);
  std::vector<int64_t> last = SourcesOf(Param(*model, "spatial_blocks.2.mlp.fc1.weight"),
                                        Param(*base, "spatial_blocks.2.mlp.fc1.weight"));
  for (int64_t s : last) EXPECT_GE(s, 0);
}

}  // namespace
}  // namespace modelgrow
