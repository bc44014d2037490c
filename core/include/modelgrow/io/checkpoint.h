// Model checkpoints: a folder in Hugging Face / Open-Sora layout.
//
//   config.json            STDiT3Config (Open-Sora's fields) + "modelgrow": {provenance, lora,
//                          frozen parameters}
//   model.safetensors      weights under Open-Sora's keys (or shards +
//   model.safetensors.index.json)
//   ...                    whatever else the writer adds (optimizer state, EMA, trainer state)
//
// A folder is written whole into a staging folder beside the target and renamed into place, so a
// crash never leaves a half-written checkpoint under the real name.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include "modelgrow/model/stdit3.h"
#include "modelgrow/sdk/atomic_folder.h"
#include "modelgrow/sdk/safetensors.h"

namespace modelgrow {

struct LoraRecord {
  std::string module;  // e.g. "spatial_blocks.0.attn.qkv"
  int64_t rank = 0;
  double alpha = 0;
  double dropout = 0;
};

// What config.json's "modelgrow" object records besides the model config.
struct CheckpointMeta {
  nlohmann::json provenance = nlohmann::json::object();  // BuildProvenance() + manifest hash, ...
  std::vector<LoraRecord> lora;
  std::vector<std::string> frozen;  // parameters with requires_grad false
};

// The LoRA layers and frozen parameters of a model, as the checkpoint records them.
CheckpointMeta DescribeModel(const STDiT3Impl& model);

struct SaveOptions {
  std::optional<c10::ScalarType> dtype;  // store floating tensors in F16/BF16; default as held
  int64_t max_shard_bytes = 5LL << 30;
};

// Writes a checkpoint folder atomically (sdk/atomic_folder.h): the model, then whatever else the
// writer adds (optimizer state, EMA, reports), all in one commit.
class CheckpointWriter : public AtomicFolderWriter {
 public:
  using AtomicFolderWriter::AtomicFolderWriter;
  void AddModel(const STDiT3Impl& model, const CheckpointMeta& meta,
                const SaveOptions& options = {});
};

void SaveModel(const std::filesystem::path& folder, const STDiT3Impl& model,
               const CheckpointMeta& meta, const SaveOptions& options = {});

struct LoadedModel {
  STDiT3 model{nullptr};
  CheckpointMeta meta;
};

// Loads a checkpoint folder (ours, or a real Open-Sora one such as hpcai-tech/OpenSora-STDiT-v3)
// onto `device`, weights in fp32. Missing, unknown or misshapen keys are an InputError that
// names them; so are a missing or corrupt config.json or safetensors file.
LoadedModel LoadModel(const std::filesystem::path& folder,
                      c10::Device device = c10::Device(c10::DeviceType::CPU));

// Copies matching tensors from `store` into the model; returns the keys it could not place.
// Throws InputError on shape mismatches (naming key and both shapes).
std::vector<std::string> LoadWeights(STDiT3Impl& model, const TensorStore& store,
                                     std::vector<std::string>* missing);

}  // namespace modelgrow
