// A Llama-family decoder (Llama 2/3, Qwen2, Mistral layouts) as Hugging Face's LlamaModel /
// LlamaForCausalLM computes it. Used as a text encoder (a chosen hidden state over a templated
// prompt) and, for the toolkit's tiny experiment models, trained with next-token loss. Module
// names mirror the Hugging Face keys of a *ForCausalLM folder ("model.layers.0....", "lm_head").
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
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

// How rotary frequencies are derived from rope_theta (Hugging Face's rope_type).
struct RopeScaling {
  std::string type = "default";  // default | linear | llama3
  double factor = 1.0;
  double low_freq_factor = 1.0;                     // llama3
  double high_freq_factor = 4.0;                    // llama3
  int64_t original_max_position_embeddings = 8192;  // llama3
};

struct LlamaConfig {
  std::string model_type = "llama";  // llama | qwen2 | mistral
  int64_t vocab_size = 32000;
  int64_t hidden_size = 4096;
  int64_t intermediate_size = 11008;
  int64_t num_hidden_layers = 32;
  int64_t num_attention_heads = 32;
  int64_t num_key_value_heads = 32;
  int64_t head_dim = 128;
  double rms_norm_eps = 1e-5;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  int64_t max_position_embeddings = 4096;
  bool qkv_bias = false;  // Qwen2; Llama's attention_bias
  bool o_bias = false;    // Llama's attention_bias
  bool mlp_bias = false;
  bool tie_word_embeddings = false;
  int64_t sliding_window = 0;        // 0: none
  std::vector<bool> sliding_layers;  // per layer: whether the window applies
  int64_t bos_token_id = 1;
  int64_t eos_token_id = 2;

  // From a config.json: top-level rope_theta / rope_scaling (Llama 2/3, Qwen2 folders) or
  // transformers 5's rope_parameters. InputError naming the file and key for what is not
  // supported.
  static LlamaConfig FromHf(const HfConfig& config);
  // config.json for a *ForCausalLM folder that Hugging Face transformers loads.
  nlohmann::json ToHfJson() const;
};

// Rotary inverse frequencies [head_dim / 2] (float32), with the config's rope scaling applied.
at::Tensor LlamaRotaryInverseFrequencies(const LlamaConfig& config);

// The keys and values every layer computed for the tokens decoded so far, so that generating a
// token runs the model on that token alone.
struct LlamaKvCache {
  std::vector<at::Tensor> keys, values;  // per layer: [B, kv_heads, length, head_dim]
  int64_t length = 0;                    // tokens held
};

class LlamaLayerImpl : public torch::nn::Module {
 public:
  explicit LlamaLayerImpl(const LlamaConfig& config, bool sliding);
  // x: [B, L, D]; cos, sin: [L, head_dim]; bias: [B, 1, L, L] additive mask (float32).
  at::Tensor forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                     const at::Tensor& bias);
  // The same for L new tokens after the cached ones: cos, sin [L, head_dim] of their positions,
  // bias [B, 1, L, cached + L]. Appends the new keys and values to `keys` / `values` (undefined
  // when nothing is cached yet).
  at::Tensor ForwardCached(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                           const at::Tensor& bias, at::Tensor& keys, at::Tensor& values);
  bool sliding() const { return sliding_; }

  Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};

 private:
  at::Tensor Attend(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                    const at::Tensor& bias, at::Tensor* keys, at::Tensor* values);
  LlamaConfig config_;
  bool sliding_;
};
TORCH_MODULE(LlamaLayer);

class LlamaDecoderImpl : public torch::nn::Module {
 public:
  // with_lm_head: also the output projection (for training); tied configs reuse the embedding.
  LlamaDecoderImpl(const LlamaConfig& config, bool with_lm_head);

  // Hugging Face's hidden_states[index] (python indexing over num_hidden_layers + 1 entries):
  // 0 = the embeddings, k = the output of layer k, the last (-1) = after the final norm. Only
  // the layers needed are run. Returns float32 [B, L, D].
  at::Tensor HiddenState(const at::Tensor& ids, const at::Tensor& mask, int64_t index);
  // All num_hidden_layers + 1 hidden states.
  std::vector<at::Tensor> HiddenStates(const at::Tensor& ids, const at::Tensor& mask);
  // Next-token logits [B, L, vocab] (needs the lm_head).
  at::Tensor Logits(const at::Tensor& ids, const at::Tensor& mask);
  // Next-token logits [B, L, vocab] of `ids` [B, L] (no padding) following the tokens in
  // `cache`, whose keys and values are appended: the first call reads a whole prompt, each
  // later one the token just chosen. Equal to Logits() over the whole sequence up to float
  // rounding.
  at::Tensor LogitsCached(const at::Tensor& ids, LlamaKvCache& cache);

  const LlamaConfig& config() const { return config_; }
  bool has_lm_head() const { return with_lm_head_; }
  c10::ScalarType dtype() const { return dtype_; }
  void set_dtype(c10::ScalarType dtype);
  // A valid python-style hidden-state index resolved to 0..num_hidden_layers; InputError for
  // one out of range.
  int64_t ResolveHiddenIndex(int64_t index) const;

  torch::nn::Embedding embed_tokens{nullptr};  // model.embed_tokens
  std::vector<LlamaLayer> layers;              // model.layers.{i}
  RMSNorm norm{nullptr};                       // model.norm
  Linear lm_head{nullptr};                     // lm_head (absent when tied)

 private:
  // Runs up to and including hidden state `stop` (0..N); collects all when `all` is set.
  std::vector<at::Tensor> Run(const at::Tensor& ids, const at::Tensor& mask, int64_t stop,
                              bool all);
  LlamaConfig config_;
  bool with_lm_head_;
  c10::ScalarType dtype_ = c10::ScalarType::Float;
  at::Tensor inv_freq_;
};
TORCH_MODULE(LlamaDecoder);

// Loads a Llama / Qwen2 / Mistral folder: *ForCausalLM keys ("model." prefix, lm_head) or a bare
// *Model ("embed_tokens.weight", ...); single file or shards. The lm_head is read only when
// with_lm_head. InputError for a missing or foreign config and for missing or misshapen tensors
// (all named at once).
LlamaDecoder LoadLlamaDecoder(const std::filesystem::path& folder, bool with_lm_head = false,
                              c10::ScalarType dtype = c10::ScalarType::Float,
                              c10::Device device = c10::Device(c10::DeviceType::CPU));

}  // namespace modelgrow
