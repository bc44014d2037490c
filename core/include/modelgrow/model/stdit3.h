// Open-Sora 1.2's STDiT3 video diffusion transformer, faithful to the reference
// (hpcaitech/Open-Sora v1.2.0, opensora/models/stdit/stdit3.py) down to parameter names.
//
// Beyond the reference it can hold several text conditions (condition 0 is Open-Sora's caption
// path) and block lists that growth operators edit: blocks are kept in two ordered lists
// (`spatial_blocks`, `temporal_blocks`) plus a forward order, and SetBlocks() renumbers keys.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "modelgrow/model/block.h"
#include "modelgrow/model/config.h"
#include "modelgrow/model/embedders.h"

namespace modelgrow {

// One text condition's input: an encoder's output and its mask.
struct TextInput {
  torch::Tensor embedding;  // [B, L, D]
  torch::Tensor mask;       // [B, L] (bool or integer; nonzero = valid), or undefined: all valid
};

struct ModelInput {
  torch::Tensor x;              // [B, C, T, H, W] latents (or pixels)
  torch::Tensor timestep;       // [B], in [0, num_timesteps]
  std::vector<TextInput> text;  // one per model condition, in order
  torch::Tensor x_mask;         // [B, T] bool: true = noised frame, false = kept (uses timestep 0)
  torch::Tensor fps;            // [B]; undefined means 24 for every sample
  // Pixel size of the video; sets the position embedding's scale (the reference uses sample 0's).
  double height = 0;  // 0: H of x
  double width = 0;   // 0: W of x
};

class STDiT3Impl : public torch::nn::Module {
 public:
  explicit STDiT3Impl(const STDiT3Config& config);

  // [B, out_channels, T, H, W] in fp32 (the velocity is the first in_channels channels).
  torch::Tensor forward(const ModelInput& input);

  const STDiT3Config& config() const { return config_; }

  // The block lists and the forward order. SetBlocks replaces both lists, re-registers them so
  // keys read spatial_blocks.0..n-1 in list order, and records the new order in the config.
  const std::vector<STDiT3Block>& spatial_blocks() const { return spatial_; }
  const std::vector<STDiT3Block>& temporal_blocks() const { return temporal_; }
  void SetBlocks(std::vector<STDiT3Block> spatial, std::vector<STDiT3Block> temporal,
                 std::vector<BlockRef> order);
  // The spec a new block of this model must have.
  BlockSpec MakeBlockSpec(bool temporal) const;

  // Adds a text condition (projection `y_embedder_{k}`, null embedding, and a zero-output
  // cross-attention in every block). Returns its index k.
  int64_t AddTextCondition(const TextConditionSpec& spec);
  // Condition k's caption embedder (0: `y_embedder`).
  CaptionEmbedder caption_embedder(int64_t k) const { return y_embedders_.at(k); }
  // The null caption of condition k, [token_num, caption_channels].
  torch::Tensor NullCaption(int64_t k) const { return y_embedders_.at(k)->y_embedding; }

  // Masked structural growth (config.h's GrowthMask): replaces every mask of the model with
  // `masks`; an empty list leaves the plain model. InputError names a module that does not
  // exist or an input index out of range, before anything changes.
  void SetGrowthMasks(const std::vector<GrowthMask>& masks);

  // Width growth updates the config after resizing tensors: heads, their size and the MLP width;
  // or the hidden size, with the width of the position embedding that is tiled up to it.
  void SetWidth(int64_t num_heads, int64_t head_dim, int64_t mlp_hidden);
  void SetHiddenSize(int64_t hidden_size, int64_t pos_embed_dim);

  // Called after every block with its input and output (for tests and activation statistics).
  using BlockObserver =
      std::function<void(const BlockRef&, const torch::Tensor& in, const torch::Tensor& out)>;
  void set_block_observer(BlockObserver observer) { observer_ = std::move(observer); }

  void set_activation_checkpointing(bool on) { checkpointing_ = on; }
  bool activation_checkpointing() const { return checkpointing_; }

  // Every parameter and persistent buffer by its state-dict key, in registration order.
  std::vector<std::pair<std::string, torch::Tensor>> StateDict() const;
  int64_t NumParameters() const;
  int64_t NumTrainableParameters() const;
  torch::Device device() const { return final_layer->linear->weight.device(); }

  PatchEmbed3D x_embedder{nullptr};
  TimestepEmbedder t_embedder{nullptr};
  TimestepEmbedder fps_embedder{nullptr};
  Linear t_block{nullptr};  // key t_block.1 (after the SiLU)
  FinalLayer final_layer{nullptr};
  torch::Tensor rope_freqs;  // key rope.freqs: rotary inverse frequencies, as the reference saves

 private:
  void RegisterBlockLists();
  // The masks the blocks and their layers hold, under their current keys.
  std::vector<GrowthMask> CollectGrowthMasks() const;

  STDiT3Config config_;
  std::vector<CaptionEmbedder> y_embedders_;
  std::vector<STDiT3Block> spatial_;
  std::vector<STDiT3Block> temporal_;
  bool checkpointing_ = false;
  BlockObserver observer_;
};
TORCH_MODULE(STDiT3);

// The key prefix of condition k's caption embedder: "y_embedder", "y_embedder_1", ...
std::string CaptionEmbedderName(int64_t condition);

}  // namespace modelgrow
