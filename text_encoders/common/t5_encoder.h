// The T5 v1.1 encoder (Hugging Face's T5EncoderModel): what Open-Sora conditions on. Module
// names mirror the Hugging Face keys, so named_parameters() are the safetensors names.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/pimpl.h>
#include <nlohmann/json.hpp>

#include "modelgrow/sdk/model.h"  // Linear, RMSNorm, PrecisionScope

namespace modelgrow {

class HfConfig;

struct T5Config {
  int64_t vocab_size = 32128;
  int64_t d_model = 4096;
  int64_t d_kv = 64;
  int64_t d_ff = 10240;
  int64_t num_layers = 24;
  int64_t num_heads = 64;
  int64_t relative_attention_num_buckets = 32;
  int64_t relative_attention_max_distance = 128;
  double layer_norm_epsilon = 1e-6;
  // From feed_forward_proj: "gated-gelu" (v1.1) -> gated, "gelu_new"; "relu" (v1.0) -> not gated.
  bool gated = true;
  std::string activation = "gelu_new";  // relu | gelu | gelu_new | silu
  std::string feed_forward_proj = "gated-gelu";

  // From a config.json; InputError naming the file and key for a bad or unsupported value.
  static T5Config FromHf(const HfConfig& config);
  // The config.json fields Hugging Face's T5Config needs for a T5EncoderModel.
  nlohmann::json ToHfJson() const;
};

// Bidirectional relative position buckets (T5's `_relative_position_bucket`): [q_len, k_len].
at::Tensor T5RelativePositionBuckets(int64_t q_len, int64_t k_len, int64_t num_buckets,
                                     int64_t max_distance);

class T5AttentionImpl : public torch::nn::Module {
 public:
  T5AttentionImpl(const T5Config& config, bool has_relative_bias);
  // x: [B, L, D]; bias: [B or 1, H, L, L] (position bias plus the key mask).
  at::Tensor forward(const at::Tensor& x, const at::Tensor& bias);
  // [1, H, L, L] from this layer's relative_attention_bias table.
  at::Tensor PositionBias(int64_t length);

  Linear q{nullptr}, k{nullptr}, v{nullptr}, o{nullptr};
  torch::nn::Embedding relative_attention_bias{nullptr};

 private:
  T5Config config_;
};
TORCH_MODULE(T5Attention);

class T5BlockImpl : public torch::nn::Module {
 public:
  T5BlockImpl(const T5Config& config, bool has_relative_bias);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& bias);

  // Registered as layer.0.{SelfAttention, layer_norm} and layer.1.{DenseReluDense.{wi_0, wi_1,
  // wo} (or {wi, wo} when not gated), layer_norm}.
  T5Attention attention{nullptr};
  RMSNorm attention_norm{nullptr}, ff_norm{nullptr};
  Linear wi_0{nullptr}, wi_1{nullptr}, wo{nullptr};

 private:
  T5Config config_;
};
TORCH_MODULE(T5Block);

class T5EncoderImpl : public torch::nn::Module {
 public:
  explicit T5EncoderImpl(const T5Config& config);
  // ids, mask: [B, L] (mask true = a real token). Returns the last hidden state [B, L, D] in
  // float32, after the final layer norm (HF's last_hidden_state).
  at::Tensor forward(const at::Tensor& ids, const at::Tensor& mask);

  const T5Config& config() const { return config_; }
  // Weights are held and multiplied in this dtype (float32 or bfloat16); norms and softmax run
  // in float32 either way.
  c10::ScalarType dtype() const { return dtype_; }
  void set_dtype(c10::ScalarType dtype);

  torch::nn::Embedding shared{nullptr};
  std::vector<T5Block> blocks;        // encoder.block.{i}
  RMSNorm final_layer_norm{nullptr};  // encoder.final_layer_norm

 private:
  T5Config config_;
  c10::ScalarType dtype_ = c10::ScalarType::Float;
};
TORCH_MODULE(T5Encoder);

// Loads a Hugging Face T5 / T5EncoderModel / T5ForConditionalGeneration folder (single file or
// shards). Only the encoder's tensors are read. InputError for a missing or foreign config,
// missing or misshapen tensors (all named at once).
T5Encoder LoadT5Encoder(const std::filesystem::path& folder,
                        c10::ScalarType dtype = c10::ScalarType::Float,
                        c10::Device device = c10::Device(c10::DeviceType::CPU));

}  // namespace modelgrow
