// ModelGrow's LLM pathway (Rao et al. 2024, "two conditions"): a second text condition on a
// trained model. Adds its caption projection `y_embedder_{k}`, its null caption, and in every
// block a cross-attention `cross_attn_{k}` right after the existing ones, whose output projection
// starts at zero, so the grown model computes the base's function until it trains.
#include <fmt/format.h>

#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/growth_operator.h"
#include "modelgrow/sdk/scoped_seed.h"

namespace modelgrow {
namespace {

class TextConditionOperator : public GrowthOperator {
 public:
  // The conformance suites grow their probe model (one condition, "t5") with each table; `test_`
  // keys steer the suite (docs/writing-a-plugin.md).
  static constexpr const char* kExamples = R"toml(
[[example]]  # ModelGrow's LLM pathway: Llama-3-8B's width beside T5, 300 tokens
caption_channels = 4096
token_num = 300

[[example]]
name = "clip"
caption_channels = 64
token_num = 8
null = "zeros"

[[example]]
name = "t5"
caption_channels = 4
token_num = 3
test_check_error = "already has a text condition named 't5'"

[[example]]
token_num = 3
test_options_error = "caption_channels"

[[example]]
name = ""
caption_channels = 4
token_num = 3
test_options_error = "must not be empty"
)toml";

  explicit TextConditionOperator(const PluginContext& context) {
    const Options& o = context.options;
    spec_.name = o.String("name", "llm");
    spec_.caption_channels = o.RequireInt("caption_channels", {.min = 1});
    spec_.token_num = o.RequireInt("token_num", {.min = 1});
    null_ = o.Choice("null", "random", {"random", "zeros"});
    if (spec_.name.empty()) o.Fail("name", "must not be empty");
  }

  void Check(const STDiT3Impl& model) const override {
    const STDiT3Config& c = model.config();
    std::vector<std::string> names{c.condition0_name};
    for (const auto& extra : c.extra_conditions) names.push_back(extra.name);
    for (size_t k = 0; k < names.size(); ++k) {
      if (names[k] == spec_.name) {
        throw InputError(fmt::format(
            "the model already has a text condition named '{}' (condition {}); choose another "
            "name",
            spec_.name, k));
      }
    }
  }

  void Grow(GrowthContext& context, GrowthReport& report) override {
    STDiT3Impl& model = context.model;
    int64_t k = 0;
    {
      // The new layers draw from the default generators: seeded for this step only, so the
      // grown model is the same on every run.
      ScopedSeed seeded(model.device(), context.seed);
      k = model.AddTextCondition(spec_);
    }
    if (null_ == "zeros") {
      torch::NoGradGuard no_grad;
      model.NullCaption(k).zero_();
    }
    report.claims_preserving = true;
    report.optimizer_state = OptimizerStatePolicy::kCarried;
    report.optimizer_note = "every existing parameter is unchanged and keeps its moments";
    report.details = {{"condition", k},
                      {"name", spec_.name},
                      {"caption_channels", spec_.caption_channels},
                      {"token_num", spec_.token_num},
                      {"null", null_},
                      {"caption_embedder", CaptionEmbedderName(k)},
                      {"cross_attention", CrossAttentionName(k)},
                      {"zeroed", CrossAttentionName(k) + ".proj (weight and bias) in every block"}};
  }

 private:
  TextConditionSpec spec_;
  std::string null_;
};

}  // namespace
}  // namespace modelgrow

MODELGROW_GROWTH_OPERATOR(modelgrow::TextConditionOperator, "text_condition", "1.0.0",
                          "Adds a text condition (e.g. an LLM beside T5): caption projection, "
                          "null caption, zero-output cross-attention per block (exact)");
