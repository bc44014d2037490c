// Finding and loading the VAE a user or a record names, the same way for every command and stage.
#pragma once

#include <memory>
#include <string>

#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include "modelgrow/host/plugin_registry.h"
#include "modelgrow/sdk/options.h"
#include "modelgrow/sdk/video_autoencoder.h"

namespace modelgrow {

// The VAE plugin meant: `plugin` when given, else the only VAE plugin on the search path (none or
// several: an InputError that lists them and says to name one).
std::string ChooseVaePlugin(const PluginRegistry& registry, const std::string& plugin);

// Constructs the plugin from its options, then loads it on `device`.
std::shared_ptr<VideoAutoencoder> LoadVae(const PluginRegistry& registry, const std::string& plugin,
                                          const Options& options, c10::Device device);

// How a checkpoint or an export records its VAE, and the way back: {"plugin", "options" (TOML)}.
nlohmann::json VaeRecord(const std::string& plugin, const Options& options);
std::shared_ptr<VideoAutoencoder> LoadRecordedVae(const PluginRegistry& registry,
                                                  const nlohmann::json& record,
                                                  const std::string& where, c10::Device device);

// InputError when the VAE's latents cannot be the model's input: "<vae> makes N-channel latents
// but <model> takes M input channels".
void CheckVaeFitsModel(const VideoAutoencoder& vae, const std::string& vae_name,
                       int64_t in_channels, const std::string& model_name);

}  // namespace modelgrow
