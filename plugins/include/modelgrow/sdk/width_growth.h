// Width growth of every block: more attention heads of the same size and a wider MLP, for the
// operators that do it (width: zero-init expansions; msg: masked units of any init).
//
// New heads get new q/k/v rows in each of the three segments of attn.qkv (its output is laid out
// [3, heads, head_dim]) and of the cross-attentions' q_linear ([heads, head_dim]) and kv_linear
// ([2, heads, head_dim]), and new input columns in every output projection; new MLP units get new
// fc1 rows and fc2 columns. New units always come last, so a layer's new inputs are
// [old width, new width). Optimizer moments of the resized tensors are padded with zeros in the
// same layout.
#pragma once

#include <cstdint>
#include <string>

#include "modelgrow/sdk/model.h"
#include "modelgrow/sdk/optimizer_state.h"

namespace modelgrow {

enum class NewWeights {
  kZero,
  kRandom,  // Xavier-uniform bound of the grown matrix, biases zero
};

struct WidthGrowthSpec {
  int64_t heads = 0;       // 0: unchanged
  int64_t mlp_hidden = 0;  // 0: unchanged
  // The rows that compute the new units (qkv, q_linear, kv_linear, fc1) and the columns that
  // read them (attn.proj, cross-attention proj, fc2).
  NewWeights new_inputs = NewWeights::kRandom;
  NewWeights new_outputs = NewWeights::kZero;
};

// InputError when `spec` does not grow the model (a smaller or equal width) or a block layer has
// LoRA adapters (they cannot be resized; merge them first). Changes nothing.
void CheckWidthGrowth(const STDiT3Impl& model, const WidthGrowthSpec& spec);

// Grows every block and the config; draws from `seed`. Returns how many tensors were resized.
int64_t GrowWidth(STDiT3Impl& model, const WidthGrowthSpec& spec, uint64_t seed,
                  OptimizerState* optimizer_state);

// Hidden-size growth (hypercloning, ligo) changes three widths at once: the hidden size C, the
// attention width (heads x head_dim, grown by adding heads) and the MLP width. A parameter's
// layout says which of its axes run along which width, so every such operator grows STDiT3 from
// one table of its tensors.
enum class WidthAxis { kNone, kHidden, kHeads, kMlp };

struct ParameterLayout {
  enum class Shape {
    kMatrix,  // [segments x rows, cols]: `out` along rows (per segment), `in` along cols
    kVector,  // [segments x rows]: `out` along rows (per segment)
    kTable,   // [k, C] (scale_shift_table): `out` along its second axis
    kConv,    // [C, in_channels, kt, kh, kw] (x_embedder.proj): `out` along its first axis
  } shape = Shape::kVector;
  int64_t segments = 1;  // qkv is [3, heads x head_dim], kv_linear [2, ...], t_block.1 [6, C]
  WidthAxis out = WidthAxis::kNone;
  WidthAxis in = WidthAxis::kNone;
  bool grows() const { return out != WidthAxis::kNone || in != WidthAxis::kNone; }
};

// The layout of STDiT3 parameter `key`. Unchanged by hidden-size growth (both axes kNone): the
// caption table y_embedding (it holds captions, not hidden states), q/k RMSNorm weights (per
// head_dim), and the final layer's bias (its output is the patch, not hidden). Layers that read
// something not on the hidden axis (timestep frequencies, captions, pixels) have `in` kNone.
ParameterLayout HiddenGrowthLayout(const std::string& key);

// InputError when growing `model`'s hidden size `factor` times (1: a growth that rewrites every
// tensor from the model's own, as ligo's depth does) cannot apply: LoRA adapters (they cannot be
// expanded; merge them first), growth masks of an MSG ramp still running, or a grown config that
// is not valid. Changes nothing.
void CheckHiddenSizeGrowth(const STDiT3Impl& model, int64_t factor);

}  // namespace modelgrow
