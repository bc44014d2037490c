// ModelGrow's LLM pathway (Rao et al. 2024, "two conditions"): a second text condition on a
// trained model. Adds its caption projection `y_embedder_{k}`, its null caption, and in every
// block a cross-attention `cross_attn_{k}` right after the existing ones, whose output projection
// starts at zero, so the grown model computes the base's function until it trains.
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>

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

[[example]]  # the new pathway starts as a copy of T5's (its output projection still zero)
name = "t5long"
caption_channels = 64
token_num = 12
init_from = "t5"

[[example]]
caption_channels = 4
token_num = 3
init_from = "clip"
test_check_error = "no text condition named 'clip'"

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
    init_from_ = o.String("init_from", "");
    if (spec_.name.empty()) o.Fail("name", "must not be empty");
  }

  void Check(const STDiT3Impl& model) const override {
    const std::vector<std::string> names = model.config().ConditionNames();
    for (size_t k = 0; k < names.size(); ++k) {
      if (names[k] == spec_.name) {
        throw InputError(fmt::format(
            "the model already has a text condition named '{}' (condition {}); choose another "
            "name",
            spec_.name, k));
      }
    }
    if (!init_from_.empty() && !ConditionIndex(model.config(), init_from_)) {
      throw InputError(
          fmt::format("init_from: the model has no text condition named '{}' (it "
                      "has: {})",
                      init_from_, fmt::join(names, ", ")));
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
    nlohmann::json copied = nlohmann::json::array(), kept = nlohmann::json::array();
    if (!init_from_.empty())
      CopyPathway(model, *ConditionIndex(model.config(), init_from_), k, copied, kept);
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
    if (!init_from_.empty()) {
      report.details["init_from"] = init_from_;
      report.details["copied"] = copied;
      report.details["kept_initialisation"] = kept;  // sizes differ from the source's
    }
  }

 private:
  static std::optional<int64_t> ConditionIndex(const STDiT3Config& c, const std::string& name) {
    const std::vector<std::string> names = c.ConditionNames();
    for (size_t k = 0; k < names.size(); ++k) {
      if (names[k] == name) return static_cast<int64_t>(k);
    }
    return std::nullopt;
  }

  // A zero-output pathway learns slowly what a trained one already reads (which tokens to attend
  // to, how to project them): this starts condition `to` as a copy of condition `from` everywhere
  // except the output projections, which stay zero, so the grown model is still the same
  // function. A tensor whose size differs from its source's (the caption MLP's first layer, with
  // another caption width) keeps its initialisation; the null caption is the `null` option's.
  static void CopyPathway(STDiT3Impl& model, int64_t from, int64_t to, nlohmann::json& copied,
                          nlohmann::json& kept) {
    torch::NoGradGuard no_grad;
    const std::string attn_to = "." + CrossAttentionName(to) + ".";
    const std::string attn_from = "." + CrossAttentionName(from) + ".";
    const std::string mlp_to = CaptionEmbedderName(to) + ".";
    const std::string mlp_from = CaptionEmbedderName(from) + ".";
    auto params = model.named_parameters();
    for (auto& item : params) {
      const std::string& name = item.key();
      std::string source;
      if (const size_t at = name.find(attn_to); at != std::string::npos) {
        if (name.compare(at + attn_to.size(), 5, "proj.") == 0) continue;
        source = name.substr(0, at) + attn_from + name.substr(at + attn_to.size());
      } else if (name.rfind(mlp_to, 0) == 0) {
        if (name == mlp_to + "y_embedding") continue;
        source = mlp_from + name.substr(mlp_to.size());
      } else {
        continue;
      }
      const torch::Tensor* value = params.find(source);
      if (value == nullptr || !value->sizes().equals(item.value().sizes())) {
        kept.push_back(name);
        continue;
      }
      item.value().copy_(*value);
      copied.push_back(name);
    }
  }

  TextConditionSpec spec_;
  std::string null_;
  std::string init_from_;  // a condition whose pathway the new one starts as a copy of
};

}  // namespace
}  // namespace modelgrow

MODELGROW_GROWTH_OPERATOR(modelgrow::TextConditionOperator, "text_condition", "1.0.0",
                          "Adds a text condition (e.g. an LLM beside T5): caption projection, "
                          "null caption, zero-output cross-attention per block (exact)");
