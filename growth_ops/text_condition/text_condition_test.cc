// The text_condition operator's own behaviour: the layers of the new condition, their names and
// sizes, and the null caption it asks for.
#include <numeric>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "growth/growth_test_util.h"
#include "modelgrow/growth/grow.h"
#include "modelgrow/model/clone.h"
#include "test_util.h"

namespace modelgrow {
namespace {

using growth_testing::BlockParams;
using growth_testing::GrowWith;
using growth_testing::GrowWithSteps;
using growth_testing::Step;
using growth_testing::TinyConfig;
using growth_testing::TinyProbe;
using growth_testing::TrainedModel;

// Fit data for a model grown with a second condition "llm" whose encoder is a fixed linear remix
// of T5's features (each token's T5 state times `mix`): the loss is the squared distance from the
// base model's output given T5 alone, so a pathway standing in for T5's can bring it to zero only
// by undoing the remix in its caption projection. Each call takes new probe inputs (seeds 100,
// 101, ...).
class RemixedT5Data : public GrowthData {
 public:
  RemixedT5Data(const STDiT3Impl& base, torch::Tensor mix) : base_(CloneModel(base)), mix_(mix) {
    base_->eval();
  }
  torch::Tensor NextLoss(STDiT3Impl& model) override {
    return Loss(model, 100 + static_cast<uint64_t>(calls_++));
  }
  torch::Tensor Loss(STDiT3Impl& model, uint64_t seed) {
    ProbeOptions probe = TinyProbe();
    probe.seed = seed;
    probe.timesteps = {500};
    ModelInput in = ProbeInputs(base_->config(), probe, model.device()).back();
    torch::Tensor target;
    {
      torch::NoGradGuard no_grad;
      target = base_->forward(in);
    }
    in.text.push_back({torch::matmul(in.text[0].embedding, mix_), in.text[0].mask});
    return (model.forward(in) - target).pow(2).mean();
  }
  nlohmann::json Describe() const override { return {{"data", "remixed t5"}, {"calls", calls_}}; }

 private:
  STDiT3 base_;
  torch::Tensor mix_;
  int64_t calls_ = 0;
};

// The model with condition `to`'s pathway in the place of `from`'s (from's output projections
// moved to `to`): how the aligned pathway does on its own.
void PutInPlaceOf(STDiT3Impl& model, const std::string& to, const std::string& from) {
  torch::NoGradGuard no_grad;
  auto p = model.named_parameters();
  for (const auto& list : {"spatial_blocks", "temporal_blocks"}) {
    for (int64_t i = 0; i < model.config().depth; ++i) {
      for (const std::string part : {"weight", "bias"}) {
        const std::string block = fmt::format("{}.{}.", list, i);
        p[block + to + ".proj." + part].copy_(p[block + from + ".proj." + part]);
        p[block + from + ".proj." + part].zero_();
      }
    }
  }
}

TEST(TextCondition, AddsTheLLMPathway) {
  STDiT3 model = TrainedModel(TinyConfig(2));
  GrowthReport report =
      GrowWith(*model, "caption_channels = 40\ntoken_num = 7\nnull = \"zeros\"\n");
  EXPECT_EQ(model->config().extra_conditions.size(), 1u);
  EXPECT_EQ(model->config().extra_conditions[0].name, "llm");
  EXPECT_EQ(model->NullCaption(1).sizes(), (std::vector<int64_t>{7, 40}));
  EXPECT_EQ(model->NullCaption(1).abs().max().item<float>(), 0.0f);
  auto p = model->named_parameters();
  EXPECT_TRUE(p.contains("y_embedder_1.y_proj.fc1.weight"));
  EXPECT_EQ(p["temporal_blocks.0.cross_attn_1.proj.weight"].abs().max().item<float>(), 0.0f);
  EXPECT_EQ(p["temporal_blocks.0.cross_attn_1.proj.bias"].abs().max().item<float>(), 0.0f);
  EXPECT_EQ(report.details.at("cross_attention"), "cross_attn_1");
  for (const auto& block : model->spatial_blocks()) EXPECT_EQ(block->cross_attns.size(), 2u);
}

TEST(TextCondition, RandomNullCaptionIsNotZero) {
  STDiT3 model = TrainedModel(TinyConfig(1));
  GrowWith(*model, "caption_channels = 8\ntoken_num = 3\n");
  EXPECT_GT(model->NullCaption(1).abs().max().item<float>(), 0.0f);
}

// One cross-attention per block, plus the caption MLP (D -> C -> C).
TEST(TextCondition, AddsACrossAttentionPerBlockAndACaptionMlp) {
  const STDiT3Config c = TinyConfig(4);
  const int64_t C = c.hidden_size, hd = c.resolved_head_dim(), H = c.resolved_mlp_hidden();
  const int64_t d = 24;
  STDiT3 model = TrainedModel(c);
  GrowthReport r = GrowWith(*model, "caption_channels = 24\ntoken_num = 5\n");
  EXPECT_EQ(r.params_after - r.params_before, 2 * c.depth *
                                                      (BlockParams(C, c.num_heads, hd, H, 2) -
                                                       BlockParams(C, c.num_heads, hd, H, 1)) +
                                                  (d * C + C) + (C * C + C));
}

// init_from: the new pathway starts as the named one, except its output projections (still zero,
// so the model is the same function) and what has another size (the caption MLP's first layer
// when the caption widths differ).
TEST(TextCondition, InitFromCopiesTheTrainedPathwayButItsOutput) {
  for (const int64_t channels : {int64_t{16}, int64_t{24}}) {
    SCOPED_TRACE(channels);
    STDiT3 model = TrainedModel(TinyConfig(2));
    GrowthReport r = GrowWith(*model, fmt::format("caption_channels = {}\ntoken_num = 9\n"
                                                  "init_from = \"t5\"\n",
                                                  channels));
    auto p = model->named_parameters();
    for (const std::string block : {"spatial_blocks.1", "temporal_blocks.0"}) {
      for (const std::string layer : {"q_linear.weight", "kv_linear.bias"}) {
        const std::string to = block + ".cross_attn_1." + layer;
        EXPECT_TRUE(torch::equal(p[to], p[block + ".cross_attn." + layer])) << to;
      }
      EXPECT_EQ(p[block + ".cross_attn_1.proj.weight"].abs().max().item<float>(), 0.0f);
      EXPECT_GT(p[block + ".cross_attn.proj.weight"].abs().max().item<float>(), 0.0f);
    }
    EXPECT_TRUE(
        torch::equal(p["y_embedder_1.y_proj.fc2.weight"], p["y_embedder.y_proj.fc2.weight"]));
    const bool same_width = channels == 16;
    EXPECT_EQ(
        p["y_embedder_1.y_proj.fc1.weight"].sizes() == p["y_embedder.y_proj.fc1.weight"].sizes() &&
            torch::equal(p["y_embedder_1.y_proj.fc1.weight"], p["y_embedder.y_proj.fc1.weight"]),
        same_width);
    const std::string kept = r.details.at("kept_initialisation").dump();
    EXPECT_EQ(kept.find("y_embedder_1.y_proj.fc1.weight") != std::string::npos, !same_width)
        << kept;
    EXPECT_EQ(r.details.at("init_from"), "t5");
    EXPECT_EQ(r.preservation.max_abs, 0.0);
  }
}

// align_steps: the copied pathway's caption projection is fitted standing in for T5's; the grown
// model is still exactly the base's function, and the pathway alone now reads the new encoder.
TEST(TextCondition, AlignFitsTheCaptionProjectionInTheSourcesPlaceAndKeepsTheFunction) {
  const STDiT3 base = TrainedModel(TinyConfig(2));
  torch::manual_seed(3);
  const torch::Tensor mix = torch::eye(16) + 0.5 * torch::randn({16, 16});
  const std::string copy = "caption_channels = 16\ntoken_num = 6\ninit_from = \"t5\"\n";
  STDiT3 copied = CloneModel(*base), aligned = CloneModel(*base);
  RemixedT5Data data(*base, mix);
  GrowWithSteps(*copied, {Step("text_condition", copy)}, nullptr, TinyProbe(), &data);
  EXPECT_EQ(data.Describe().at("calls"), 0);
  const GrowthReport r = GrowWithSteps(
      *aligned, {Step("text_condition", copy + "align_steps = 150\nalign_lr = 3e-3\n")}, nullptr,
      TinyProbe(), &data)[0];
  EXPECT_EQ(data.Describe().at("calls"), 150);

  // The same function as the base: T5's output projections back bit for bit, the new ones zero,
  // every parameter trainable again and without a gradient.
  EXPECT_EQ(r.preservation.max_abs, 0.0);
  const auto before = base->named_parameters();
  for (const auto& item : aligned->named_parameters()) {
    EXPECT_TRUE(item.value().requires_grad()) << item.key();
    EXPECT_FALSE(item.value().grad().defined()) << item.key();
    if (const torch::Tensor* b = before.find(item.key())) {
      EXPECT_TRUE(torch::equal(item.value(), *b)) << item.key() << " changed";
    }
    if (item.key().find(".cross_attn_1.proj.") != std::string::npos) {
      EXPECT_EQ(item.value().abs().max().item<float>(), 0.0f) << item.key();
    }
  }
  const nlohmann::json& align = r.details.at("align");
  EXPECT_EQ(align.at("steps"), 150);
  EXPECT_EQ(align.at("in_place_of"), "cross_attn");
  const std::vector<double> losses = align.at("losses");
  ASSERT_EQ(losses.size(), 150u);
  // Each step's inputs are new, so compare the means of the first and last ten.
  const double first = std::accumulate(losses.begin(), losses.begin() + 10, 0.0) / 10;
  const double last = std::accumulate(losses.end() - 10, losses.end(), 0.0) / 10;
  EXPECT_LT(last, 0.25 * first) << first << " -> " << last;

  // In T5's place, on inputs it was not fitted on, the aligned pathway conditions the model as
  // T5's did far better than the plain copy, which reads the remixed features through T5's MLP.
  PutInPlaceOf(*aligned, "cross_attn_1", "cross_attn");
  PutInPlaceOf(*copied, "cross_attn_1", "cross_attn");
  torch::NoGradGuard no_grad;
  const double aligned_loss = data.Loss(*aligned, 77).item<double>();
  const double copied_loss = data.Loss(*copied, 77).item<double>();
  EXPECT_LT(aligned_loss, 0.3 * copied_loss) << aligned_loss << " vs " << copied_loss;
}

TEST(TextCondition, AlignNeedsFitData) {
  STDiT3 model = TrainedModel(TinyConfig(1));
  EXPECT_THROW_WITH(GrowWith(*model,
                             "caption_channels = 16\ntoken_num = 6\ninit_from = \"t5\"\n"
                             "align_steps = 5\n"),
                    InputError, "[stages.<name>.fit]");
  EXPECT_TRUE(model->config().extra_conditions.empty());
}

}  // namespace
}  // namespace modelgrow
