#include "modelgrow/host/vae_loading.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "modelgrow/sdk/errors.h"

namespace modelgrow {

std::string ChooseVaePlugin(const PluginRegistry& registry, const std::string& plugin) {
  if (!plugin.empty()) return registry.Find(PluginKind::kVae, plugin).name;
  std::vector<std::string> names;
  for (const PluginInfo& info : registry.List(PluginKind::kVae)) names.push_back(info.name);
  if (names.size() == 1) return names[0];
  if (names.empty())
    throw InputError(
        "no VAE plugin on the plugin search path ('modelgrow plugins --kind vae' lists them)");
  throw InputError(
      fmt::format("several VAE plugins ({}); name one with --vae-plugin", fmt::join(names, ", ")));
}

std::shared_ptr<VideoAutoencoder> LoadVae(const PluginRegistry& registry, const std::string& plugin,
                                          const Options& options, c10::Device device) {
  PluginContext context;
  context.options = options;
  context.device = device;
  std::shared_ptr<VideoAutoencoder> vae = registry.MakeVideoAutoencoder(plugin, context);
  vae->Load();
  return vae;
}

nlohmann::json VaeRecord(const std::string& plugin, const Options& options) {
  return {{"plugin", plugin}, {"options", options.ToToml()}};
}

std::shared_ptr<VideoAutoencoder> LoadRecordedVae(const PluginRegistry& registry,
                                                  const nlohmann::json& record,
                                                  const std::string& where, c10::Device device) {
  if (!record.is_object() || !record.contains("plugin") || !record["plugin"].is_string() ||
      !record.contains("options") || !record["options"].is_string())
    throw InputError(
        fmt::format("{}: a VAE record is {{\"plugin\": \"...\", \"options\": \"<TOML>\"}}, got {}",
                    where, record.dump()));
  Options options = Options::ParseString(record["options"].get<std::string>(), where + ": vae");
  return LoadVae(registry, record["plugin"].get<std::string>(), options, device);
}

void CheckVaeFitsModel(const VideoAutoencoder& vae, const std::string& vae_name,
                       int64_t in_channels, const std::string& model_name) {
  if (vae.latent_channels() == in_channels) return;
  throw InputError(fmt::format(
      "the VAE {} makes {}-channel latents but the model {} takes {} input channels: train the "
      "model on this VAE's latents (in_channels = {}) or name the VAE its data was encoded with",
      vae_name, vae.latent_channels(), model_name, in_channels, vae.latent_channels()));
}

}  // namespace modelgrow
