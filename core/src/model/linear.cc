#include "modelgrow/model/linear.h"
#include "modelgrow/model/init_device.h"

#include <cmath>

#include <fmt/format.h>
#include <torch/nn/functional/dropout.h>
#include <torch/nn/init.h>

#include "modelgrow/model/precision.h"
#include "modelgrow/sdk/errors.h"

namespace modelgrow {

namespace {

// Holds one LoRA matrix so its key reads `lora_A.weight`, as PEFT writes it.
struct LoraMatrix : torch::nn::Module {
  explicit LoraMatrix(torch::Tensor w) { weight = register_parameter("weight", std::move(w)); }
  torch::Tensor weight;
};

}  // namespace

torch::Tensor LinearForward(const torch::Tensor& x, const torch::Tensor& weight,
                            const torch::Tensor& bias) {
  c10::ScalarType dtype = ComputeDtype();
  if (dtype == weight.scalar_type() && x.scalar_type() == dtype) {
    return torch::linear(x, weight, bias);
  }
  return torch::linear(x.to(dtype), weight.to(dtype), bias.defined() ? bias.to(dtype) : bias);
}

LinearImpl::LinearImpl(int64_t in_features, int64_t out_features, bool with_bias) {
  weight =
      register_parameter("weight", torch::empty({out_features, in_features}, ModelInitOptions()));
  torch::nn::init::xavier_uniform_(weight);
  if (with_bias)
    bias = register_parameter("bias", torch::zeros({out_features}, ModelInitOptions()));
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x_in) {
  torch::Tensor x = x_in;
  if (mask_first_ >= 0) {
    torch::Tensor mask = torch::ones({x.size(-1)}, x.options());
    mask.slice(0, mask_first_).fill_(mask_value_);
    x = x * mask;
  }
  torch::Tensor y = LinearForward(x, weight, bias);
  if (lora_rank_ > 0) {
    torch::Tensor h = x;
    if (lora_dropout_ > 0 && is_training()) {
      h = torch::nn::functional::dropout(
          h, torch::nn::functional::DropoutFuncOptions().p(lora_dropout_).training(true));
    }
    auto* a = static_cast<LoraMatrix*>(lora_a_.get());
    auto* b = static_cast<LoraMatrix*>(lora_b_.get());
    torch::Tensor delta = LinearForward(LinearForward(h, a->weight, {}), b->weight, {});
    y = y + delta * (lora_alpha_ / static_cast<double>(lora_rank_));
  }
  return y;
}

void LinearImpl::Reset(torch::Tensor new_weight, torch::Tensor new_bias) {
  // set_data keeps the registered tensors (and their identity) while changing their shape.
  torch::NoGradGuard no_grad;
  weight.set_data(new_weight);
  if (bias.defined() && new_bias.defined()) bias.set_data(new_bias);
}

void LinearImpl::SetInputMask(int64_t first, double value) {
  if (first >= in_features()) {
    throw InputError(
        fmt::format("an input mask from input {} of a layer with {} inputs", first, in_features()));
  }
  mask_first_ = first < 0 ? -1 : first;
  mask_value_ = first < 0 ? 1.0 : value;
}

void LinearImpl::AddLora(int64_t rank, double alpha, double dropout) {
  int64_t limit = std::min(in_features(), out_features());
  if (rank <= 0 || rank > limit) {
    throw InputError(fmt::format("LoRA rank {} is out of range for a {}x{} matrix (1..{})", rank,
                                 out_features(), in_features(), limit));
  }
  if (has_lora()) throw InputError("this layer already has LoRA adapters");
  auto options = weight.options();
  torch::Tensor a = torch::empty({rank, in_features()}, options);
  torch::nn::init::kaiming_uniform_(a, std::sqrt(5.0));
  lora_a_ = register_module("lora_A", std::make_shared<LoraMatrix>(a));
  lora_b_ = register_module(
      "lora_B", std::make_shared<LoraMatrix>(torch::zeros({out_features(), rank}, options)));
  lora_rank_ = rank;
  lora_alpha_ = alpha;
  lora_dropout_ = dropout;
}

void LinearImpl::MergeLora() {
  if (!has_lora()) return;
  torch::NoGradGuard no_grad;
  auto* a = static_cast<LoraMatrix*>(lora_a_.get());
  auto* b = static_cast<LoraMatrix*>(lora_b_.get());
  weight.add_(torch::mm(b->weight, a->weight) * (lora_alpha_ / static_cast<double>(lora_rank_)));
  unregister_module("lora_A");
  unregister_module("lora_B");
  lora_a_.reset();
  lora_b_.reset();
  lora_rank_ = 0;
}

}  // namespace modelgrow
