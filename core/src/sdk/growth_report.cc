// JSON forms of a growth step's report (one entry of growth_report.json).
#include <cmath>

#include "modelgrow/sdk/growth_operator.h"

namespace modelgrow {

using json = nlohmann::json;

const char* OptimizerStatePolicyName(OptimizerStatePolicy policy) {
  switch (policy) {
    case OptimizerStatePolicy::kCarried:
      return "carried";
    case OptimizerStatePolicy::kReset:
      return "reset";
    case OptimizerStatePolicy::kTransformed:
      return "transformed";
  }
  return "unknown";
}

namespace {

// JSON has no NaN: a NaN error (a grown model that produced NaN) is written as the string "nan"
// so it is never mistaken for "not measured".
json Number(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  return value;
}

}  // namespace

json PreservationError::ToJson() const {
  const PreservationError& e = *this;
  if (e.probe_samples == 0) return {{"measured", false}};
  json j = {{"measured", true},
            {"max_abs", Number(e.max_abs)},
            {"max_rel", Number(e.max_rel)},
            {"dtype", "float32"},
            {"probe_samples", e.probe_samples},
            {"timesteps", e.timesteps},
            {"with_frame_mask", e.with_frame_mask}};
  if (e.max_abs_bf16 >= 0 || std::isnan(e.max_abs_bf16)) j["max_abs_bf16"] = Number(e.max_abs_bf16);
  return j;
}

json GrowthReport::ToJson() const {
  json j = {{"op", op},
            {"options", options},
            {"claims_preserving", claims_preserving},
            {"params_before", params_before},
            {"params_after", params_after},
            {"trainable_after", trainable_after},
            {"new_parameters", new_parameters},
            {"frozen_parameters", frozen_parameters},
            {"preservation", preservation.ToJson()},
            {"optimizer_state",
             {{"policy", OptimizerStatePolicyName(optimizer_state)},
              {"note", optimizer_note},
              {"entries_carried", optimizer_entries_carried},
              {"entries_dropped", optimizer_entries_dropped}}},
            {"seconds", seconds},
            {"details", details}};
  if (!training_hook.is_null()) j["training_hook"] = training_hook;
  return j;
}

}  // namespace modelgrow
