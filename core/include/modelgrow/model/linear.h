// A Linear layer with the hooks growth needs: optional LoRA adapters (keys `lora_A.weight`,
// `lora_B.weight` beside `weight`, as in a PEFT adapter file without its `base_model.model.`
// prefix) and the mixed-precision compute dtype of precision.h.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

namespace modelgrow {

class LinearImpl : public torch::nn::Module {
 public:
  LinearImpl(int64_t in_features, int64_t out_features, bool bias = true);

  torch::Tensor forward(const torch::Tensor& x);

  int64_t in_features() const { return weight.size(1); }
  int64_t out_features() const { return weight.size(0); }

  // Replaces weight (and bias) with tensors of new shapes; used by width growth.
  void Reset(torch::Tensor new_weight, torch::Tensor new_bias);

  // LoRA: y = W x + b + (alpha / rank) * B A dropout(x), with B = 0 so the output is unchanged.
  // A gets Kaiming-uniform init as in PEFT. Throws InputError if rank exceeds min(in, out).
  void AddLora(int64_t rank, double alpha, double dropout);
  bool has_lora() const { return lora_rank_ > 0; }
  int64_t lora_rank() const { return lora_rank_; }
  double lora_alpha() const { return lora_alpha_; }
  double lora_dropout() const { return lora_dropout_; }
  // Folds B A * scale into W and removes the adapters.
  void MergeLora();

  // Masked structural growth: inputs from `first` on are multiplied by `value` (new units fading
  // in). first = -1 removes the mask.
  void SetInputMask(int64_t first, double value);
  int64_t input_mask_first() const { return mask_first_; }
  double input_mask_value() const { return mask_value_; }

  torch::Tensor weight;
  torch::Tensor bias;

 private:
  int64_t lora_rank_ = 0;
  double lora_alpha_ = 0;
  double lora_dropout_ = 0;
  int64_t mask_first_ = -1;
  double mask_value_ = 1;
  std::shared_ptr<torch::nn::Module> lora_a_, lora_b_;
};
TORCH_MODULE(Linear);

// x W^T + b in the current compute dtype (precision.h), with fp32 weights cast on the way.
torch::Tensor LinearForward(const torch::Tensor& x, const torch::Tensor& weight,
                            const torch::Tensor& bias);

}  // namespace modelgrow
