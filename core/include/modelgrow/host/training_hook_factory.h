// Builds the training hook a checkpoint's training_hook.json describes (sdk/training_hook.h) by
// asking the growth operator that wrote it, rebuilt from the same options.
#pragma once

#include <functional>
#include <memory>

#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include "modelgrow/host/plugin_registry.h"
#include "modelgrow/sdk/training_hook.h"

namespace modelgrow {

// The registry must outlive the returned function and the hooks it makes; each hook keeps its
// operator (and so its plugin library) alive.
std::function<std::unique_ptr<TrainingHook>(const nlohmann::json& record)> TrainingHookFactory(
    const PluginRegistry& registry, c10::Device device);

}  // namespace modelgrow
