#include "modelgrow/host/checkpoint_text_encoders.h"

#include <fmt/format.h>

#include "modelgrow/sdk/errors.h"

namespace modelgrow {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::vector<std::shared_ptr<TextEncoder>> CheckpointTextEncoders(
    const PluginRegistry& registry, const fs::path& checkpoint,
    const std::vector<std::string>& conditions, const json& provenance, const Options& tables,
    c10::Device device) {
  const json recorded = provenance.value("text_encoders", json::object());
  std::vector<std::shared_ptr<TextEncoder>> encoders;
  for (const std::string& name : conditions) {
    PluginContext context;
    context.device = device;
    std::string plugin;
    if (tables.Has(name)) {
      Options t = tables.Table(name);
      plugin = t.RequireString("plugin");
      context.options = t.Subset({"plugin"});
      tables.ThrowIfProblems();
    } else if (recorded.contains(name) && recorded[name].is_object()) {
      const json& r = recorded[name];
      plugin = r.value("plugin", "");
      context.options =
          Options::ParseString(r.value("options", ""),
                               (checkpoint / "config.json").string() + ": text_encoders." + name);
      if (r.contains("path_relative_to_checkpoint")) {
        fs::path folder =
            (checkpoint / r["path_relative_to_checkpoint"].get<std::string>()).lexically_normal();
        std::error_code ec;
        if (!fs::exists(folder, ec)) {
          throw InputError(fmt::format(
              "{}: the text encoder of condition '{}' was recorded at {} (relative to the "
              "checkpoint), which does not exist: was the checkpoint moved out of its experiment "
              "folder? Pass --text FILE with a [text.{}] table (plugin and options) instead",
              checkpoint.string(), name, folder.string(), name));
        }
        context.options.Set("path", json(folder.string()).dump(),
                            "text_encoders." + name + ".path_relative_to_checkpoint");
      }
    } else {
      throw InputError(fmt::format(
          "{}: the model's text condition '{}' has no recorded encoder; pass --text FILE with a "
          "[text.{}] table (plugin and options)",
          checkpoint.string(), name, name));
    }
    std::shared_ptr<TextEncoder> encoder = registry.MakeTextEncoder(plugin, context);
    encoder->Load();
    encoders.push_back(encoder);
  }
  return encoders;
}

}  // namespace modelgrow
