// `grow` stages: the previous stage's checkpoint grown by the stage's operators through the same
// GrowCheckpoint that `modelgrow grow` runs.
#include <iostream>

#include <fmt/format.h>

#include "modelgrow/data/loader.h"
#include "modelgrow/growth/grow_checkpoint.h"
#include "modelgrow/train/training_loss_source.h"
#include "run_context.h"

namespace modelgrow {

namespace fs = std::filesystem;
using json = nlohmann::json;

json RunContext::GrowStage(const StageSpec& s, const fs::path& dir) {
  // Growth takes seconds, not hours: rank 0 grows and writes the checkpoint while the other ranks
  // wait, then every rank loads it in the next stage. Growing on every rank would need every
  // operator to be deterministic across processes and would write the same folder N times.
  std::string info = comm_.OnRoot(fmt::format("run/{}/grow/{}", run_.id, s.name), [&] {
    std::vector<std::pair<std::string, Options>> ops;
    for (const PluginSpec& op : s.grow.ops) ops.emplace_back(op.plugin, op.options.Subset());
    GrowCheckpointRequest request;
    request.input = dirs_.at(s.from) / "checkpoint";
    request.output = dir / "checkpoint";
    request.steps = MakeGrowthSteps(registry_, ops, device_);
    request.seed = run_.seed;
    request.device = device_;
    request.probe = s.grow.probe;
    request.overwrite = true;  // a folder left by an interrupted attempt of this same stage
    // Fit data for operators that learn how to grow: the whole batch on this one rank.
    std::unique_ptr<DataLoader> loader;
    std::unique_ptr<TrainingLossSource> fit;
    if (!s.grow.fit.data.empty()) {
      LoaderOptions lo;
      lo.batch_size = s.grow.fit.batch_size;
      lo.seed = run_.seed;
      lo.workers = s.grow.fit.workers;
      std::shared_ptr<DataPipeline> data = Data(s.grow.fit.data);
      loader = std::make_unique<DataLoader>(data, lo);
      TrainingLossSetup setup;
      setup.loader = loader.get();
      setup.spec = s.grow.fit;
      setup.seed = run_.seed;
      setup.device = device_;
      setup.stored_text = data->stored_text();
      setup.encoders = [this](const STDiT3Impl& model) { return Encoders(model); };
      fit = std::make_unique<TrainingLossSource>(std::move(setup));
      request.data = fit.get();
    }
    request.finish = [&](STDiT3Impl& model, int64_t conditions_before) {
      ApplyNullPolicies(model, conditions_before);
      return Meta(model, s).provenance;
    };
    GrowCheckpointResult result = GrowCheckpoint(request);
    for (const GrowthReport& r : result.reports) {
      std::cerr << fmt::format(
          "   {}: {} -> {} parameters ({} trainable), preservation max rel {:.1e}\n", r.op,
          r.params_before, r.params_after, r.trainable_after, r.preservation.max_rel);
    }
    double worst = 0;
    for (const GrowthReport& r : result.reports) worst = std::max(worst, r.preservation.max_rel);
    AppendMetrics(dir, s.name,
                  {{"metrics",
                    {{"params", result.params},
                     {"trainable", result.trainable},
                     {"preservation_max_rel", worst}}}});
    json info = {
        {"params", result.params}, {"trainable", result.trainable}, {"growth", result.report}};
    // Fitting is training compute: the report's compute tables count it with the run's.
    if (fit) info["flops"] = {{"total", fit->flops()}, {"fit_batches", fit->batches()}};
    return info.dump();
  });
  return json::parse(info);
}

}  // namespace modelgrow
