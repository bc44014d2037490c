// The training loss as data for growth operators that learn how to grow (LiGO fits its growth
// matrices on it): successive batches of a loader, with captions, dropout, timesteps and noise
// drawn exactly as a training stage with the same spec and seed draws them.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <c10/core/Device.h>

#include "modelgrow/data/loader.h"
#include "modelgrow/diffusion/rectified_flow.h"
#include "modelgrow/sdk/growth_operator.h"
#include "modelgrow/text/condition_text.h"
#include "modelgrow/text/text_cache.h"
#include "modelgrow/train/train_spec.h"

namespace modelgrow {

struct TrainingLossSetup {
  DataLoader* loader = nullptr;  // one process: unsharded, batches of spec.batch_size
  TrainSpec spec;                // data, caption, caption_dropout, frame_mask_prob, flow, precision
  uint64_t seed = 0;
  c10::Device device = c10::Device(c10::DeviceType::CPU);
  std::map<std::string, StoredTextInfo> stored_text;  // the loader's pipeline's stored_text()
  // The encoders of a model's conditions, in order (the host's text-encoder caches).
  std::function<std::vector<TextEncoderCache*>(const STDiT3Impl& model)> encoders;
};

class TrainingLossSource : public GrowthData {
 public:
  explicit TrainingLossSource(TrainingLossSetup setup);
  torch::Tensor NextLoss(STDiT3Impl& model) override;
  nlohmann::json Describe() const override;
  int64_t batches() const { return batches_; }
  // Training FLOPs of the losses taken so far (model/flops.h, each at its model's size): what a
  // fitting operator spent, for compute tables.
  double flops() const { return flops_; }

 private:
  TrainingLossSetup setup_;
  RectifiedFlow flow_;
  std::vector<std::string> condition_names_;  // of the model conditions_ were made for
  std::vector<ConditionText> conditions_;
  int64_t batches_ = 0;
  double flops_ = 0;
};

}  // namespace modelgrow
