#include "common/llama_decoder.h"

#include <cmath>
#include <limits>
#include <numbers>

#include <fmt/format.h>
#include <torch/torch.h>

#include "common/hf_folder.h"
#include "modelgrow/sdk/errors.h"

namespace modelgrow {

namespace {

struct Holder : torch::nn::Module {};

at::Tensor RotateHalf(const at::Tensor& x) {
  int64_t half = x.size(-1) / 2;
  return torch::cat({x.slice(-1, half).neg(), x.slice(-1, 0, half)}, -1);
}

// Reads rope_theta and the scaling rule from either spelling of the config.
void ReadRope(const HfConfig& hf, LlamaConfig& c) {
  const nlohmann::json& j = hf.json();
  nlohmann::json scaling;
  std::string where = "rope_scaling";
  if (hf.Has("rope_parameters")) {
    // transformers 5: {"rope_theta": ..., "rope_type": ..., scaling fields}.
    where = "rope_parameters";
    scaling = j.at("rope_parameters");
    if (!scaling.is_object()) hf.Fail(where, "expected an object");
    if (scaling.contains("rope_theta")) {
      if (!scaling["rope_theta"].is_number()) hf.Fail(where + ".rope_theta", "expected a number");
      c.rope_theta = scaling["rope_theta"].get<double>();
    } else {
      c.rope_theta = hf.Double("rope_theta", 10000.0);
    }
  } else {
    c.rope_theta = hf.Double("rope_theta", 10000.0);
    if (hf.Has("rope_scaling")) scaling = j.at("rope_scaling");
  }
  if (scaling.is_null()) return;
  if (!scaling.is_object()) hf.Fail(where, "expected an object");
  std::string type = scaling.value("rope_type", scaling.value("type", std::string("default")));
  auto number = [&](const char* key, double fallback) {
    if (!scaling.contains(key)) return fallback;
    if (!scaling[key].is_number()) hf.Fail(where + "." + key, "expected a number");
    return scaling[key].get<double>();
  };
  RopeScaling& r = c.rope_scaling;
  r.type = type;
  if (type == "default") return;
  if (type == "linear") {
    r.factor = number("factor", 1.0);
  } else if (type == "llama3") {
    r.factor = number("factor", 8.0);
    r.low_freq_factor = number("low_freq_factor", 1.0);
    r.high_freq_factor = number("high_freq_factor", 4.0);
    r.original_max_position_embeddings =
        static_cast<int64_t>(number("original_max_position_embeddings", 8192));
    if (r.high_freq_factor <= r.low_freq_factor) {
      hf.Fail(where, "high_freq_factor must be greater than low_freq_factor");
    }
  } else {
    hf.Fail(where + ".rope_type",
            fmt::format("'{}' is not supported (expected default, linear or llama3)", type));
  }
  if (r.factor <= 0) hf.Fail(where + ".factor", "must be positive");
}

}  // namespace

LlamaConfig LlamaConfig::FromHf(const HfConfig& hf) {
  LlamaConfig c;
  c.model_type = hf.model_type();
  if (c.model_type != "llama" && c.model_type != "qwen2" && c.model_type != "mistral") {
    hf.Fail("model_type",
            fmt::format("'{}' is not a supported decoder (expected \"llama\", \"qwen2\" or "
                        "\"mistral\")",
                        c.model_type.empty() ? "<missing>" : c.model_type));
  }
  c.vocab_size = hf.Int("vocab_size");
  c.hidden_size = hf.Int("hidden_size");
  c.intermediate_size = hf.Int("intermediate_size");
  c.num_hidden_layers = hf.Int("num_hidden_layers");
  c.num_attention_heads = hf.Int("num_attention_heads");
  c.num_key_value_heads = hf.Int("num_key_value_heads", c.num_attention_heads);
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    hf.Fail("num_key_value_heads", fmt::format("{} does not divide num_attention_heads {}",
                                               c.num_key_value_heads, c.num_attention_heads));
  }
  if (hf.Has("head_dim")) {
    c.head_dim = hf.Int("head_dim");
  } else {
    if (c.hidden_size % c.num_attention_heads != 0) {
      hf.Fail("hidden_size", "is not a multiple of num_attention_heads (and head_dim is absent)");
    }
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  if (c.head_dim % 2 != 0) hf.Fail("head_dim", "must be even for rotary embeddings");
  c.rms_norm_eps = hf.Double("rms_norm_eps", 1e-6);
  ReadRope(hf, c);
  c.max_position_embeddings = hf.Int("max_position_embeddings", 4096);
  std::string act = hf.String("hidden_act", "silu");
  if (act != "silu") hf.Fail("hidden_act", fmt::format("'{}' is not supported (silu)", act));
  if (c.model_type == "qwen2") {
    c.qkv_bias = true;
  } else if (c.model_type == "llama") {
    c.qkv_bias = c.o_bias = hf.Bool("attention_bias", false);
    c.mlp_bias = hf.Bool("mlp_bias", false);
  }
  c.tie_word_embeddings = hf.Bool("tie_word_embeddings", false);
  c.sliding_layers.assign(c.num_hidden_layers, false);
  bool windowed = c.model_type == "mistral" ||
                  (c.model_type == "qwen2" && hf.Bool("use_sliding_window", false));
  if (windowed && hf.Has("sliding_window")) {
    c.sliding_window = hf.Int("sliding_window");
    const nlohmann::json& j = hf.json();
    if (j.contains("layer_types") && j["layer_types"].is_array()) {
      if (static_cast<int64_t>(j["layer_types"].size()) != c.num_hidden_layers) {
        hf.Fail("layer_types", "needs one entry per layer");
      }
      for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
        c.sliding_layers[i] = j["layer_types"][i] == "sliding_attention";
      }
    } else if (c.model_type == "qwen2") {
      // Qwen2: layers from max_window_layers on use the window.
      int64_t first = hf.Int("max_window_layers", c.num_hidden_layers);
      for (int64_t i = first; i < c.num_hidden_layers; ++i) c.sliding_layers[i] = true;
    } else {
      c.sliding_layers.assign(c.num_hidden_layers, true);
    }
  }
  auto token = [&](const char* key, int64_t fallback) {
    const nlohmann::json& j = hf.json();
    if (!j.contains(key) || !j[key].is_number_integer()) return fallback;  // null or a list
    return j[key].get<int64_t>();
  };
  c.bos_token_id = token("bos_token_id", -1);
  c.eos_token_id = token("eos_token_id", -1);
  const double h = static_cast<double>(c.hidden_size);
  const double attention = static_cast<double>(c.head_dim) *
                           static_cast<double>(c.num_attention_heads + 2 * c.num_key_value_heads);
  hf.CheckParameters(2 * static_cast<double>(c.vocab_size) * h +
                     static_cast<double>(c.num_hidden_layers) *
                         (h * attention +
                          h * static_cast<double>(c.head_dim * c.num_attention_heads) +
                          3 * h * static_cast<double>(c.intermediate_size)));
  return c;
}

nlohmann::json LlamaConfig::ToHfJson() const {
  nlohmann::json j = {{"model_type", model_type},
                      {"vocab_size", vocab_size},
                      {"hidden_size", hidden_size},
                      {"intermediate_size", intermediate_size},
                      {"num_hidden_layers", num_hidden_layers},
                      {"num_attention_heads", num_attention_heads},
                      {"num_key_value_heads", num_key_value_heads},
                      {"head_dim", head_dim},
                      {"rms_norm_eps", rms_norm_eps},
                      {"rope_theta", rope_theta},
                      {"max_position_embeddings", max_position_embeddings},
                      {"hidden_act", "silu"},
                      {"initializer_range", 0.02},
                      {"tie_word_embeddings", tie_word_embeddings},
                      {"bos_token_id", bos_token_id},
                      {"eos_token_id", eos_token_id},
                      {"use_cache", true},
                      {"attention_dropout", 0.0},
                      {"torch_dtype", "float32"}};
  if (model_type == "llama") {
    j["architectures"] = {"LlamaForCausalLM"};
    j["attention_bias"] = qkv_bias;
    j["mlp_bias"] = mlp_bias;
  } else if (model_type == "qwen2") {
    j["architectures"] = {"Qwen2ForCausalLM"};
    j["use_sliding_window"] = false;
    j["sliding_window"] = nullptr;
    j["max_window_layers"] = num_hidden_layers;
  } else {
    j["architectures"] = {"MistralForCausalLM"};
    j["sliding_window"] = sliding_window > 0 ? nlohmann::json(sliding_window) : nullptr;
  }
  if (rope_scaling.type != "default") {
    j["rope_scaling"] = {{"rope_type", rope_scaling.type}, {"factor", rope_scaling.factor}};
    if (rope_scaling.type == "llama3") {
      j["rope_scaling"]["low_freq_factor"] = rope_scaling.low_freq_factor;
      j["rope_scaling"]["high_freq_factor"] = rope_scaling.high_freq_factor;
      j["rope_scaling"]["original_max_position_embeddings"] =
          rope_scaling.original_max_position_embeddings;
    }
  }
  return j;
}

at::Tensor LlamaRotaryInverseFrequencies(const LlamaConfig& config) {
  int64_t dim = config.head_dim;
  // As the reference: base ** (arange(0, dim, 2).float() / dim) in float32.
  at::Tensor exponent = torch::arange(0, dim, 2, torch::kLong).to(torch::kFloat) / dim;
  at::Tensor inv_freq = 1.0 / torch::pow(config.rope_theta, exponent);
  const RopeScaling& r = config.rope_scaling;
  if (r.type == "linear") return inv_freq / r.factor;
  if (r.type == "llama3") {
    // Long wavelengths are slowed by `factor`, short ones kept, the band between blended.
    double old_len = static_cast<double>(r.original_max_position_embeddings);
    double low_freq_wavelen = old_len / r.low_freq_factor;
    double high_freq_wavelen = old_len / r.high_freq_factor;
    at::Tensor wavelen = 2 * std::numbers::pi / inv_freq;
    at::Tensor scaled = torch::where(wavelen > low_freq_wavelen, inv_freq / r.factor, inv_freq);
    at::Tensor smooth =
        (old_len / wavelen - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
    at::Tensor smoothed = (1 - smooth) * scaled / r.factor + smooth * scaled;
    at::Tensor medium = (wavelen < high_freq_wavelen)
                            .logical_not()
                            .logical_and((wavelen > low_freq_wavelen).logical_not());
    return torch::where(medium, smoothed, scaled);
  }
  return inv_freq;
}

LlamaLayerImpl::LlamaLayerImpl(const LlamaConfig& config, bool sliding)
    : config_(config), sliding_(sliding) {
  int64_t d = config.hidden_size, hd = config.head_dim;
  auto attn = register_module("self_attn", std::make_shared<Holder>());
  q_proj =
      attn->register_module("q_proj", Linear(d, config.num_attention_heads * hd, config.qkv_bias));
  k_proj =
      attn->register_module("k_proj", Linear(d, config.num_key_value_heads * hd, config.qkv_bias));
  v_proj =
      attn->register_module("v_proj", Linear(d, config.num_key_value_heads * hd, config.qkv_bias));
  o_proj =
      attn->register_module("o_proj", Linear(config.num_attention_heads * hd, d, config.o_bias));
  auto mlp = register_module("mlp", std::make_shared<Holder>());
  gate_proj =
      mlp->register_module("gate_proj", Linear(d, config.intermediate_size, config.mlp_bias));
  up_proj = mlp->register_module("up_proj", Linear(d, config.intermediate_size, config.mlp_bias));
  down_proj =
      mlp->register_module("down_proj", Linear(config.intermediate_size, d, config.mlp_bias));
  input_layernorm = register_module("input_layernorm", RMSNorm(d, config.rms_norm_eps));
  post_attention_layernorm =
      register_module("post_attention_layernorm", RMSNorm(d, config.rms_norm_eps));
}

at::Tensor LlamaLayerImpl::forward(const at::Tensor& x, const at::Tensor& cos,
                                   const at::Tensor& sin, const at::Tensor& bias) {
  return Attend(x, cos, sin, bias, nullptr, nullptr);
}

at::Tensor LlamaLayerImpl::ForwardCached(const at::Tensor& x, const at::Tensor& cos,
                                         const at::Tensor& sin, const at::Tensor& bias,
                                         at::Tensor& keys, at::Tensor& values) {
  return Attend(x, cos, sin, bias, &keys, &values);
}

at::Tensor LlamaLayerImpl::Attend(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                                  const at::Tensor& bias, at::Tensor* keys, at::Tensor* values) {
  const int64_t b = x.size(0), l = x.size(1), hd = config_.head_dim;
  const int64_t heads = config_.num_attention_heads, kv_heads = config_.num_key_value_heads;
  at::Tensor n = input_layernorm(x);
  at::Tensor q = q_proj(n).view({b, l, heads, hd}).transpose(1, 2);
  at::Tensor k = k_proj(n).view({b, l, kv_heads, hd}).transpose(1, 2);
  at::Tensor v = v_proj(n).view({b, l, kv_heads, hd}).transpose(1, 2);
  at::Tensor c = cos.to(q.scalar_type()), s = sin.to(q.scalar_type());
  q = q * c + RotateHalf(q) * s;
  k = k * c + RotateHalf(k) * s;
  if (keys != nullptr) {
    // Cached keys carry their rotary phase already; the new ones join them.
    if (keys->defined()) {
      k = torch::cat({*keys, k}, 2);
      v = torch::cat({*values, v}, 2);
    }
    *keys = k;
    *values = v;
  }
  if (kv_heads != heads) {
    // Grouped-query attention: query head h reads key/value head h / (heads / kv_heads).
    k = k.repeat_interleave(heads / kv_heads, 1);
    v = v.repeat_interleave(heads / kv_heads, 1);
  }
  at::Tensor scores =
      torch::matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(static_cast<double>(hd)));
  at::Tensor weights = (scores.to(torch::kFloat) + bias).softmax(-1).to(q.scalar_type());
  at::Tensor attn = torch::matmul(weights, v).transpose(1, 2).reshape({b, l, heads * hd});
  at::Tensor h = x + o_proj(attn);
  at::Tensor m = post_attention_layernorm(h);
  return h + down_proj(torch::silu(gate_proj(m)) * up_proj(m));
}

LlamaDecoderImpl::LlamaDecoderImpl(const LlamaConfig& config, bool with_lm_head)
    : config_(config), with_lm_head_(with_lm_head) {
  auto model = register_module("model", std::make_shared<Holder>());
  embed_tokens = model->register_module(
      "embed_tokens", torch::nn::Embedding(config.vocab_size, config.hidden_size));
  auto list = model->register_module("layers", std::make_shared<Holder>());
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
    bool sliding = config.sliding_window > 0 &&
                   i < static_cast<int64_t>(config.sliding_layers.size()) &&
                   config.sliding_layers[i];
    layers.push_back(list->register_module(std::to_string(i), LlamaLayer(config, sliding)));
  }
  norm = model->register_module("norm", RMSNorm(config.hidden_size, config.rms_norm_eps));
  if (with_lm_head && !config.tie_word_embeddings) {
    lm_head = register_module("lm_head", Linear(config.hidden_size, config.vocab_size, false));
  }
  inv_freq_ = LlamaRotaryInverseFrequencies(config);
}

void LlamaDecoderImpl::set_dtype(c10::ScalarType dtype) {
  dtype_ = dtype;
  to(dtype);
}

int64_t LlamaDecoderImpl::ResolveHiddenIndex(int64_t index) const {
  int64_t count = config_.num_hidden_layers + 1;
  if (index < -count || index >= count) {
    throw InputError(fmt::format(
        "hidden_layer {} is out of range: this model has {} hidden states ({}..{}; 0 = the "
        "embeddings, -1 = the last layer after the final norm)",
        index, count, -count, count - 1));
  }
  return index < 0 ? index + count : index;
}

std::vector<at::Tensor> LlamaDecoderImpl::Run(const at::Tensor& ids, const at::Tensor& mask,
                                              int64_t stop, bool all) {
  PrecisionScope precision(dtype_);
  const int64_t b = ids.size(0), l = ids.size(1);
  auto device = embed_tokens->weight.device();
  // Key j is visible to query i when j <= i, j is a real token and, in a windowed layer,
  // i - j < window. Masked scores get the float32 minimum, as the reference adds it.
  at::Tensor pos = torch::arange(l, torch::TensorOptions().dtype(torch::kLong).device(device));
  at::Tensor distance = pos.unsqueeze(1) - pos.unsqueeze(0);  // i - j
  at::Tensor visible =
      (distance >= 0)
          .unsqueeze(0)
          .logical_and(mask.to(device).to(torch::kBool).unsqueeze(1));  // [B, L, L]
  const float lowest = std::numeric_limits<float>::lowest();
  auto to_bias = [&](const at::Tensor& v) {
    return torch::zeros({b, 1, l, l}, torch::TensorOptions().dtype(torch::kFloat).device(device))
        .masked_fill(v.logical_not().unsqueeze(1), lowest);
  };
  at::Tensor bias = to_bias(visible);
  at::Tensor window_bias;
  if (config_.sliding_window > 0) {
    window_bias = to_bias(visible.logical_and((distance < config_.sliding_window).unsqueeze(0)));
  }
  at::Tensor freqs = torch::outer(pos.to(torch::kFloat), inv_freq_.to(device));
  at::Tensor emb = torch::cat({freqs, freqs}, -1);
  at::Tensor cos = emb.cos(), sin = emb.sin();

  std::vector<at::Tensor> states;
  at::Tensor h = embed_tokens(ids.to(device));
  if (all) states.push_back(h.to(torch::kFloat));
  if (stop == 0) return {h.to(torch::kFloat)};
  const int64_t n = config_.num_hidden_layers;
  for (int64_t i = 0; i < n && i < stop; ++i) {
    h = layers[i]->forward(h, cos, sin, layers[i]->sliding() ? window_bias : bias);
    // HF's hidden_states hold the raw output of every layer but the last, whose entry is the
    // normed one.
    if (all && i + 1 < n) states.push_back(h.to(torch::kFloat));
  }
  if (stop == n) {
    at::Tensor normed = norm(h);
    if (all) {
      states.push_back(normed.to(torch::kFloat));
      return states;
    }
    return {normed};  // kept in the compute dtype for Logits
  }
  return {h.to(torch::kFloat)};
}

at::Tensor LlamaDecoderImpl::HiddenState(const at::Tensor& ids, const at::Tensor& mask,
                                         int64_t index) {
  return Run(ids, mask, ResolveHiddenIndex(index), false).front().to(torch::kFloat);
}

std::vector<at::Tensor> LlamaDecoderImpl::HiddenStates(const at::Tensor& ids,
                                                       const at::Tensor& mask) {
  return Run(ids, mask, config_.num_hidden_layers, true);
}

at::Tensor LlamaDecoderImpl::Logits(const at::Tensor& ids, const at::Tensor& mask) {
  if (!with_lm_head_) throw RunError("this decoder was loaded without its lm_head");
  at::Tensor h = Run(ids, mask, config_.num_hidden_layers, false).front();
  PrecisionScope precision(dtype_);
  const at::Tensor& w = config_.tie_word_embeddings ? embed_tokens->weight : lm_head->weight;
  return LinearForward(h, w, {}).to(torch::kFloat);
}

at::Tensor LlamaDecoderImpl::LogitsCached(const at::Tensor& ids, LlamaKvCache& cache) {
  if (!with_lm_head_) throw RunError("this decoder was loaded without its lm_head");
  PrecisionScope precision(dtype_);
  const int64_t b = ids.size(0), l = ids.size(1), past = cache.length;
  const int64_t n = config_.num_hidden_layers;
  if (cache.keys.empty()) {
    cache.keys.resize(n);
    cache.values.resize(n);
  }
  auto device = embed_tokens->weight.device();
  auto longs = torch::TensorOptions().dtype(torch::kLong).device(device);
  // Query i (position past + i) sees key j when j <= past + i and, in a windowed layer,
  // past + i - j < window.
  at::Tensor query_pos = torch::arange(past, past + l, longs);
  at::Tensor key_pos = torch::arange(0, past + l, longs);
  at::Tensor distance = query_pos.unsqueeze(1) - key_pos.unsqueeze(0);  // [L, past + L]
  const float lowest = std::numeric_limits<float>::lowest();
  auto to_bias = [&](const at::Tensor& visible) {
    return torch::zeros({b, 1, l, past + l},
                        torch::TensorOptions().dtype(torch::kFloat).device(device))
        .masked_fill(visible.logical_not().view({1, 1, l, past + l}), lowest);
  };
  at::Tensor bias = to_bias(distance >= 0);
  at::Tensor window_bias;
  if (config_.sliding_window > 0) {
    window_bias = to_bias((distance >= 0).logical_and(distance < config_.sliding_window));
  }
  at::Tensor freqs = torch::outer(query_pos.to(torch::kFloat), inv_freq_.to(device));
  at::Tensor emb = torch::cat({freqs, freqs}, -1);
  at::Tensor cos = emb.cos(), sin = emb.sin();
  at::Tensor h = embed_tokens(ids.to(device));
  for (int64_t i = 0; i < n; ++i) {
    h = layers[i]->ForwardCached(h, cos, sin, layers[i]->sliding() ? window_bias : bias,
                                 cache.keys[i], cache.values[i]);
  }
  cache.length = past + l;
  at::Tensor normed = norm(h);
  const at::Tensor& w = config_.tie_word_embeddings ? embed_tokens->weight : lm_head->weight;
  return LinearForward(normed, w, {}).to(torch::kFloat);
}

LlamaDecoder LoadLlamaDecoder(const std::filesystem::path& folder, bool with_lm_head,
                              c10::ScalarType dtype, c10::Device device) {
  HfConfig hf = HfConfig::Read(folder);
  LlamaConfig config = LlamaConfig::FromHf(hf);
  LlamaDecoder model(config, with_lm_head);
  model->eval();
  WeightReader reader(folder, dtype);
  // A *ForCausalLM folder prefixes the decoder with "model."; a bare *Model folder does not.
  const bool prefixed =
      reader.Has("model.embed_tokens.weight") || !reader.Has("embed_tokens.weight");
  for (auto& item : model->named_parameters()) {
    std::string key = item.key();
    if (!prefixed && key.rfind("model.", 0) == 0) key = key.substr(6);
    at::Tensor value = reader.Get(key, item.value().sizes().vec());
    if (value.defined()) AssignParameter(item.value(), value);
  }
  reader.ThrowIfProblems();
  model->set_dtype(dtype);
  model->to(device);
  return model;
}

}  // namespace modelgrow
