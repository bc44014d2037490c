#include "common/t5_encoder.h"

#include <cmath>
#include <limits>

#include <fmt/format.h>
#include <torch/torch.h>

#include "common/hf_folder.h"
#include "modelgrow/sdk/errors.h"

namespace modelgrow {

namespace {

// Holds registered children under a name, so the module tree spells Hugging Face's key paths.
struct Holder : torch::nn::Module {};

at::Tensor Activate(const at::Tensor& x, const std::string& activation) {
  if (activation == "relu") return torch::relu(x);
  if (activation == "gelu") return torch::gelu(x);
  if (activation == "gelu_new") return torch::gelu(x, "tanh");
  return torch::silu(x);
}

}  // namespace

T5Config T5Config::FromHf(const HfConfig& hf) {
  std::string type = hf.model_type();
  if (type != "t5" && type != "mt5") {
    hf.Fail("model_type", fmt::format("'{}' is not a T5 encoder (expected \"t5\" or \"mt5\")",
                                      type.empty() ? "<missing>" : type));
  }
  T5Config c;
  c.vocab_size = hf.Int("vocab_size");
  c.d_model = hf.Int("d_model");
  c.d_kv = hf.Int("d_kv");
  c.d_ff = hf.Int("d_ff");
  c.num_layers = hf.Int("num_layers");
  c.num_heads = hf.Int("num_heads");
  c.relative_attention_num_buckets = hf.Int("relative_attention_num_buckets", 32);
  c.relative_attention_max_distance = hf.Int("relative_attention_max_distance", 128);
  c.layer_norm_epsilon = hf.Double("layer_norm_epsilon", 1e-6);
  c.feed_forward_proj = hf.String("feed_forward_proj", "relu");
  // Hugging Face's rule: "[gated-]act", where gated-gelu means the tanh approximation.
  std::string act = c.feed_forward_proj;
  c.gated = act.rfind("gated-", 0) == 0;
  if (c.gated) act = act.substr(6);
  if (c.feed_forward_proj == "gated-gelu") act = "gelu_new";
  if (act != "relu" && act != "gelu" && act != "gelu_new" && act != "silu") {
    hf.Fail("feed_forward_proj",
            fmt::format("'{}' is not supported (expected relu, gelu, gated-gelu, gated-relu, "
                        "gated-silu)",
                        c.feed_forward_proj));
  }
  c.activation = act;
  const double d = static_cast<double>(c.d_model),
               inner = static_cast<double>(c.d_kv * c.num_heads);
  hf.CheckParameters(static_cast<double>(c.vocab_size) * d +
                     static_cast<double>(c.num_layers) *
                         (4 * d * inner + 3 * d * static_cast<double>(c.d_ff)));
  return c;
}

nlohmann::json T5Config::ToHfJson() const {
  return {{"architectures", {"T5EncoderModel"}},
          {"model_type", "t5"},
          {"vocab_size", vocab_size},
          {"d_model", d_model},
          {"d_kv", d_kv},
          {"d_ff", d_ff},
          {"num_layers", num_layers},
          {"num_decoder_layers", num_layers},
          {"num_heads", num_heads},
          {"relative_attention_num_buckets", relative_attention_num_buckets},
          {"relative_attention_max_distance", relative_attention_max_distance},
          {"layer_norm_epsilon", layer_norm_epsilon},
          {"feed_forward_proj", feed_forward_proj},
          {"dropout_rate", 0.0},
          {"initializer_factor", 1.0},
          {"is_encoder_decoder", false},
          {"use_cache", false},
          {"tie_word_embeddings", false},
          {"pad_token_id", 0},
          {"eos_token_id", 1},
          {"decoder_start_token_id", 0},
          {"torch_dtype", "float32"}};
}

at::Tensor T5RelativePositionBuckets(int64_t q_len, int64_t k_len, int64_t num_buckets,
                                     int64_t max_distance) {
  at::Tensor q = torch::arange(q_len, torch::kLong).unsqueeze(1);
  at::Tensor k = torch::arange(k_len, torch::kLong).unsqueeze(0);
  at::Tensor relative = k - q;  // memory position minus query position
  int64_t half = num_buckets / 2;
  at::Tensor buckets = (relative > 0).to(torch::kLong) * half;
  at::Tensor n = relative.abs();
  int64_t max_exact = half / 2;
  at::Tensor is_small = n < max_exact;
  // The same float32 tensor ops with double scalars as the reference, so bucket edges agree.
  double log_ratio = std::log(static_cast<double>(max_distance) / static_cast<double>(max_exact));
  at::Tensor large = max_exact + (torch::log(n.to(torch::kFloat) / max_exact) / log_ratio *
                                  static_cast<double>(half - max_exact))
                                     .to(torch::kLong);
  large = torch::clamp_max(large, half - 1);
  return buckets + torch::where(is_small, n, large);
}

T5AttentionImpl::T5AttentionImpl(const T5Config& config, bool has_relative_bias) : config_(config) {
  int64_t inner = config.num_heads * config.d_kv;
  q = register_module("q", Linear(config.d_model, inner, false));
  k = register_module("k", Linear(config.d_model, inner, false));
  v = register_module("v", Linear(config.d_model, inner, false));
  o = register_module("o", Linear(inner, config.d_model, false));
  if (has_relative_bias) {
    relative_attention_bias = register_module(
        "relative_attention_bias",
        torch::nn::Embedding(config.relative_attention_num_buckets, config.num_heads));
  }
}

at::Tensor T5AttentionImpl::PositionBias(int64_t length) {
  at::Tensor buckets =
      T5RelativePositionBuckets(length, length, config_.relative_attention_num_buckets,
                                config_.relative_attention_max_distance)
          .to(relative_attention_bias->weight.device());
  at::Tensor values = relative_attention_bias(buckets);  // [L, L, H]
  return values.permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat);
}

at::Tensor T5AttentionImpl::forward(const at::Tensor& x, const at::Tensor& bias) {
  int64_t b = x.size(0), l = x.size(1), h = config_.num_heads, d = config_.d_kv;
  at::Tensor qh = q(x).view({b, l, h, d}).transpose(1, 2);
  at::Tensor kh = k(x).view({b, l, h, d}).transpose(1, 2);
  at::Tensor vh = v(x).view({b, l, h, d}).transpose(1, 2);
  // T5 folds the 1/sqrt(d) scale into its initialisation: no scaling here.
  at::Tensor scores = torch::matmul(qh, kh.transpose(-2, -1)).to(torch::kFloat) + bias;
  at::Tensor weights = scores.softmax(-1).to(vh.scalar_type());
  at::Tensor out = torch::matmul(weights, vh).transpose(1, 2).reshape({b, l, h * d});
  return o(out);
}

T5BlockImpl::T5BlockImpl(const T5Config& config, bool has_relative_bias) : config_(config) {
  auto layers = register_module("layer", std::make_shared<Holder>());
  auto self_attention = layers->register_module("0", std::make_shared<Holder>());
  attention =
      self_attention->register_module("SelfAttention", T5Attention(config, has_relative_bias));
  attention_norm = self_attention->register_module(
      "layer_norm", RMSNorm(config.d_model, config.layer_norm_epsilon));
  auto ff = layers->register_module("1", std::make_shared<Holder>());
  auto dense = ff->register_module("DenseReluDense", std::make_shared<Holder>());
  if (config.gated) {
    wi_0 = dense->register_module("wi_0", Linear(config.d_model, config.d_ff, false));
    wi_1 = dense->register_module("wi_1", Linear(config.d_model, config.d_ff, false));
  } else {
    wi_0 = dense->register_module("wi", Linear(config.d_model, config.d_ff, false));
  }
  wo = dense->register_module("wo", Linear(config.d_ff, config.d_model, false));
  ff_norm = ff->register_module("layer_norm", RMSNorm(config.d_model, config.layer_norm_epsilon));
}

at::Tensor T5BlockImpl::forward(const at::Tensor& x, const at::Tensor& bias) {
  at::Tensor h = x + attention(attention_norm(x), bias);
  at::Tensor n = ff_norm(h);
  at::Tensor inner = Activate(wi_0(n), config_.activation);
  if (config_.gated) inner = inner * wi_1(n);
  return h + wo(inner);
}

T5EncoderImpl::T5EncoderImpl(const T5Config& config) : config_(config) {
  shared = register_module("shared", torch::nn::Embedding(config.vocab_size, config.d_model));
  auto encoder = register_module("encoder", std::make_shared<Holder>());
  auto block_list = encoder->register_module("block", std::make_shared<Holder>());
  for (int64_t i = 0; i < config.num_layers; ++i) {
    blocks.push_back(block_list->register_module(std::to_string(i), T5Block(config, i == 0)));
  }
  final_layer_norm = encoder->register_module("final_layer_norm",
                                              RMSNorm(config.d_model, config.layer_norm_epsilon));
}

void T5EncoderImpl::set_dtype(c10::ScalarType dtype) {
  dtype_ = dtype;
  to(dtype);
}

at::Tensor T5EncoderImpl::forward(const at::Tensor& ids, const at::Tensor& mask) {
  PrecisionScope precision(dtype_);
  const int64_t length = ids.size(1);
  at::Tensor h = shared(ids);
  // Position bias from block 0's table, shared by every block, plus the key mask as the
  // reference adds it (the float32 minimum, so even a row with no valid key stays finite).
  at::Tensor bias = blocks.front()->attention->PositionBias(length);
  at::Tensor key_mask =
      mask.to(torch::kBool).logical_not().to(torch::kFloat) * std::numeric_limits<float>::lowest();
  bias = bias + key_mask.view({ids.size(0), 1, 1, length});
  for (auto& block : blocks) h = block->forward(h, bias);
  return final_layer_norm(h).to(torch::kFloat);
}

T5Encoder LoadT5Encoder(const std::filesystem::path& folder, c10::ScalarType dtype,
                        c10::Device device) {
  HfConfig hf = HfConfig::Read(folder);
  T5Config config = T5Config::FromHf(hf);
  if (hf.Bool("is_decoder", false)) {
    hf.Fail("is_decoder", "this folder holds a T5 decoder; the text encoder needs the encoder");
  }
  T5Encoder model(config);
  model->eval();
  for (auto& p : model->parameters()) p.set_requires_grad(false);
  WeightReader reader(folder, dtype);
  const std::string embed_key =
      reader.Has("shared.weight") || !reader.Has("encoder.embed_tokens.weight")
          ? "shared.weight"
          : "encoder.embed_tokens.weight";
  for (auto& item : model->named_parameters()) {
    std::string key = item.key() == "shared.weight" ? embed_key : item.key();
    at::Tensor value = reader.Get(key, item.value().sizes().vec());
    if (value.defined()) AssignParameter(item.value(), value);
  }
  reader.ThrowIfProblems();
  model->set_dtype(dtype);
  model->to(device);
  return model;
}

}  // namespace modelgrow
