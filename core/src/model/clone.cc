#include "modelgrow/model/clone.h"

#include "modelgrow/model/linear.h"
#include "modelgrow/sdk/errors.h"

namespace modelgrow {

STDiT3 CloneModel(const STDiT3Impl& source) {
  STDiT3 clone(source.config());
  // Adapters first, so the parameter sets of both models have the same keys.
  auto modules = clone->named_modules();
  for (const auto& item : source.named_modules()) {
    auto* linear = dynamic_cast<const LinearImpl*>(item.value().get());
    if (linear == nullptr || !linear->has_lora()) continue;
    auto* target = dynamic_cast<LinearImpl*>(modules[item.key()].get());
    if (target == nullptr) throw RunError("CloneModel: no layer '" + item.key() + "' in the clone");
    target->AddLora(linear->lora_rank(), linear->lora_alpha(), linear->lora_dropout());
  }
  clone->to(source.device());
  torch::NoGradGuard no_grad;
  auto params = clone->named_parameters();
  for (const auto& item : source.named_parameters()) {
    torch::Tensor* target = params.find(item.key());
    if (target == nullptr || !target->sizes().equals(item.value().sizes())) {
      throw RunError("CloneModel: parameter '" + item.key() + "' does not match in the clone");
    }
    target->copy_(item.value());
    target->set_requires_grad(item.value().requires_grad());
  }
  auto buffers = clone->named_buffers();
  for (const auto& item : source.named_buffers()) {
    torch::Tensor* target = buffers.find(item.key());
    if (target == nullptr || !target->sizes().equals(item.value().sizes())) {
      throw RunError("CloneModel: buffer '" + item.key() + "' does not match in the clone");
    }
    target->copy_(item.value());
  }
  clone->train(source.is_training());
  clone->set_activation_checkpointing(source.activation_checkpointing());
  return clone;
}

}  // namespace modelgrow
