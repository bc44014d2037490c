#include "autoencoder_kl.h"

#include <fmt/format.h>

#include "modelgrow/sdk/errors.h"

namespace modelgrow::vae {

namespace F = torch::nn::functional;

namespace {

// diffusers builds every GroupNorm of this VAE with eps 1e-6.
constexpr double kEps = 1e-6;

torch::nn::GroupNorm Norm(int64_t groups, int64_t channels) {
  return torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, channels).eps(kEps));
}

torch::nn::Conv2d Conv(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1,
                       int64_t padding = -1) {
  if (padding < 0) padding = kernel / 2;
  return torch::nn::Conv2d(
      torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding));
}

// diffusers' Downsample2D with padding 0: zeros on the right and bottom, then a stride-2 conv.
class Downsample2DImpl : public torch::nn::Module {
 public:
  explicit Downsample2DImpl(int64_t channels)
      : conv_(register_module("conv", Conv(channels, channels, 3, 2, 0))) {}
  torch::Tensor forward(const torch::Tensor& x) {
    return conv_->forward(F::pad(x, F::PadFuncOptions({0, 1, 0, 1})));
  }

 private:
  torch::nn::Conv2d conv_;
};
TORCH_MODULE(Downsample2D);

// diffusers' Upsample2D: nearest-neighbour x2, then a 3x3 conv.
class Upsample2DImpl : public torch::nn::Module {
 public:
  explicit Upsample2DImpl(int64_t channels)
      : conv_(register_module("conv", Conv(channels, channels, 3))) {}
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor up = F::interpolate(x, F::InterpolateFuncOptions()
                                             .scale_factor(std::vector<double>{2.0, 2.0})
                                             .mode(torch::kNearest));
    return conv_->forward(up);
  }

 private:
  torch::nn::Conv2d conv_;
};
TORCH_MODULE(Upsample2D);

// DownEncoderBlock2D / UpDecoderBlock2D: resnets, then an optional resampler.
class Block2DImpl : public torch::nn::Module {
 public:
  Block2DImpl(int64_t in, int64_t out, int64_t layers, int64_t groups, int resample)
      : resample_(resample) {
    for (int64_t i = 0; i < layers; ++i)
      resnets_->push_back(ResnetBlock2D(i == 0 ? in : out, out, groups));
    register_module("resnets", resnets_);
    if (resample < 0) {
      samplers_->push_back(Downsample2D(out));
      register_module("downsamplers", samplers_);
    } else if (resample > 0) {
      samplers_->push_back(Upsample2D(out));
      register_module("upsamplers", samplers_);
    }
  }
  torch::Tensor forward(torch::Tensor x) {
    for (const auto& r : *resnets_) x = r->as<ResnetBlock2D>()->forward(x);
    if (resample_ < 0) x = samplers_[0]->as<Downsample2D>()->forward(x);
    if (resample_ > 0) x = samplers_[0]->as<Upsample2D>()->forward(x);
    return x;
  }

 private:
  int resample_;
  torch::nn::ModuleList resnets_, samplers_;
};
TORCH_MODULE(Block2D);

std::vector<std::string> StringList(const nlohmann::json& j, const std::string& key,
                                    const std::string& where) {
  if (!j.contains(key)) return {};
  if (!j[key].is_array()) throw InputError(fmt::format("{}: {} must be a list", where, key));
  std::vector<std::string> out;
  for (const auto& v : j[key]) {
    if (!v.is_string())
      throw InputError(fmt::format("{}: {} must be a list of strings", where, key));
    out.push_back(v.get<std::string>());
  }
  return out;
}

}  // namespace

AutoencoderKLConfig AutoencoderKLConfig::Sdxl() {
  AutoencoderKLConfig c;
  c.scaling_factor = 0.13025;
  return c;
}

AutoencoderKLConfig AutoencoderKLConfig::FromJson(const nlohmann::json& j,
                                                  const std::string& where) {
  if (!j.is_object()) throw InputError(fmt::format("{}: expected a JSON object", where));
  AutoencoderKLConfig c;
  auto integer = [&](const char* key, int64_t& field, int64_t min) {
    if (!j.contains(key) || j[key].is_null()) return;
    if (!j[key].is_number_integer() || j[key].get<int64_t>() < min)
      throw InputError(
          fmt::format("{}: {} must be an integer >= {}, got {}", where, key, min, j[key].dump()));
    field = j[key].get<int64_t>();
  };
  auto number = [&](const char* key, double& field) {
    if (!j.contains(key) || j[key].is_null()) return;
    if (!j[key].is_number())
      throw InputError(fmt::format("{}: {} must be a number, got {}", where, key, j[key].dump()));
    field = j[key].get<double>();
  };
  auto boolean = [&](const char* key, bool& field) {
    if (!j.contains(key) || j[key].is_null()) return;
    if (!j[key].is_boolean())
      throw InputError(fmt::format("{}: {} must be true or false", where, key));
    field = j[key].get<bool>();
  };
  integer("in_channels", c.in_channels, 1);
  integer("out_channels", c.out_channels, 1);
  integer("layers_per_block", c.layers_per_block, 1);
  integer("latent_channels", c.latent_channels, 1);
  integer("norm_num_groups", c.norm_num_groups, 1);
  number("scaling_factor", c.scaling_factor);
  number("shift_factor", c.shift_factor);
  boolean("use_quant_conv", c.use_quant_conv);
  boolean("use_post_quant_conv", c.use_post_quant_conv);
  boolean("mid_block_add_attention", c.mid_block_add_attention);
  if (j.contains("block_out_channels")) {
    const auto& b = j["block_out_channels"];
    if (!b.is_array() || b.empty())
      throw InputError(fmt::format("{}: block_out_channels must be a non-empty list", where));
    c.block_out_channels.clear();
    for (const auto& v : b) {
      if (!v.is_number_integer() || v.get<int64_t>() < 1)
        throw InputError(
            fmt::format("{}: block_out_channels must hold integers >= 1, got {}", where, b.dump()));
      c.block_out_channels.push_back(v.get<int64_t>());
    }
  }
  const size_t levels = c.block_out_channels.size();
  std::vector<std::string> down = StringList(j, "down_block_types", where);
  std::vector<std::string> up = StringList(j, "up_block_types", where);
  for (const auto& [types, kind] : {std::pair{down, std::string("DownEncoderBlock2D")},
                                    std::pair{up, std::string("UpDecoderBlock2D")}}) {
    if (types.empty()) continue;
    if (types.size() != levels)
      throw InputError(
          fmt::format("{}: {} block types for {} block_out_channels", where, types.size(), levels));
    for (const std::string& t : types) {
      if (t != kind)
        throw InputError(fmt::format(
            "{}: block type '{}' is not supported (this AutoencoderKL has {} blocks only)", where,
            t, kind));
    }
  }
  if (j.contains("act_fn") && j["act_fn"] != "silu")
    throw InputError(
        fmt::format("{}: act_fn {} is not supported (only \"silu\")", where, j["act_fn"].dump()));
  for (int64_t channels : c.block_out_channels) {
    if (channels % c.norm_num_groups != 0)
      throw InputError(fmt::format("{}: norm_num_groups {} does not divide block width {}", where,
                                   c.norm_num_groups, channels));
  }
  if (c.scaling_factor == 0)
    throw InputError(fmt::format("{}: scaling_factor must not be 0", where));
  return c;
}

nlohmann::json AutoencoderKLConfig::ToJson() const {
  nlohmann::json j = {
      {"_class_name", "AutoencoderKL"},
      {"in_channels", in_channels},
      {"out_channels", out_channels},
      {"block_out_channels", block_out_channels},
      {"down_block_types",
       std::vector<std::string>(block_out_channels.size(), "DownEncoderBlock2D")},
      {"up_block_types", std::vector<std::string>(block_out_channels.size(), "UpDecoderBlock2D")},
      {"layers_per_block", layers_per_block},
      {"latent_channels", latent_channels},
      {"norm_num_groups", norm_num_groups},
      {"act_fn", "silu"},
      {"scaling_factor", scaling_factor}};
  if (shift_factor != 0) j["shift_factor"] = shift_factor;
  if (!use_quant_conv) j["use_quant_conv"] = false;
  if (!use_post_quant_conv) j["use_post_quant_conv"] = false;
  if (!mid_block_add_attention) j["mid_block_add_attention"] = false;
  return j;
}

ResnetBlock2DImpl::ResnetBlock2DImpl(int64_t in, int64_t out, int64_t groups)
    : norm1_(register_module("norm1", Norm(groups, in))),
      norm2_(register_module("norm2", Norm(groups, out))),
      conv1_(register_module("conv1", Conv(in, out, 3))),
      conv2_(register_module("conv2", Conv(out, out, 3))) {
  if (in != out) conv_shortcut_ = register_module("conv_shortcut", Conv(in, out, 1));
}

torch::Tensor ResnetBlock2DImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = conv1_->forward(torch::silu(norm1_->forward(x)));
  h = conv2_->forward(torch::silu(norm2_->forward(h)));
  return (conv_shortcut_ ? conv_shortcut_->forward(x) : x) + h;
}

SpatialAttentionImpl::SpatialAttentionImpl(int64_t channels, int64_t groups)
    : group_norm_(register_module("group_norm", Norm(groups, channels))),
      to_q_(register_module("to_q", torch::nn::Linear(channels, channels))),
      to_k_(register_module("to_k", torch::nn::Linear(channels, channels))),
      to_v_(register_module("to_v", torch::nn::Linear(channels, channels))) {
  to_out_->push_back(torch::nn::Linear(channels, channels));
  register_module("to_out", to_out_);
}

torch::Tensor SpatialAttentionImpl::forward(const torch::Tensor& x) {
  const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  // Tokens in row-major (h, w) order; the norm sees them as [B, C, H*W].
  torch::Tensor tokens = group_norm_->forward(x.view({b, c, h * w})).transpose(1, 2);
  torch::Tensor q = to_q_->forward(tokens), k = to_k_->forward(tokens), v = to_v_->forward(tokens);
  const double scale = 1.0 / std::sqrt(static_cast<double>(c));
  // The reference takes the softmax in float32 whatever the compute type (upcast_softmax).
  torch::Tensor scores = torch::baddbmm(torch::empty({b, h * w, h * w}, q.options()), q,
                                        k.transpose(1, 2), /*beta=*/0, /*alpha=*/scale);
  torch::Tensor probs = scores.to(torch::kFloat).softmax(-1).to(q.scalar_type());
  torch::Tensor out = to_out_[0]->as<torch::nn::Linear>()->forward(torch::bmm(probs, v));
  return out.transpose(1, 2).reshape({b, c, h, w}) + x;
}

MidBlock2DImpl::MidBlock2DImpl(int64_t channels, int64_t groups, bool attention) {
  resnets_->push_back(ResnetBlock2D(channels, channels, groups));
  resnets_->push_back(ResnetBlock2D(channels, channels, groups));
  if (attention) attentions_->push_back(SpatialAttention(channels, groups));
  register_module("resnets", resnets_);
  register_module("attentions", attentions_);
}

torch::Tensor MidBlock2DImpl::forward(torch::Tensor x) {
  x = resnets_[0]->as<ResnetBlock2D>()->forward(x);
  if (!attentions_->is_empty()) x = attentions_[0]->as<SpatialAttention>()->forward(x);
  return resnets_[1]->as<ResnetBlock2D>()->forward(x);
}

SpatialEncoderImpl::SpatialEncoderImpl(const AutoencoderKLConfig& config) {
  const auto& widths = config.block_out_channels;
  const int64_t groups = config.norm_num_groups;
  conv_in_ = register_module("conv_in", Conv(config.in_channels, widths[0], 3));
  int64_t channels = widths[0];
  for (size_t i = 0; i < widths.size(); ++i) {
    bool last = i + 1 == widths.size();
    down_blocks_->push_back(
        Block2D(channels, widths[i], config.layers_per_block, groups, last ? 0 : -1));
    channels = widths[i];
  }
  register_module("down_blocks", down_blocks_);
  mid_block_ = register_module("mid_block",
                               MidBlock2D(widths.back(), groups, config.mid_block_add_attention));
  conv_norm_out_ = register_module("conv_norm_out", Norm(groups, widths.back()));
  conv_out_ = register_module("conv_out", Conv(widths.back(), 2 * config.latent_channels, 3));
}

torch::Tensor SpatialEncoderImpl::forward(torch::Tensor x) {
  x = conv_in_->forward(x);
  for (const auto& block : *down_blocks_) x = block->as<Block2D>()->forward(x);
  x = mid_block_->forward(x);
  return conv_out_->forward(torch::silu(conv_norm_out_->forward(x)));
}

SpatialDecoderImpl::SpatialDecoderImpl(const AutoencoderKLConfig& config) {
  std::vector<int64_t> widths(config.block_out_channels.rbegin(), config.block_out_channels.rend());
  const int64_t groups = config.norm_num_groups;
  conv_in_ = register_module("conv_in", Conv(config.latent_channels, widths[0], 3));
  mid_block_ =
      register_module("mid_block", MidBlock2D(widths[0], groups, config.mid_block_add_attention));
  int64_t channels = widths[0];
  for (size_t i = 0; i < widths.size(); ++i) {
    bool last = i + 1 == widths.size();
    up_blocks_->push_back(
        Block2D(channels, widths[i], config.layers_per_block + 1, groups, last ? 0 : 1));
    channels = widths[i];
  }
  register_module("up_blocks", up_blocks_);
  conv_norm_out_ = register_module("conv_norm_out", Norm(groups, widths.back()));
  conv_out_ = register_module("conv_out", Conv(widths.back(), config.out_channels, 3));
}

torch::Tensor SpatialDecoderImpl::forward(torch::Tensor z) {
  torch::Tensor x = mid_block_->forward(conv_in_->forward(z));
  for (const auto& block : *up_blocks_) x = block->as<Block2D>()->forward(x);
  return conv_out_->forward(torch::silu(conv_norm_out_->forward(x)));
}

AutoencoderKLImpl::AutoencoderKLImpl(AutoencoderKLConfig config) : config_(std::move(config)) {
  encoder_ = register_module("encoder", SpatialEncoder(config_));
  decoder_ = register_module("decoder", SpatialDecoder(config_));
  const int64_t c = config_.latent_channels;
  if (config_.use_quant_conv) quant_conv_ = register_module("quant_conv", Conv(2 * c, 2 * c, 1));
  if (config_.use_post_quant_conv)
    post_quant_conv_ = register_module("post_quant_conv", Conv(c, c, 1));
}

torch::Tensor AutoencoderKLImpl::EncodeMoments(const torch::Tensor& images) {
  torch::Tensor h = encoder_->forward(images);
  return quant_conv_ ? quant_conv_->forward(h) : h;
}

torch::Tensor AutoencoderKLImpl::Decode(const torch::Tensor& latents) {
  return decoder_->forward(post_quant_conv_ ? post_quant_conv_->forward(latents) : latents);
}

}  // namespace modelgrow::vae
