// An operator that keeps acting during the training after growth: MSG's mask ramp, and schedules
// built like it (LEMON's alpha/beta split would ramp masks the same way; gradual unfreezing
// pauses and resumes parameters).
//
// A growth operator that needs one says so in its GrowthReport (`training_hook`: the hook's first
// state). The host writes {"op", "options", "state"} into the grown checkpoint as
// training_hook.json; the training stage that starts from that checkpoint asks the same operator,
// built from the same options, for the hook (GrowthOperator::ResumeTrainingHook), calls
// BeforeStep before every optimizer step, and saves State() with every checkpoint it writes, so a
// resumed run, or the next stage, continues the hook exactly where it was. When Finished() says
// so, the trainer calls Remove() and later checkpoints carry no hook.
#pragma once

#include <nlohmann/json.hpp>

#include "modelgrow/sdk/model.h"

namespace modelgrow {

class TrainingHook {
 public:
  virtual ~TrainingHook() = default;
  // Before an optimizer step: may change growth masks (STDiT3Impl::SetGrowthMasks) and pause or
  // resume training of parameters (set_requires_grad), never tensor shapes. Each call is one step
  // of the hook's own schedule. The optimizer covers the parameters trainable when the stage
  // started: a hook may pause and resume those (gradual unfreezing: a paused parameter gets no
  // gradient and AdamW leaves it and its moments as they are), not start one frozen before.
  // Checkpoints record the stage's starting flags; the hook's state says what it paused.
  virtual void BeforeStep(STDiT3Impl& model) = 0;
  // After a BeforeStep: whether the model as it now is equals the model without the hook.
  virtual bool Finished() const = 0;
  // Leaves the model plain (no masks, the hook's flags undone).
  virtual void Remove(STDiT3Impl& model) = 0;
  // Everything ResumeTrainingHook needs to continue from here (JSON: it is written beside the
  // checkpoint; doubles round-trip exactly).
  virtual nlohmann::json State() const = 0;
};

// The record a checkpoint carries while a hook is active.
inline constexpr const char* kTrainingHookFile = "training_hook.json";

}  // namespace modelgrow
