#include "temporal_vae.h"

#include <fmt/format.h>

#include "modelgrow/sdk/errors.h"

namespace modelgrow::vae {

namespace F = torch::nn::functional;

namespace {

// The temporal VAE keeps PyTorch's default GroupNorm eps (1e-5), unlike the spatial one.
torch::nn::GroupNorm Norm(int64_t groups, int64_t channels) {
  return torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, channels).eps(1e-5));
}

}  // namespace

TemporalVaeConfig TemporalVaeConfig::FromJson(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) throw InputError(fmt::format("{}: expected a JSON object", where));
  TemporalVaeConfig c;
  auto integer = [&](const char* key, int64_t& field) {
    if (!j.contains(key) || j[key].is_null()) return;
    if (!j[key].is_number_integer() || j[key].get<int64_t>() < 1)
      throw InputError(
          fmt::format("{}: {} must be an integer >= 1, got {}", where, key, j[key].dump()));
    field = j[key].get<int64_t>();
  };
  integer("in_out_channels", c.in_out_channels);
  integer("latent_embed_dim", c.latent_embed_dim);
  integer("embed_dim", c.embed_dim);
  integer("filters", c.filters);
  integer("num_res_blocks", c.num_res_blocks);
  integer("num_groups", c.num_groups);
  if (j.contains("channel_multipliers")) {
    const auto& m = j["channel_multipliers"];
    if (!m.is_array() || m.empty())
      throw InputError(fmt::format("{}: channel_multipliers must be a non-empty list", where));
    c.channel_multipliers.clear();
    for (const auto& v : m) {
      if (!v.is_number_integer() || v.get<int64_t>() < 1)
        throw InputError(fmt::format("{}: channel_multipliers must hold integers >= 1", where));
      c.channel_multipliers.push_back(v.get<int64_t>());
    }
  }
  if (j.contains("temporal_downsample")) {
    const auto& d = j["temporal_downsample"];
    if (!d.is_array())
      throw InputError(fmt::format("{}: temporal_downsample must be a list", where));
    c.temporal_downsample.clear();
    for (const auto& v : d) {
      if (!v.is_boolean())
        throw InputError(fmt::format("{}: temporal_downsample must hold true/false", where));
      c.temporal_downsample.push_back(v.get<bool>());
    }
  }
  if (j.contains("activation_fn") && j["activation_fn"] != "swish")
    throw InputError(fmt::format("{}: activation_fn {} is not supported (only \"swish\")", where,
                                 j["activation_fn"].dump()));
  if (c.temporal_downsample.size() + 1 < c.channel_multipliers.size())
    throw InputError(fmt::format(
        "{}: temporal_downsample needs an entry for each of the {} transitions between levels",
        where, c.channel_multipliers.size() - 1));
  for (int64_t m : c.channel_multipliers) {
    if ((c.filters * m) % c.num_groups != 0)
      throw InputError(fmt::format("{}: num_groups {} does not divide width {}", where,
                                   c.num_groups, c.filters * m));
  }
  return c;
}

nlohmann::json TemporalVaeConfig::ToJson() const {
  return {{"type", "VAE_Temporal"},
          {"in_out_channels", in_out_channels},
          {"latent_embed_dim", latent_embed_dim},
          {"embed_dim", embed_dim},
          {"filters", filters},
          {"num_res_blocks", num_res_blocks},
          {"channel_multipliers", channel_multipliers},
          {"temporal_downsample", temporal_downsample},
          {"num_groups", num_groups},
          {"activation_fn", "swish"}};
}

int64_t TemporalVaeConfig::time_factor() const {
  int64_t f = 1;
  for (size_t i = 0; i + 1 < channel_multipliers.size(); ++i) f *= temporal_downsample[i] ? 2 : 1;
  return f;
}

CausalConv3dImpl::CausalConv3dImpl(int64_t in, int64_t out, int64_t kernel, bool bias,
                                   int64_t time_stride)
    : time_pad_((kernel - 1) + (1 - time_stride)), space_pad_(kernel / 2) {
  conv_ = register_module(
      "conv",
      torch::nn::Conv3d(
          torch::nn::Conv3dOptions(in, out, kernel).stride({time_stride, 1, 1}).bias(bias)));
}

torch::Tensor CausalConv3dImpl::forward(const torch::Tensor& x) {
  if (time_pad_ == 0 && space_pad_ == 0) return conv_->forward(x);
  return conv_->forward(
      F::pad(x, F::PadFuncOptions({space_pad_, space_pad_, space_pad_, space_pad_, time_pad_, 0})));
}

TemporalResBlockImpl::TemporalResBlockImpl(int64_t in, int64_t out, int64_t groups)
    : norm1_(register_module("norm1", Norm(groups, in))),
      norm2_(register_module("norm2", Norm(groups, out))),
      conv1_(register_module("conv1", CausalConv3d(in, out, 3, false))),
      conv2_(register_module("conv2", CausalConv3d(out, out, 3, false))) {
  if (in != out) conv3_ = register_module("conv3", CausalConv3d(in, out, 1, false));
}

torch::Tensor TemporalResBlockImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = conv1_->forward(torch::silu(norm1_->forward(x)));
  h = conv2_->forward(torch::silu(norm2_->forward(h)));
  return h + (conv3_ ? conv3_->forward(x) : x);
}

TemporalEncoderImpl::TemporalEncoderImpl(const TemporalVaeConfig& config) : config_(config) {
  const int64_t groups = config.num_groups, levels = config.channel_multipliers.size();
  conv_in_ = register_module("conv_in", CausalConv3d(config.in_out_channels, config.filters, 3,
                                                     /*bias=*/false));
  int64_t prev = config.filters, filters = config.filters;
  for (int64_t i = 0; i < levels; ++i) {
    filters = config.filters * config.channel_multipliers[i];
    torch::nn::ModuleList blocks;
    for (int64_t j = 0; j < config.num_res_blocks; ++j) {
      blocks->push_back(TemporalResBlock(prev, filters, groups));
      prev = filters;
    }
    block_res_blocks_->push_back(blocks);
    if (i < levels - 1) {
      // A level without temporal downsampling has an Identity here (no parameters).
      if (config.temporal_downsample[i]) {
        conv_blocks_->push_back(CausalConv3d(prev, filters, 3, true, 2));
      } else {
        conv_blocks_->push_back(torch::nn::Identity());
      }
      prev = filters;
    }
  }
  register_module("block_res_blocks", block_res_blocks_);
  register_module("conv_blocks", conv_blocks_);
  for (int64_t j = 0; j < config.num_res_blocks; ++j) {
    res_blocks_->push_back(TemporalResBlock(prev, filters, groups));
    prev = filters;
  }
  register_module("res_blocks", res_blocks_);
  norm1_ = register_module("norm1", Norm(groups, prev));
  conv2_ = register_module("conv2", CausalConv3d(prev, 2 * config.latent_embed_dim, 1, true));
}

torch::Tensor TemporalEncoderImpl::forward(torch::Tensor x) {
  x = conv_in_->forward(x);
  const size_t levels = block_res_blocks_->size();
  for (size_t i = 0; i < levels; ++i) {
    for (const auto& block : *block_res_blocks_[i]->as<torch::nn::ModuleList>())
      x = block->as<TemporalResBlock>()->forward(x);
    if (i + 1 < levels && config_.temporal_downsample[i])
      x = conv_blocks_[i]->as<CausalConv3d>()->forward(x);
  }
  for (const auto& block : *res_blocks_) x = block->as<TemporalResBlock>()->forward(x);
  return conv2_->forward(torch::silu(norm1_->forward(x)));
}

TemporalDecoderImpl::TemporalDecoderImpl(const TemporalVaeConfig& config) : config_(config) {
  const int64_t groups = config.num_groups, levels = config.channel_multipliers.size();
  int64_t filters = config.filters * config.channel_multipliers.back();
  int64_t prev = filters;
  conv1_ = register_module("conv1", CausalConv3d(config.latent_embed_dim, filters, 3, true));
  for (int64_t j = 0; j < config.num_res_blocks; ++j)
    res_blocks_->push_back(TemporalResBlock(filters, filters, groups));
  register_module("res_blocks", res_blocks_);
  // Built from the top level down, stored bottom level first (the reference inserts at 0).
  std::vector<torch::nn::ModuleList> blocks(levels);
  std::vector<std::shared_ptr<torch::nn::Module>> convs(levels > 0 ? levels - 1 : 0);
  for (int64_t i = levels - 1; i >= 0; --i) {
    filters = config.filters * config.channel_multipliers[i];
    for (int64_t j = 0; j < config.num_res_blocks; ++j) {
      blocks[i]->push_back(TemporalResBlock(prev, filters, groups));
      prev = filters;
    }
    if (i > 0) {
      if (config.temporal_downsample[i - 1]) {
        convs[i - 1] = CausalConv3d(prev, prev * 2, 3, true).ptr();
      } else {
        convs[i - 1] = torch::nn::Identity().ptr();
      }
    }
  }
  for (auto& b : blocks) block_res_blocks_->push_back(b);
  for (auto& c : convs) conv_blocks_->push_back(c);
  register_module("block_res_blocks", block_res_blocks_);
  register_module("conv_blocks", conv_blocks_);
  norm1_ = register_module("norm1", Norm(groups, prev));
  conv_out_ = register_module("conv_out", CausalConv3d(filters, config.in_out_channels, 3, true));
}

torch::Tensor TemporalDecoderImpl::forward(torch::Tensor z) {
  torch::Tensor x = conv1_->forward(z);
  for (const auto& block : *res_blocks_) x = block->as<TemporalResBlock>()->forward(x);
  const int64_t levels = block_res_blocks_->size();
  for (int64_t i = levels - 1; i >= 0; --i) {
    for (const auto& block : *block_res_blocks_[i]->as<torch::nn::ModuleList>())
      x = block->as<TemporalResBlock>()->forward(x);
    if (i > 0 && config_.temporal_downsample[i - 1]) {
      x = conv_blocks_[i - 1]->as<CausalConv3d>()->forward(x);
      // Depth to time: output frame 2t + s, channel c comes from input channel 2c + s.
      const int64_t b = x.size(0), c = x.size(1) / 2, t = x.size(2), h = x.size(3), w = x.size(4);
      x = x.view({b, c, 2, t, h, w}).permute({0, 1, 3, 2, 4, 5}).reshape({b, c, t * 2, h, w});
    }
  }
  return conv_out_->forward(torch::silu(norm1_->forward(x)));
}

TemporalVaeImpl::TemporalVaeImpl(TemporalVaeConfig config) : config_(std::move(config)) {
  encoder_ = register_module("encoder", TemporalEncoder(config_));
  quant_conv_ = register_module(
      "quant_conv", CausalConv3d(2 * config_.latent_embed_dim, 2 * config_.embed_dim, 1, true));
  post_quant_conv_ = register_module(
      "post_quant_conv", CausalConv3d(config_.embed_dim, config_.latent_embed_dim, 1, true));
  decoder_ = register_module("decoder", TemporalDecoder(config_));
}

torch::Tensor TemporalVaeImpl::EncodeMoments(const torch::Tensor& x) {
  const int64_t f = config_.time_factor();
  const int64_t pad = (f - x.size(2) % f) % f;
  torch::Tensor padded = pad > 0 ? F::pad(x, F::PadFuncOptions({0, 0, 0, 0, pad, 0})) : x;
  return quant_conv_->forward(encoder_->forward(padded));
}

torch::Tensor TemporalVaeImpl::Decode(const torch::Tensor& z, int64_t num_frames) {
  const int64_t f = config_.time_factor();
  const int64_t drop = (f - num_frames % f) % f;
  torch::Tensor x = decoder_->forward(post_quant_conv_->forward(z));
  return x.slice(2, drop);
}

}  // namespace modelgrow::vae
