// What one training step feeds the model, drawn from a batch: shared by the trainer and by the
// losses growth operators fit on (training_loss_source.h), so both draw alike.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <c10/core/Device.h>

#include "modelgrow/data/loader.h"
#include "modelgrow/diffusion/rectified_flow.h"
#include "modelgrow/model/stdit3.h"
#include "modelgrow/text/condition_text.h"
#include "modelgrow/text/text_cache.h"
#include "modelgrow/train/train_spec.h"

namespace modelgrow {

struct StepInput {
  ModelInput input;
  at::Tensor noise;
  at::Tensor timesteps;
  at::Tensor frame_mask;
};

// The model's conditions, each with its encoder (checked against what the model expects: an
// InputError names the condition) and the embeddings the data carry. The data are the set an
// index-keyed encoder indexes.
std::vector<ConditionText> TrainingConditions(const STDiT3Impl& model,
                                              const std::vector<TextEncoderCache*>& text,
                                              const std::map<std::string, StoredTextInfo>& stored);

// Every condition `spec.condition_dropout` names is one of the model's; otherwise an InputError
// that starts with `where` (the stage) and lists the model's conditions.
void CheckConditionDropout(const STDiT3Impl& model, const TrainSpec& spec,
                           const std::string& where);

// The model input, noise, timesteps and frame mask of one batch: captions chosen and dropped,
// frames masked, timesteps and noise drawn per sample from a generator keyed by `seed` and the
// sample's global number.
StepInput MakeStepInput(const Batch& batch, const TrainSpec& spec, uint64_t seed,
                        c10::Device device, const std::vector<ConditionText>& conditions,
                        const STDiT3Impl& model, const RectifiedFlow& flow);

}  // namespace modelgrow
