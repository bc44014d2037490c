// What validation checks beyond the manifest's own keys: every plugin constructed from its
// options (nothing loaded), and every growth operator's check run on the model it would grow --
// built from [model] on the meta device, so even STDiT3-3B costs no memory for weights.
#include <functional>
#include <set>

#include <fmt/format.h>
#include <torch/torch.h>

#include "modelgrow/experiment/manifest.h"
#include "modelgrow/host/plugin_registry.h"
#include "modelgrow/model/init_device.h"
#include "modelgrow/model/stdit3.h"
#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/sdk/data_pipeline.h"
#include "modelgrow/sdk/text_encoder.h"
#include "modelgrow/sdk/video_autoencoder.h"

namespace modelgrow {

namespace {

// Adds the problems of constructing a plugin to `where`'s document; they keep their own
// positions and key paths.
template <typename Make>
void Collect(const Options& where, const std::string& key, Make make) {
  try {
    make();
  } catch (const ValidationError& e) {
    for (const Problem& p : e.problems()) where.AddProblem(p);
  } catch (const InputError& e) {
    where.Fail(key, e.what());
  }
}

PluginContext ContextFor(const Options& options) {
  PluginContext c;
  c.options = options.Subset();
  return c;
}

}  // namespace

void Manifest::CheckPlugins(const Options& doc, const PluginRegistry& registry) {
  Options data = doc.Table("data");
  std::map<std::string, int64_t> sizes;
  for (const auto& [id, spec] : data_) {
    if (spec.plugin.empty()) continue;
    // Structured bindings are captured through init-captures: clang before 16 cannot capture them.
    Collect(data, id, [&, &id = id, &spec = spec] {
      sizes[id] = registry.MakeDataPipeline(spec.plugin, ContextFor(spec.options))->size();
    });
  }
  NoteEvaluationCounts(doc, sizes);
  if (vae_ && !vae_->plugin.empty()) {
    Collect(doc, "vae",
            [&] { registry.MakeVideoAutoencoder(vae_->plugin, ContextFor(vae_->options)); });
  }
  Options text = doc.Table("text");
  for (const auto& [id, spec] : text_) {
    if (spec.plugin.empty()) continue;
    Options options = spec.options.Subset();
    // A made encoder's folder exists only once the run has made it; construction reads no files.
    if (spec.make) options.Set("path", "\"(made by the run)\"", "text." + id + ".make");
    Collect(text, id,
            [&, &spec = spec] { registry.MakeTextEncoder(spec.plugin, ContextFor(options)); });
    if (spec.make) {
      Collect(text, id, [&, &spec = spec] {
        registry.MakeTextModelMaker(spec.plugin, ContextFor(*spec.make), spec.options);
      });
    }
  }
  Options stages = doc.Table("stages");
  for (const auto& [name, s] : stages_) {
    for (const PluginSpec& op : s.grow.ops) {
      Collect(stages.Table(name), "ops",
              [&] { registry.MakeGrowthOperator(op.plugin, ContextFor(op.options)); });
    }
    if (s.eval.rewrite && text_.count(s.eval.rewrite->text)) {
      // The rewriter reads the model folder of the text table it names; only its options are
      // checked here.
      Options options = s.eval.rewrite->options.Subset();
      options.Set("path", "\"(the text table's model)\"");
      Collect(stages.Table(name), "rewrite", [&, &s = s] {
        registry.MakePromptRewriter(text_.at(s.eval.rewrite->text).plugin, ContextFor(options));
      });
    }
  }
}

void Manifest::NoteEvaluationCounts(const Options& doc,
                                    const std::map<std::string, int64_t>& sizes) {
  for (const auto& [name, s] : stages_) {
    if (s.kind != StageKind::kEvaluate) continue;
    const Options stage = doc.Table("stages").Table(name);
    for (const auto& [domain, id] : s.eval.domains) {
      auto size = sizes.find(id);
      if (size == sizes.end()) continue;
      for (const auto& [key, asked] :
           {std::pair{"loss_samples", s.eval.loss_samples}, std::pair{"samples", s.eval.samples}}) {
        if (asked <= size->second) continue;
        const std::string where =
            stage.Has(key) ? fmt::format("= {} ({})", asked, stage.Position(key).ToString())
                           : fmt::format("= {} (the default)", asked);
        notes_.push_back(fmt::format(
            "stages.{}.{} {} asks for more than data '{}' (domain '{}') holds: evaluation uses "
            "its {} samples",
            name, key, where, id, domain, size->second));
      }
    }
  }
}

void Manifest::CheckGrowth(const Options& doc, const PluginRegistry& registry) const {
  ModelInitDeviceScope meta{c10::Device(c10::DeviceType::Meta)};
  Options stages = doc.Table("stages");
  // A stage is rebuilt for every later grow stage that starts from it; say its problems once.
  std::set<std::string> reported;
  auto fail = [&](const std::string& stage, const std::string& key, const std::string& message) {
    if (reported.insert(stage + "\n" + key + "\n" + message).second) {
      stages.Table(stage).Fail(key, message);
    }
  };
  // Checks compute no losses: an operator that fits on data stops the simulation where it asks for
  // one (the run fits it for real). Without fit data it is given none, and says what it needs.
  class NoLossesInChecks : public GrowthData {
   public:
    torch::Tensor NextLoss(STDiT3Impl&) override {
      throw std::runtime_error("manifest checks compute no losses");
    }
    nlohmann::json Describe() const override { return nlohmann::json::object(); }
  } no_losses;
  // The model a stage ends with, rebuilt for each grow stage (growth edits it in place). nullptr
  // when it cannot be known without running (e.g. an operator that cannot be simulated).
  std::function<STDiT3(const std::string&)> model_after = [&](const std::string& name) -> STDiT3 {
    const StageSpec& s = stages_.at(name);
    if (s.kind == StageKind::kPretrain) {
      if (s.train.init.empty()) return STDiT3(model_config());
      std::filesystem::path config = std::filesystem::path(s.train.init) / "config.json";
      std::error_code ec;
      if (!std::filesystem::exists(config, ec)) {
        fail(name, "init",
             fmt::format("{} is not a checkpoint folder (no config.json)", s.train.init));
        return STDiT3(nullptr);
      }
      try {
        return STDiT3(
            STDiT3Config::FromJson(nlohmann::json::parse(ReadFile(config)), config.string()));
      } catch (const std::exception& e) {
        fail(name, "init", e.what());
        return STDiT3(nullptr);
      }
    }
    STDiT3 model = model_after(s.from);
    if (s.kind != StageKind::kGrow || !model) return model;
    for (size_t i = 0; i < s.grow.ops.size(); ++i) {
      const PluginSpec& op = s.grow.ops[i];
      std::string step = fmt::format("step {} ('{}')", i + 1, op.plugin);
      std::shared_ptr<GrowthOperator> instance;
      try {
        instance = registry.MakeGrowthOperator(op.plugin, ContextFor(op.options));
        instance->Check(*model);
      } catch (const InputError& e) {
        fail(name, "ops", fmt::format("{}: {}", step, e.what()));
        return STDiT3(nullptr);
      }
      try {
        GrowthContext context{*model, nullptr, 0, s.grow.fit.data.empty() ? nullptr : &no_losses};
        GrowthReport report;
        instance->Grow(context, report);
      } catch (const InputError& e) {
        fail(name, "ops", fmt::format("{}: {}", step, e.what()));
        return STDiT3(nullptr);
      } catch (const std::exception&) {
        // The operator needs real values to grow (it reads weights); later steps' checks cannot
        // run on a model we do not have. The run itself checks them.
        return STDiT3(nullptr);
      }
    }
    return model;
  };
  for (const std::string& name : stage_order_) {
    if (stages_.at(name).kind == StageKind::kGrow) model_after(name);
  }
}

}  // namespace modelgrow
