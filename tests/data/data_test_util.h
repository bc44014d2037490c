// Helpers for the data tests: the built-in data plugins, made from TOML option text.
#pragma once

#include <memory>
#include <string>

#include "modelgrow/base/options.h"
#include "modelgrow/host/plugin_registry.h"
#include "modelgrow/sdk/data_pipeline.h"

namespace modelgrow::testing {

// The plugins of this build (build/lib/modelgrow/plugins), loaded once.
inline const PluginRegistry& BuiltPlugins() {
  static const PluginRegistry* registry = [] {
    auto* r = new PluginRegistry();
    r->LoadFrom({std::filesystem::path(MODELGROW_BUILD_DIR) / "lib/modelgrow/plugins"});
    return r;
  }();
  return *registry;
}

inline std::shared_ptr<DataPipeline> MakePipeline(const std::string& plugin,
                                                  const std::string& toml) {
  PluginContext context{Options::ParseString(toml, plugin + ".toml")};
  return BuiltPlugins().MakeDataPipeline(plugin, context);
}

}  // namespace modelgrow::testing
