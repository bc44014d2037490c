// The host side of growth: check, probe, grow, probe again, and account for every parameter and
// optimizer-state entry. Operators only change the model; everything measured here is measured
// the same way for all of them.
#include "modelgrow/growth/grow.h"

#include <chrono>
#include <unordered_map>

#include <fmt/format.h>

#include "modelgrow/sdk/errors.h"

namespace modelgrow {

using json = nlohmann::json;

namespace {

// Tensor identity, not name: a block moved by SetBlocks keeps its tensors under new keys.
using IdentityMap = std::unordered_map<const c10::TensorImpl*, std::string>;

IdentityMap ParameterIdentities(const STDiT3Impl& model) {
  IdentityMap ids;
  for (const auto& item : model.named_parameters()) {
    ids.emplace(item.value().unsafeGetTensorImpl(), item.key());
  }
  return ids;
}

// Re-keys the state to the grown model's names. Entries follow their tensor; they are dropped
// when the tensor is gone, frozen (the trainer keeps no state for it), or has another shape than
// its moments (an operator that reshapes a tensor and wants its state kept transforms it).
void RekeyOptimizerState(const STDiT3Impl& model, const IdentityMap& before, OptimizerState& state,
                         GrowthReport& report) {
  if (report.optimizer_state == OptimizerStatePolicy::kReset) {
    report.optimizer_entries_dropped = static_cast<int64_t>(state.size());
    state.clear();
    return;
  }
  OptimizerState next;
  for (const auto& item : model.named_parameters()) {
    auto id = before.find(item.value().unsafeGetTensorImpl());
    if (id == before.end()) continue;
    auto entry = state.find(id->second);
    if (entry == state.end()) continue;
    const ParameterState& s = entry->second;
    bool shape_ok = s.exp_avg.defined() && s.exp_avg_sq.defined() &&
                    s.exp_avg.sizes().equals(item.value().sizes()) &&
                    s.exp_avg_sq.sizes().equals(item.value().sizes());
    if (item.value().requires_grad() && shape_ok) next.emplace(item.key(), s);
  }
  report.optimizer_entries_carried = static_cast<int64_t>(next.size());
  report.optimizer_entries_dropped = static_cast<int64_t>(state.size() - next.size());
  state = std::move(next);
}

json OptionsJson(const Options& options) {
  json j = json::parse(options.ToJson(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return json::object();
  j.erase("op");
  return j;
}

std::string StepName(size_t index, const GrowthStep& step) {
  return fmt::format("grow step {} ('{}')", index + 1, step.op);
}

}  // namespace

std::vector<GrowthReport> GrowModel(STDiT3Impl& model, const std::vector<GrowthStep>& steps,
                                    OptimizerState* optimizer_state, uint64_t seed,
                                    const ProbeOptions& probe, GrowthData* data) {
  for (const GrowthStep& step : steps) {
    if (step.instance == nullptr) {
      throw RunError(fmt::format("growth step '{}' has no operator instance", step.op));
    }
  }
  std::vector<GrowthReport> reports;
  for (size_t i = 0; i < steps.size(); ++i) {
    GrowthOperator& op = *steps[i].instance;
    try {
      op.Check(model);
    } catch (const ValidationError&) {
      throw;
    } catch (const InputError& e) {
      throw InputError(fmt::format("{}: {}", StepName(i, steps[i]), e.what()));
    }

    GrowthReport report;
    report.op = steps[i].op;
    report.options = OptionsJson(steps[i].options);
    report.params_before = model.NumParameters();
    IdentityMap before = ParameterIdentities(model);
    ProbeOutputs base_out = RunProbe(model, probe);

    GrowthContext context{model, optimizer_state, seed + i, data};
    auto start = std::chrono::steady_clock::now();
    try {
      op.Grow(context, report);
    } catch (const InputError& e) {
      throw InputError(fmt::format("{}: {}", StepName(i, steps[i]), e.what()));
    }
    report.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    report.params_after = model.NumParameters();
    report.trainable_after = model.NumTrainableParameters();
    for (const auto& item : model.named_parameters()) {
      if (!before.contains(item.value().unsafeGetTensorImpl())) {
        report.new_parameters.push_back(item.key());
      }
      if (!item.value().requires_grad()) report.frozen_parameters.push_back(item.key());
    }
    if (optimizer_state != nullptr) RekeyOptimizerState(model, before, *optimizer_state, report);
    report.preservation = ComparePreservation(base_out, RunProbe(model, probe), probe);
    reports.push_back(std::move(report));
  }
  return reports;
}

json GrowthReportsToJson(const std::vector<GrowthReport>& reports) {
  json steps = json::array();
  for (const GrowthReport& r : reports) steps.push_back(r.ToJson());
  json j = {{"format", "modelgrow.growth_report"}, {"version", 1}, {"steps", steps}};
  if (!reports.empty()) {
    j["params_before"] = reports.front().params_before;
    j["params_after"] = reports.back().params_after;
    j["trainable_after"] = reports.back().trainable_after;
  }
  return j;
}

ProbeOptions ProbeOptions::FromOptions(const Options& t) {
  ProbeOptions p;
  p.seed = static_cast<uint64_t>(t.Int("seed", static_cast<int64_t>(p.seed), {.min = 0}));
  p.batch = t.Int("batch", p.batch, {.min = 1, .max = 64});
  p.frames = t.Int("frames", p.frames, {.min = 1, .max = 256});
  p.height = t.Int("height", p.height, {.min = 1, .max = 4096});
  p.width = t.Int("width", p.width, {.min = 1, .max = 4096});
  p.timesteps = t.DoubleList("timesteps", p.timesteps);
  for (double ts : p.timesteps) {
    if (!(ts >= 0 && ts <= 1000)) t.Fail("timesteps", fmt::format("{} is outside [0, 1000]", ts));
  }
  if (p.timesteps.empty()) t.Fail("timesteps", "needs at least one timestep");
  p.measure_bf16 = t.Bool("bf16", p.measure_bf16);
  t.RejectUnknownKeys();
  return p;
}

}  // namespace modelgrow
