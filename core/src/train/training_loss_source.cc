#include "modelgrow/train/training_loss_source.h"

#include <fmt/format.h>

#include "modelgrow/model/flops.h"
#include "modelgrow/model/precision.h"
#include "modelgrow/sdk/errors.h"
#include "step_input.h"

namespace modelgrow {

TrainingLossSource::TrainingLossSource(TrainingLossSetup setup)
    : setup_(std::move(setup)), flow_(setup_.spec.flow) {
  if (setup_.loader == nullptr || !setup_.encoders) {
    throw RunError("a training loss source needs a loader and the model's text encoders");
  }
  const LoaderOptions& lo = setup_.loader->options();
  if (lo.shards != 1 || lo.batch_size != setup_.spec.batch_size) {
    throw RunError(
        fmt::format("a training loss source reads whole batches of {}, not part {} of {} "
                    "of batches of {}",
                    setup_.spec.batch_size, lo.shard, lo.shards, lo.batch_size));
  }
}

torch::Tensor TrainingLossSource::NextLoss(STDiT3Impl& model) {
  // Conditions are made for the model's condition list; an operator keeps it, but a step before
  // it may have added one.
  if (model.config().ConditionNames() != condition_names_) {
    conditions_ = TrainingConditions(model, setup_.encoders(model), setup_.stored_text);
    condition_names_ = model.config().ConditionNames();
  }
  Batch batch = setup_.loader->Next();
  StepInput s =
      MakeStepInput(batch, setup_.spec, setup_.seed, setup_.device, conditions_, model, flow_);
  ++batches_;
  flops_ += TrainingFlopsPerSample(model.config(), batch.video.size(2), batch.video.size(3),
                                   batch.video.size(4)) *
            static_cast<double>(batch.size());
  PrecisionScope precision(setup_.spec.precision == "bf16" ? at::kBFloat16 : at::kFloat);
  return flow_.TrainingLoss(model, s.input, s.noise, s.timesteps, s.frame_mask).mean();
}

nlohmann::json TrainingLossSource::Describe() const {
  return {{"data", setup_.spec.data},
          {"batch_size", setup_.spec.batch_size},
          {"caption", setup_.spec.caption},
          {"caption_dropout", setup_.spec.caption_dropout},
          {"batches", batches_},
          {"flops", flops_}};
}

}  // namespace modelgrow
