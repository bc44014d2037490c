// STDiT3 configuration: the fields of Open-Sora's STDiT3Config, plus what growth can change
// (block order, MLP width, head count and size, extra text conditions).
//
// It reads and writes the Hugging Face `config.json` of hpcai-tech/OpenSora-STDiT-v3, so a
// checkpoint folder written here loads in Open-Sora (as long as nothing Open-Sora lacks, such
// as a second text condition, was added) and Open-Sora's folders load here.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace modelgrow {

class Options;

// A text condition after the first (condition 0 is Open-Sora's own caption path). Each has its
// own caption projection `y_embedder_{k}`, null embedding, and cross-attention `cross_attn_{k}` in
// every block, applied right after `cross_attn_{k-1}`.
struct TextConditionSpec {
  std::string name;              // e.g. "llm"; informative, keys use the index
  int64_t caption_channels = 0;  // width of the encoder's embedding
  int64_t token_num = 0;         // tokens per caption (the encoder's max length)
  bool operator==(const TextConditionSpec&) const = default;
};

// One entry of the forward order: a spatial or temporal block by its index in its list.
struct BlockRef {
  bool temporal = false;
  int64_t index = 0;
  bool operator==(const BlockRef&) const = default;
};

// A unit of masked structural growth (MSG) still fading in. `module` is either a block
// ("spatial_blocks.4", first_input = -1), computed as x + value * (block(x) - x), or a linear
// layer ("spatial_blocks.0.mlp.fc2") whose inputs from `first_input` on are multiplied by `value`
// (new MLP units, new heads). Part of the model's function, so config.json records it
// ("modelgrow_growth_masks") until the training hook that ramps it is done (sdk/training_hook.h).
struct GrowthMask {
  std::string module;
  int64_t first_input = -1;
  double value = 0;
  bool operator==(const GrowthMask&) const = default;
};

struct STDiT3Config {
  int64_t hidden_size = 1152;
  int64_t depth = 28;  // blocks per list in the default alternating order
  int64_t num_heads = 16;
  int64_t head_dim = 0;  // 0: hidden_size / num_heads (width growth can add heads of this size)
  double mlp_ratio = 4.0;
  int64_t mlp_hidden_size = 0;  // 0: int(hidden_size * mlp_ratio)
  // Width of the 2-D sin/cos position embedding, tiled up to hidden_size (0: hidden_size). A model
  // whose hidden size was grown by cloning (hypercloning) keeps its base's embedding this way.
  int64_t pos_embed_dim = 0;
  // Adds a fixed 1-D sin/cos embedding of the frame index (Open-Sora 1.0's STDiT
  // `pos_embed_temporal`, at pos_embed_dim width, tiled) to every token at the input. STDiT3 has
  // only the temporal rotary embedding, which is relative: on tokens that do not yet differ across
  // frames (pure noise, one caption) attention cannot tell the first frame from the last, so a
  // caption's direction of motion ("moves left" vs "right") is left to the noise. Off by default,
  // as in Open-Sora 1.2, whose checkpoints lack it.
  bool temporal_pos_embed = false;
  std::array<int64_t, 3> patch_size{1, 2, 2};
  int64_t in_channels = 4;
  bool pred_sigma = true;
  int64_t caption_channels = 4096;
  int64_t model_max_length = 300;
  bool qk_norm = true;
  double class_dropout_prob = 0.1;
  int64_t input_sq_size = 512;
  std::string condition0_name = "t5";
  std::vector<TextConditionSpec> extra_conditions;
  // Block lists and forward order. Empty order means the reference's: s0 t0 s1 t1 ...
  int64_t num_spatial_blocks = -1;   // -1: depth
  int64_t num_temporal_blocks = -1;  // -1: depth
  std::vector<BlockRef> block_order;
  std::vector<GrowthMask> growth_masks;  // empty for a plain model

  int64_t out_channels() const { return pred_sigma ? in_channels * 2 : in_channels; }
  int64_t resolved_head_dim() const { return head_dim > 0 ? head_dim : hidden_size / num_heads; }
  int64_t attention_dim() const { return num_heads * resolved_head_dim(); }
  int64_t resolved_pos_embed_dim() const { return pos_embed_dim > 0 ? pos_embed_dim : hidden_size; }
  int64_t resolved_mlp_hidden() const {
    return mlp_hidden_size > 0 ? mlp_hidden_size
                               : static_cast<int64_t>(static_cast<double>(hidden_size) * mlp_ratio);
  }
  int64_t spatial_count() const { return num_spatial_blocks >= 0 ? num_spatial_blocks : depth; }
  int64_t temporal_count() const { return num_temporal_blocks >= 0 ? num_temporal_blocks : depth; }
  int64_t num_conditions() const { return 1 + static_cast<int64_t>(extra_conditions.size()); }
  // The text conditions' names in order (condition 0 first): each names its text encoder.
  std::vector<std::string> ConditionNames() const;
  // The forward order, with the default filled in.
  std::vector<BlockRef> ResolvedOrder() const;
  // Whether the order is the reference's strict alternation (then config.json needs no order).
  bool IsDefaultOrder() const;

  // Throws InputError naming the field when the configuration cannot build a model.
  void Validate() const;

  // Hugging Face config.json (Open-Sora's field names; extras under "modelgrow_*").
  nlohmann::json ToJson() const;
  static STDiT3Config FromJson(const nlohmann::json& json, const std::string& source);

  bool operator==(const STDiT3Config&) const = default;
};

// Named sizes: STDiT3-XL/2 and STDiT3-3B/2 (the released ones) and small CPU presets.
STDiT3Config PresetConfig(const std::string& name);
std::vector<std::string> PresetNames();

// A config from a manifest table: `preset = "..."` then any field overridden by name.
STDiT3Config ConfigFromOptions(const Options& table);

}  // namespace modelgrow
