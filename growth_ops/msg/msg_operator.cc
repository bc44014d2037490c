// Masked structural growth (MSG; Yao et al. 2024, cofe-ai/MSG): new units enter multiplied by a
// mask c that a training hook ramps from 0 to 1 over `ramp_steps` steps of the training after
// growth. At c = 0 the grown model is the base's function whatever the new weights are, so new
// units may be copies or random; they fade in while they train.
//
//   new blocks   y = x + c·(block(x) − x)                 new_blocks, placement, group, lists
//   MLP units    mlp.fc2 reads its new inputs times c      mlp_hidden
//   heads        every proj reads the new heads times c    heads
//
// Before step k of the training after growth c = k / ramp_steps; at c = 1 the masks go and the
// model is a plain STDiT3 again. The hook's state is its step count, so a resumed run (or the
// next stage) continues the ramp exactly; the masks themselves are part of the model's config
// (config.h's GrowthMask), so any checkpoint taken mid-ramp computes what training saw.
// Hidden-size channels are not offered: STDiT3's LayerNorms have no mask to exclude them.
#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "modelgrow/sdk/block_plan.h"
#include "modelgrow/sdk/deterministic_random.h"
#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/growth_operator.h"
#include "modelgrow/sdk/width_growth.h"

namespace modelgrow {
namespace {

using json = nlohmann::json;

// Sets every mask of the model to c = k / ramp before step k; done once c reaches 1.
class MaskRamp : public TrainingHook {
 public:
  MaskRamp(int64_t ramp_steps, int64_t steps_done) : ramp_(ramp_steps), done_(steps_done) {}

  void BeforeStep(STDiT3Impl& model) override {
    const double c = std::min(1.0, static_cast<double>(done_) / static_cast<double>(ramp_));
    std::vector<GrowthMask> masks = model.config().growth_masks;
    for (GrowthMask& m : masks) m.value = c;
    model.SetGrowthMasks(masks);
    finished_ = c >= 1.0;
    ++done_;
  }
  bool Finished() const override { return finished_; }
  void Remove(STDiT3Impl& model) override { model.SetGrowthMasks({}); }
  json State() const override { return {{"ramp_steps", ramp_}, {"steps_done", done_}}; }

 private:
  int64_t ramp_;
  int64_t done_;
  bool finished_ = false;
};

class MsgOperator : public GrowthOperator {
 public:
  // The conformance suites grow their probe model (N = 4 block pairs, hidden 32, 2 heads of 16,
  // MLP 128) with each table; `test_` keys steer the suite (docs/writing-a-plugin.md).
  static constexpr const char* kExamples = R"toml(
[[example]]  # one new block pair after every original, copies fading in over 100 steps
new_blocks = 4

[[example]]
mlp_hidden = 192
heads = 3
ramp_steps = 20

[[example]]
new_blocks = 2
placement = "suffix"
init = "random"
mlp_hidden = 256

[[example]]
new_blocks = 1
lists = "temporal"
placement = "prefix"

[[example]]
new_blocks = 3
test_check_error = "does not fit N = 4"

[[example]]
heads = 2
test_check_error = "heads = 2 must be larger than the current 2 heads"

[[example]]
test_options_error = "msg needs new_blocks"

[[example]]
new_blocks = 4
ramp_steps = 0
test_options_error = "ramp_steps"
)toml";

  explicit MsgOperator(const PluginContext& context) {
    const Options& o = context.options;
    ramp_steps_ = o.Int("ramp_steps", 100, {.min = 1});
    new_blocks_ = o.Int("new_blocks", 0, {.min = 1});
    placement_ = o.Choice("placement", "insert", {"insert", "prefix", "suffix"});
    group_ = o.Int("group", 1, {.min = 1});
    init_ = o.Choice("init", "copy", {"copy", "random"});
    lists_ = ReadBlockLists(o);
    width_.mlp_hidden = o.Int("mlp_hidden", 0, {.min = 1});
    width_.heads = o.Int("heads", 0, {.min = 1});
    width_.new_inputs = NewWeights::kRandom;
    width_.new_outputs = NewWeights::kRandom;
    if (o.Has("group") && placement_ != "insert") {
      o.Fail("group",
             fmt::format("only insert stacking has groups (placement is \"{}\")", placement_));
    }
    if (!o.Has("new_blocks") && !o.Has("mlp_hidden") && !o.Has("heads")) {
      o.Fail("new_blocks",
             "msg needs new_blocks (block pairs, or blocks of `lists`, to add), mlp_hidden (the "
             "new MLP width) and/or heads (the new number of heads)");
    }
  }

  void Check(const STDiT3Impl& model) const override {
    if (new_blocks_ > 0) Plan(model);
    if (width_.heads > 0 || width_.mlp_hidden > 0) CheckWidthGrowth(model, width_);
    if (!model.config().growth_masks.empty()) {
      throw InputError("the model still has growth masks (an MSG ramp that has not finished)");
    }
  }

  void Grow(GrowthContext& context, GrowthReport& report) override {
    STDiT3Impl& model = context.model;
    const STDiT3Config before = model.config();
    report.details = json::object();
    // Width first: it renames nothing, so the optimizer state it pads is still keyed by the names
    // the host gave it; new blocks then copy widened blocks. Every mask is set at the end.
    const bool widened = width_.heads > 0 || width_.mlp_hidden > 0;
    if (widened) {
      report.details["resized_tensors"] =
          GrowWidth(model, width_, DeriveSeed(context.seed, {1}), context.optimizer_state);
      report.details["heads"] = {{"before", before.num_heads}, {"after", model.config().num_heads}};
      report.details["mlp_hidden"] = {{"before", before.resolved_mlp_hidden()},
                                      {"after", model.config().resolved_mlp_hidden()}};
    }
    std::set<const STDiT3BlockImpl*> fresh;
    if (new_blocks_ > 0) {
      BlockPlanResult result = ApplyBlockPlan(
          model, Plan(model), init_ == "copy" ? NewBlockInit::kCopy : NewBlockInit::kRandom,
          DeriveSeed(context.seed, {2}));
      for (const STDiT3Block& b : result.new_blocks) fresh.insert(b.get());
      for (const auto& [key, value] : result.details.items()) report.details[key] = value;
      report.details["placement"] = placement_;
      report.details["lists"] = BlockListsName(lists_);
      report.details["init"] = init_;
    }
    std::vector<GrowthMask> masks;
    for (const auto* list : {&model.spatial_blocks(), &model.temporal_blocks()}) {
      for (size_t i = 0; i < list->size(); ++i) {
        const STDiT3Block& block = (*list)[i];
        const std::string prefix = BlockKeyPrefix({block->temporal(), static_cast<int64_t>(i)});
        if (fresh.contains(block.get())) masks.push_back({prefix, -1, 0});
        if (width_.heads > 0) {
          masks.push_back({prefix + ".attn.proj", before.attention_dim(), 0});
          for (size_t k = 0; k < block->cross_attns.size(); ++k) {
            masks.push_back({prefix + "." + CrossAttentionName(static_cast<int64_t>(k)) + ".proj",
                             before.attention_dim(), 0});
          }
        }
        if (width_.mlp_hidden > 0) {
          masks.push_back({prefix + ".mlp.fc2", before.resolved_mlp_hidden(), 0});
        }
      }
    }
    model.SetGrowthMasks(masks);
    report.details["ramp_steps"] = ramp_steps_;
    report.details["masks"] = static_cast<int64_t>(model.config().growth_masks.size());
    report.claims_preserving = true;  // at c = 0
    report.training_hook = MaskRamp(ramp_steps_, 0).State();
    report.optimizer_state =
        widened ? OptimizerStatePolicy::kTransformed : OptimizerStatePolicy::kCarried;
    report.optimizer_note =
        widened ? "moments of resized tensors padded with zeros for the new units; original blocks "
                  "keep theirs, new blocks start without state"
                : "original blocks keep their tensors and so their moments (under their new "
                  "names); new blocks start without state";
  }

  std::unique_ptr<TrainingHook> ResumeTrainingHook(const json& state) const override {
    if (!state.is_object() || !state.contains("ramp_steps") || !state.contains("steps_done") ||
        !state["ramp_steps"].is_number_integer() || !state["steps_done"].is_number_integer() ||
        state["ramp_steps"].get<int64_t>() < 1 || state["steps_done"].get<int64_t>() < 0) {
      throw InputError(fmt::format(
          "msg: training-hook state {} is not {{\"ramp_steps\": n >= 1, \"steps_done\": k >= 0}}",
          state.dump()));
    }
    return std::make_unique<MaskRamp>(state["ramp_steps"].get<int64_t>(),
                                      state["steps_done"].get<int64_t>());
  }

 private:
  std::vector<PlannedBlock> Plan(const STDiT3Impl& model) const {
    const int64_t n = static_cast<int64_t>(DepthUnits(model, lists_).size());
    const std::string noun = lists_ == BlockLists::kBoth
                                 ? "(spatial, temporal) block pairs"
                                 : fmt::format("{} blocks", BlockListsName(lists_));
    return PlanWithInsertions(model, lists_,
                              StackingInsertions(n, placement_, new_blocks_, group_, noun));
  }

  int64_t ramp_steps_ = 100;
  int64_t new_blocks_ = 0;
  std::string placement_;
  int64_t group_ = 1;
  std::string init_;
  BlockLists lists_ = BlockLists::kBoth;
  WidthGrowthSpec width_;
};

}  // namespace
}  // namespace modelgrow

MODELGROW_GROWTH_OPERATOR(modelgrow::MsgOperator, "msg", "1.0.0",
                          "Masked structural growth: new blocks, MLP units and heads fade in "
                          "through a mask ramped 0 to 1 during training (exact at 0)");
