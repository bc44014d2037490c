// The host side of growth: check, probe, grow, probe again, and account for every parameter and
// optimizer-state entry. Operators only change the model; everything measured here is measured
// the same way for all of them.
#include "modelgrow/growth/grow.h"

#include <chrono>
#include <unordered_map>

#include <fmt/format.h>

#include "modelgrow/base/errors.h"

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

std::vector<GrowthReport> GrowModel(const PluginRegistry& registry, STDiT3Impl& model,
                                    const std::vector<GrowthStep>& steps,
                                    OptimizerState* optimizer_state, uint64_t seed,
                                    const ProbeOptions& probe) {
  // Every operator is made (and its options validated) before the first one runs, so a typo in
  // step 3 is reported before steps 1 and 2 have spent their time.
  std::vector<std::shared_ptr<GrowthOperator>> operators;
  std::vector<uint64_t> seeds;
  for (size_t i = 0; i < steps.size(); ++i) {
    PluginContext context{steps[i].options, {}, model.device(), seed + i};
    seeds.push_back(context.seed);
    operators.push_back(registry.MakeGrowthOperator(steps[i].op, context));
  }

  std::vector<GrowthReport> reports;
  for (size_t i = 0; i < steps.size(); ++i) {
    GrowthOperator& op = *operators[i];
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

    GrowthContext context{model, optimizer_state, seeds[i]};
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

std::vector<GrowthStep> GrowthStepsFromOptions(const Options& table, std::string_view key) {
  std::vector<GrowthStep> steps;
  if (!table.Has(key)) {
    table.Fail(key, "missing: a grow stage lists its operators, e.g. ops = [{op = \"stack\"}]");
    return steps;
  }
  std::vector<Options> tables = table.TableArray(key);
  if (tables.empty()) table.Fail(key, "expected at least one operator");
  for (const Options& t : tables) {
    std::string op = t.RequireString("op");
    if (!op.empty()) steps.push_back({op, t});
  }
  return steps;
}

}  // namespace modelgrow
