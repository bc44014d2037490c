// The text encoders a checkpoint conditions on, rebuilt from what its config.json records (every
// run and `modelgrow grow` write that record) or from [text.<condition>] tables the user gives.
#pragma once

#include <filesystem>
#include <memory>
#include <vector>

#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include "modelgrow/host/plugin_registry.h"
#include "modelgrow/sdk/text_encoder.h"

namespace modelgrow {

// One encoder per model condition, in order, loaded on `device`. `tables` (a [text] table, may
// be empty) wins over the record for the conditions it names. A model folder recorded relative
// to the checkpoint is resolved against `checkpoint`; InputError naming the condition, the
// recorded place and the way out (--text) when it does not exist or nothing is recorded.
std::vector<std::shared_ptr<TextEncoder>> CheckpointTextEncoders(
    const PluginRegistry& registry, const std::filesystem::path& checkpoint,
    const std::vector<std::string>& conditions, const nlohmann::json& provenance,
    const Options& tables, c10::Device device);

}  // namespace modelgrow
