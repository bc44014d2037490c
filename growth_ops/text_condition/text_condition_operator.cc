// ModelGrow's LLM pathway (Rao et al. 2024, "two conditions"): a second text condition on a
// trained model. Adds its caption projection `y_embedder_{k}`, its null caption, and in every
// block a cross-attention `cross_attn_{k}` right after the existing ones, whose output projection
// starts at zero, so the grown model computes the base's function until it trains.
//
// `align_steps`: a pathway copied from T5's (`init_from`) reads the new encoder's features through
// T5's caption projection, which was trained on other features. Aligning first fits the new caption
// projection alone, for that many Adam steps on the grow stage's fit data, with the new pathway in
// the source's place (its output projections the source's, the source's switched off): the frozen
// model must be conditioned through the new encoder, as LLaVA's first stage fits only its
// projector. Then the source's output projections come back and the new ones are zeroed again, so
// the grown model is still the base's function, now with a pathway that reads its encoder.
#include <cmath>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/growth_operator.h"
#include "modelgrow/sdk/progress.h"
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
name = "llm"
caption_channels = 4
token_num = 3
align_steps = 10
test_options_error = "align_steps needs init_from"

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
    align_steps_ = o.Int("align_steps", 0, {.min = 0});
    align_lr_ = o.Double("align_lr", 1e-3, {.min = 0, .min_exclusive = true});
    if (spec_.name.empty()) o.Fail("name", "must not be empty");
    if (align_steps_ > 0 && init_from_.empty()) {
      o.Fail("align_steps",
             "align_steps needs init_from: the new pathway is aligned in the place of the one it "
             "is copied from");
    }
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
    if (align_steps_ > 0 && context.data == nullptr) {
      throw InputError(fmt::format(
          "text_condition aligns its caption projection on training data for {} steps "
          "(align_steps), and this grow has none: run it in a manifest grow stage with a "
          "[stages.<name>.fit] table naming the data (docs/growth-operators.md#text_condition)",
          align_steps_));
    }
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
    nlohmann::json aligned;
    if (!init_from_.empty()) {
      const int64_t from = *ConditionIndex(model.config(), init_from_);
      CopyPathway(model, from, k, copied, kept);
      if (align_steps_ > 0) aligned = Align(model, from, k, *context.data);
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
    if (!init_from_.empty()) {
      report.details["init_from"] = init_from_;
      report.details["copied"] = copied;
      report.details["kept_initialisation"] = kept;  // sizes differ from the source's
    }
    if (!aligned.is_null()) report.details["align"] = aligned;
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

  // Fits condition `to`'s caption projection with `to` standing in for
  // `from`: `to` gets `from`'s output projections, `from`'s are zeroed, every other parameter is
  // frozen. Afterwards `from`'s output projections are restored bit for bit and `to`'s are zero.
  nlohmann::json Align(STDiT3Impl& model, int64_t from, int64_t to, GrowthData& data) const {
    const std::string proj_to = "." + CrossAttentionName(to) + ".proj.";
    const std::string proj_from = "." + CrossAttentionName(from) + ".proj.";
    const std::string mlp_to = CaptionEmbedderName(to) + ".";
    struct Swap {
      torch::Tensor to, from, saved;  // to's output projection, from's, and from's values
    };
    std::vector<Swap> swaps;
    std::vector<torch::Tensor> fitted;
    std::vector<std::pair<torch::Tensor, bool>> trainable;
    auto params = model.named_parameters();
    {
      torch::NoGradGuard no_grad;
      for (auto& item : params) {
        const std::string& name = item.key();
        trainable.emplace_back(item.value(), item.value().requires_grad());
        item.value().requires_grad_(name.rfind(mlp_to, 0) == 0);
        if (item.value().requires_grad()) fitted.push_back(item.value());
        const size_t at = name.find(proj_to);
        if (at == std::string::npos) continue;
        torch::Tensor* source =
            params.find(name.substr(0, at) + proj_from + name.substr(at + proj_to.size()));
        if (source == nullptr) continue;
        swaps.push_back({item.value(), *source, source->clone()});
        item.value().copy_(*source);
        source->zero_();
      }
    }
    // Whatever happens, the model leaves as the base's function with its trainable flags.
    auto restore = [&] {
      torch::NoGradGuard no_grad;
      for (Swap& s : swaps) {
        s.from.copy_(s.saved);
        s.to.zero_();
      }
      for (auto& [p, flag] : trainable) {
        p.mutable_grad() = torch::Tensor();
        p.requires_grad_(flag);
      }
    };
    std::vector<double> losses;
    Progress progress("text_condition align", align_steps_);
    try {
      torch::optim::Adam adam(fitted, torch::optim::AdamOptions(align_lr_));
      model.train();
      for (int64_t step = 0; step < align_steps_; ++step) {
        adam.zero_grad();
        torch::Tensor loss = data.NextLoss(model);
        loss.backward();
        adam.step();
        const double value = loss.item<double>();
        if (!std::isfinite(value)) {
          throw RunError(
              fmt::format("text_condition align: the loss is {} at step {}", value, step + 1));
        }
        losses.push_back(value);
        progress.Update(step + 1, fmt::format("loss {:.4f}", value));
      }
    } catch (...) {
      restore();
      throw;
    }
    restore();
    progress.Finish(fmt::format("loss {:.4f} -> {:.4f}", losses.front(), losses.back()));
    return {{"steps", align_steps_},
            {"lr", align_lr_},
            {"fitted", mlp_to + "*"},
            {"in_place_of", CrossAttentionName(from)},
            {"data", data.Describe()},
            {"losses", losses},
            {"seconds", progress.elapsed_seconds()}};
  }

  TextConditionSpec spec_;
  std::string null_;
  std::string init_from_;  // a condition whose pathway the new one starts as a copy of
  int64_t align_steps_ = 0;
  double align_lr_ = 1e-3;
};

}  // namespace
}  // namespace modelgrow

MODELGROW_GROWTH_OPERATOR(modelgrow::TextConditionOperator, "text_condition", "1.0.0",
                          "Adds a text condition (e.g. an LLM beside T5): caption projection, "
                          "null caption, zero-output cross-attention per block (exact)");
