// Helpers for the data tests: the built data plugins, made from TOML option text, and the small
// fakes the shard tests export.
#pragma once

#include <algorithm>
#include <array>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <torch/torch.h>

#include "fakes/hashed_words.h"
#include "fakes/labelled_pixels.h"
#include "fakes/mixed_latents.h"
#include "modelgrow/host/plugin_registry.h"
#include "modelgrow/sdk/data_pipeline.h"
#include "modelgrow/sdk/options.h"
#include "test_paths.h"

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

// Phase one only: the plugin constructed from its options (ValidationError for option
// problems); nothing is opened.
inline std::shared_ptr<DataPipeline> ConstructPipeline(const std::string& plugin,
                                                       const std::string& toml) {
  PluginContext context{Options::ParseString(toml, plugin + ".toml")};
  return BuiltPlugins().MakeDataPipeline(plugin, context);
}

// Both phases: constructed and opened, ready for Get().
inline std::shared_ptr<DataPipeline> MakePipeline(const std::string& plugin,
                                                  const std::string& toml) {
  std::shared_ptr<DataPipeline> pipeline = ConstructPipeline(plugin, toml);
  pipeline->Open();
  return pipeline;
}

}  // namespace modelgrow::testing
