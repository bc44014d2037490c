#include "modelgrow/model/stdit3.h"
#include "modelgrow/model/init_device.h"

#include <cmath>
#include <tuple>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "modelgrow/sdk/errors.h"

namespace modelgrow {

std::string CaptionEmbedderName(int64_t condition) {
  return condition == 0 ? "y_embedder" : "y_embedder_" + std::to_string(condition);
}

namespace {

// Holds the `freqs` buffer under the key `rope.freqs`, where rotary_embedding_torch keeps it.
struct RopeHolder : torch::nn::Module {
  explicit RopeHolder(torch::Tensor f) { freqs = register_buffer("freqs", std::move(f)); }
  torch::Tensor freqs;
};

// A parent that names blocks by position: `spatial_blocks.3.attn.qkv.weight`.
std::shared_ptr<torch::nn::Module> BlockList(const std::vector<STDiT3Block>& blocks) {
  auto list = std::make_shared<torch::nn::Module>();
  for (size_t i = 0; i < blocks.size(); ++i) list->register_module(std::to_string(i), blocks[i]);
  return list;
}

}  // namespace

STDiT3Impl::STDiT3Impl(const STDiT3Config& config) : config_(config) {
  config_.Validate();
  const int64_t c = config_.hidden_size;
  rope_freqs =
      register_module(
          "rope", std::make_shared<RopeHolder>(RotaryInverseFrequencies(config_.resolved_head_dim())
                                                   .to(ModelInitOptions().device())))
          ->freqs;
  x_embedder =
      register_module("x_embedder", PatchEmbed3D(config_.patch_size, config_.in_channels, c));
  t_embedder = register_module("t_embedder", TimestepEmbedder(c));
  fps_embedder = register_module("fps_embedder", TimestepEmbedder(c));
  auto t_block_holder = std::make_shared<torch::nn::Module>();
  t_block = t_block_holder->register_module("1", Linear(c, 6 * c));
  register_module("t_block", t_block_holder);
  y_embedders_.push_back(
      register_module(CaptionEmbedderName(0),
                      CaptionEmbedder(config_.caption_channels, c, config_.model_max_length)));
  for (size_t k = 0; k < config_.extra_conditions.size(); ++k) {
    const auto& spec = config_.extra_conditions[k];
    y_embedders_.push_back(
        register_module(CaptionEmbedderName(static_cast<int64_t>(k) + 1),
                        CaptionEmbedder(spec.caption_channels, c, spec.token_num)));
  }
  for (int64_t i = 0; i < config_.spatial_count(); ++i) {
    spatial_.push_back(STDiT3Block(MakeBlockSpec(false)));
  }
  for (int64_t i = 0; i < config_.temporal_count(); ++i) {
    temporal_.push_back(STDiT3Block(MakeBlockSpec(true)));
  }
  RegisterBlockLists();
  int64_t patch_volume = config_.patch_size[0] * config_.patch_size[1] * config_.patch_size[2];
  final_layer = register_module("final_layer", FinalLayer(c, patch_volume, config_.out_channels()));

  // Initialisation as the reference's initialize_weights(): Linear layers are Xavier with zero
  // bias already; fps embedder's first layer N(0, 0.02), its last layer zero; temporal blocks
  // start as the identity.
  torch::NoGradGuard no_grad;
  fps_embedder->mlp0->weight.normal_(0, 0.02);
  fps_embedder->mlp0->bias.zero_();
  fps_embedder->mlp2->weight.zero_();
  fps_embedder->mlp2->bias.zero_();
  for (auto& block : temporal_) {
    block->attn->proj->weight.zero_();
    for (auto& cross : block->cross_attns) cross->proj->weight.zero_();
    block->mlp->fc2->weight.zero_();
  }
  if (!config_.growth_masks.empty()) SetGrowthMasks(std::vector<GrowthMask>(config_.growth_masks));
}

BlockSpec STDiT3Impl::MakeBlockSpec(bool temporal) const {
  BlockSpec spec;
  spec.hidden = config_.hidden_size;
  spec.heads = config_.num_heads;
  spec.head_dim = config_.resolved_head_dim();
  spec.mlp_hidden = config_.resolved_mlp_hidden();
  spec.qk_norm = config_.qk_norm;
  spec.temporal = temporal;
  spec.num_conditions = config_.num_conditions();
  return spec;
}

void STDiT3Impl::RegisterBlockLists() {
  for (const char* name : {"spatial_blocks", "temporal_blocks"}) {
    if (named_children().contains(name)) unregister_module(name);
  }
  register_module("spatial_blocks", BlockList(spatial_));
  register_module("temporal_blocks", BlockList(temporal_));
}

void STDiT3Impl::SetBlocks(std::vector<STDiT3Block> spatial, std::vector<STDiT3Block> temporal,
                           std::vector<BlockRef> order) {
  STDiT3Config next = config_;
  next.num_spatial_blocks = static_cast<int64_t>(spatial.size());
  next.num_temporal_blocks = static_cast<int64_t>(temporal.size());
  next.block_order = std::move(order);
  if (next.spatial_count() == next.temporal_count() && next.IsDefaultOrder()) {
    next.depth = next.spatial_count();
    next.num_spatial_blocks = next.num_temporal_blocks = -1;
    next.block_order.clear();
  } else {
    next.depth = std::max(next.spatial_count(), next.temporal_count());
  }
  next.Validate();
  for (const auto& b : spatial) {
    if (b->temporal()) throw InputError("SetBlocks: a temporal block was given as spatial");
  }
  for (const auto& b : temporal) {
    if (!b->temporal()) throw InputError("SetBlocks: a spatial block was given as temporal");
  }
  config_ = next;
  spatial_ = std::move(spatial);
  temporal_ = std::move(temporal);
  RegisterBlockLists();
  // Masks travel with their blocks, whose keys may have changed.
  config_.growth_masks = CollectGrowthMasks();
}

std::vector<GrowthMask> STDiT3Impl::CollectGrowthMasks() const {
  std::vector<GrowthMask> masks;
  for (const auto* list : {&spatial_, &temporal_}) {
    for (size_t i = 0; i < list->size(); ++i) {
      const STDiT3Block& block = (*list)[i];
      const std::string prefix =
          fmt::format("{}.{}", block->temporal() ? "temporal_blocks" : "spatial_blocks", i);
      if (block->growth_gate() != 1) masks.push_back({prefix, -1, block->growth_gate()});
      for (const auto& item : block->named_modules("", /*include_self=*/false)) {
        auto* linear = dynamic_cast<const LinearImpl*>(item.value().get());
        if (linear != nullptr && linear->input_mask_first() >= 0) {
          masks.push_back(
              {prefix + "." + item.key(), linear->input_mask_first(), linear->input_mask_value()});
        }
      }
    }
  }
  return masks;
}

void STDiT3Impl::SetGrowthMasks(const std::vector<GrowthMask>& masks) {
  // Resolve every entry first, so a bad one changes nothing.
  std::vector<std::pair<STDiT3BlockImpl*, double>> gates;
  std::vector<std::tuple<LinearImpl*, int64_t, double>> inputs;
  // Not include_self: the constructor calls this before the model is held by a shared_ptr.
  auto modules = named_modules("", /*include_self=*/false);
  for (const GrowthMask& m : masks) {
    if (!std::isfinite(m.value) || m.value < 0 || m.value > 1) {
      throw InputError(
          fmt::format("growth mask of '{}' is {}, expected a value in [0, 1]", m.module, m.value));
    }
    if (!modules.contains(m.module) ||
        (m.module.rfind("spatial_blocks.", 0) != 0 && m.module.rfind("temporal_blocks.", 0) != 0)) {
      throw InputError(
          fmt::format("growth mask: the model has no block or block layer '{}'", m.module));
    }
    torch::nn::Module* module = modules[m.module].get();
    if (m.first_input < 0) {
      auto* block = dynamic_cast<STDiT3BlockImpl*>(module);
      if (block == nullptr) {
        throw InputError(fmt::format(
            "growth mask: '{}' is not a block (a mask without first_input gates a whole block)",
            m.module));
      }
      gates.emplace_back(block, m.value);
    } else {
      auto* linear = dynamic_cast<LinearImpl*>(module);
      if (linear == nullptr || m.first_input >= linear->in_features()) {
        throw InputError(
            fmt::format("growth mask: '{}' is not a linear layer with more than {} inputs",
                        m.module, m.first_input));
      }
      inputs.emplace_back(linear, m.first_input, m.value);
    }
  }
  for (const auto* list : {&spatial_, &temporal_}) {
    for (STDiT3Block block : *list) {
      block->set_growth_gate(1);
      for (const auto& item : block->named_modules("", /*include_self=*/false)) {
        if (auto* linear = dynamic_cast<LinearImpl*>(item.value().get())) {
          linear->SetInputMask(-1, 1);
        }
      }
    }
  }
  for (auto& [block, gate] : gates) block->set_growth_gate(gate);
  for (auto& [linear, first, value] : inputs) linear->SetInputMask(first, value);
  config_.growth_masks = CollectGrowthMasks();
}

int64_t STDiT3Impl::AddTextCondition(const TextConditionSpec& spec) {
  if (spec.caption_channels <= 0 || spec.token_num <= 0) {
    throw InputError(fmt::format(
        "text condition '{}' needs positive caption_channels and token_num (got {} and {})",
        spec.name, spec.caption_channels, spec.token_num));
  }
  int64_t k = config_.num_conditions();
  CaptionEmbedder embedder(spec.caption_channels, config_.hidden_size, spec.token_num);
  embedder->to(device());
  y_embedders_.push_back(register_module(CaptionEmbedderName(k), embedder));
  for (auto& block : spatial_) block->AddCrossAttention();
  for (auto& block : temporal_) block->AddCrossAttention();
  config_.extra_conditions.push_back(spec);
  return k;
}

void STDiT3Impl::SetHiddenSize(int64_t hidden_size, int64_t pos_embed_dim) {
  STDiT3Config next = config_;
  next.hidden_size = hidden_size;
  next.pos_embed_dim = pos_embed_dim == hidden_size ? 0 : pos_embed_dim;
  next.Validate();
  config_ = next;
  for (const auto* list : {&spatial_, &temporal_}) {
    for (STDiT3Block block : *list) block->set_hidden(hidden_size);
  }
}

void STDiT3Impl::SetWidth(int64_t num_heads, int64_t head_dim, int64_t mlp_hidden) {
  config_.num_heads = num_heads;
  config_.head_dim = head_dim * num_heads == config_.hidden_size ? 0 : head_dim;
  config_.mlp_hidden_size = mlp_hidden;
  config_.Validate();
}

torch::Tensor STDiT3Impl::forward(const ModelInput& in) {
  const torch::Tensor& x_pixels = in.x;
  if (x_pixels.dim() != 5 || x_pixels.size(1) != config_.in_channels) {
    throw InputError(fmt::format("model input must be [B, {}, T, H, W], got {}",
                                 config_.in_channels, fmt::join(x_pixels.sizes(), "x")));
  }
  if (static_cast<int64_t>(in.text.size()) != config_.num_conditions()) {
    throw InputError(fmt::format("the model has {} text condition(s) but {} were given",
                                 config_.num_conditions(), in.text.size()));
  }
  const int64_t b = x_pixels.size(0), c = config_.hidden_size;
  const int64_t tx = x_pixels.size(2), hx = x_pixels.size(3), wx = x_pixels.size(4);
  const auto& p = config_.patch_size;
  const int64_t nt = (tx + p[0] - 1) / p[0], nh = (hx + p[1] - 1) / p[1],
                nw = (wx + p[2] - 1) / p[2];
  const int64_t spatial = nh * nw;

  // Position embedding, with Open-Sora's resolution scale.
  double height = in.height > 0 ? in.height : static_cast<double>(hx);
  double width = in.width > 0 ? in.width : static_cast<double>(wx);
  int64_t base_size = std::lround(std::sqrt(static_cast<double>(spatial)));
  double scale = std::sqrt(height * width) / static_cast<double>(config_.input_sq_size);
  const int64_t pos_dim = config_.resolved_pos_embed_dim();
  torch::Tensor pos_emb = PositionEmbedding2D(pos_dim, nh, nw, scale, base_size,
                                              x_pixels.options().dtype(torch::kFloat));
  if (pos_dim != c) pos_emb = pos_emb.repeat({1, 1, c / pos_dim});

  // Timestep and fps: t feeds the final layer, t_mlp every block.
  torch::Tensor fps = in.fps.defined()
                          ? in.fps.to(torch::kFloat)
                          : torch::full({b}, 24.0, x_pixels.options().dtype(torch::kFloat));
  torch::Tensor fps_emb = fps_embedder(fps.reshape({-1, 1}).expand({b, 1}).reshape({b}));
  torch::Tensor t = t_embedder(in.timestep.to(torch::kFloat)) + fps_emb;
  BlockInputs blocks_in;
  blocks_in.t_mlp = t_block(torch::silu(t));
  torch::Tensor t0;
  if (in.x_mask.defined()) {
    t0 = t_embedder(torch::zeros_like(in.timestep, torch::kFloat)) + fps_emb;
    blocks_in.t0_mlp = t_block(torch::silu(t0));
    blocks_in.x_mask = in.x_mask.to(torch::kBool);
  }

  // Captions: projected per condition; masks keep each sample to its own valid tokens.
  for (int64_t k = 0; k < config_.num_conditions(); ++k) {
    const TextInput& text = in.text[k];
    blocks_in.y.push_back(y_embedders_[k](text.embedding.to(torch::kFloat)));
    blocks_in.y_mask.push_back(text.mask.defined() ? text.mask.to(torch::kBool) : torch::Tensor());
  }
  blocks_in.rope_inv_freq = rope_freqs;
  blocks_in.frames = nt;
  blocks_in.spatial = spatial;

  torch::Tensor x = x_embedder(x_pixels.to(torch::kFloat));
  x = x.view({b, nt, spatial, c}) + pos_emb.unsqueeze(0);
  if (config_.temporal_pos_embed) {
    // At the input rather than before the first temporal block (Open-Sora 1.0's place), so that
    // blocks stacked before or between the existing ones leave the function unchanged.
    torch::Tensor frame_emb = PositionEmbedding1D(pos_dim, nt, x.options());
    if (pos_dim != c) frame_emb = frame_emb.repeat({1, c / pos_dim});
    x = x + frame_emb.view({1, nt, 1, c});
  }
  x = x.view({b, nt * spatial, c});

  const bool checkpoint = checkpointing_ && torch::GradMode::is_enabled();
  for (const BlockRef& ref : config_.ResolvedOrder()) {
    STDiT3Block& block = ref.temporal ? temporal_[ref.index] : spatial_[ref.index];
    torch::Tensor before = x;
    x = checkpoint ? block->ForwardCheckpointed(x, blocks_in) : block->forward(x, blocks_in);
    if (observer_) observer_(ref, before, x);
  }

  x = final_layer(x, t, blocks_in.x_mask, t0, nt, spatial);

  // Unpatchify (channel fastest within a patch) and crop the padding.
  const int64_t out = config_.out_channels();
  x = x.view({b, nt, nh, nw, p[0], p[1], p[2], out})
          .permute({0, 7, 1, 4, 2, 5, 3, 6})
          .reshape({b, out, nt * p[0], nh * p[1], nw * p[2]});
  x = x.slice(2, 0, tx).slice(3, 0, hx).slice(4, 0, wx);
  return x.to(torch::kFloat);
}

std::vector<std::pair<std::string, torch::Tensor>> STDiT3Impl::StateDict() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& item : named_parameters()) out.emplace_back(item.key(), item.value());
  for (const auto& item : named_buffers()) out.emplace_back(item.key(), item.value());
  return out;
}

int64_t STDiT3Impl::NumParameters() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

int64_t STDiT3Impl::NumTrainableParameters() const {
  int64_t n = 0;
  for (const auto& p : parameters()) {
    if (p.requires_grad()) n += p.numel();
  }
  return n;
}

}  // namespace modelgrow
