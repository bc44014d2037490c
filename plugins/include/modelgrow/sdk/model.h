// The model as plugins see it: Open-Sora's STDiT3 with the editing API growth operators use
// (block lists and SetBlocks, text conditions, width bookkeeping, LoRA-capable linear layers).
// These core headers are part of the SDK and covered by its API version:
//   modelgrow/model/stdit3.h     STDiT3Impl, ModelInput, TextInput
//   modelgrow/model/block.h      STDiT3BlockImpl, BlockSpec, BlockInputs
//   modelgrow/model/config.h     STDiT3Config, presets, BlockRef, TextConditionSpec
//   modelgrow/model/embedders.h  patch, timestep and caption embedders, the final layer
//   modelgrow/model/attention.h  self- and cross-attention modules, the attention function
//   modelgrow/model/linear.h     LinearImpl (with LoRA adapters)
//   modelgrow/model/precision.h  PrecisionScope (explicit mixed precision)
#pragma once

#include "modelgrow/model/precision.h"
#include "modelgrow/model/stdit3.h"
