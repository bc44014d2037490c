// The plugin SDK: what every plugin exports, and the macros that export it.
//
// A plugin is one shared library holding one growth operator, text encoder or data pipeline.
// It exports two C symbols: `modelgrow_plugin_api_version` (read first, so a plugin built for
// another SDK is refused with both versions named) and `modelgrow_plugin_descriptor`. Write
//
//   MODELGROW_GROWTH_OPERATOR(MyOp, "my_op", "1.0.0", "One line that says what it does");
//
// once in the plugin's source and build it with modelgrow_add_plugin() (see
// docs/writing-a-plugin.md).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include <c10/core/Device.h>

#include "modelgrow/base/options.h"

namespace modelgrow {

// Bump when an SDK header changes in a way that breaks plugins built against the old one.
inline constexpr int kSdkApiVersion = 1;

enum class PluginKind : int { kGrowth = 0, kText = 1, kData = 2 };
// "growth", "text", "data".
const char* PluginKindName(PluginKind kind);

class GrowthOperator;
class TextEncoder;
class DataPipeline;

// What a plugin's factory receives: its own option table and where it runs.
struct PluginContext {
  // The plugin's table: read every option from it; the host reports unknown keys.
  Options options = Options::Empty();
  std::filesystem::path work_dir;  // a folder the plugin may cache into (may be empty)
  c10::Device device = c10::Device(c10::DeviceType::CPU);
  uint64_t seed = 0;
  // True when the host only checks a manifest (`modelgrow validate`, and before a run starts):
  // read and check every option, but load no weights and open no data.
  bool validate_only = false;
};

using GrowthOperatorFactory = std::unique_ptr<GrowthOperator> (*)(const PluginContext&);
using TextEncoderFactory = std::unique_ptr<TextEncoder> (*)(const PluginContext&);
using DataPipelineFactory = std::unique_ptr<DataPipeline> (*)(const PluginContext&);

struct PluginDescriptor {
  int api_version;
  PluginKind kind;
  const char* name;
  const char* version;
  const char* summary;
  // Exactly one is set, the one matching `kind`.
  GrowthOperatorFactory make_growth_operator;
  TextEncoderFactory make_text_encoder;
  DataPipelineFactory make_data_pipeline;
};

}  // namespace modelgrow

#define MODELGROW_PLUGIN_EXPORT extern "C" __attribute__((visibility("default")))

#define MODELGROW_DEFINE_PLUGIN_(KIND, FIELD, INTERFACE, CLASS, NAME, VERSION, SUMMARY)        \
  namespace {                                                                                  \
  std::unique_ptr<::modelgrow::INTERFACE> ModelGrowMakePlugin(                                 \
      const ::modelgrow::PluginContext& context) {                                             \
    return std::make_unique<CLASS>(context);                                                   \
  }                                                                                            \
  }                                                                                            \
  MODELGROW_PLUGIN_EXPORT int modelgrow_plugin_api_version() {                                 \
    return ::modelgrow::kSdkApiVersion;                                                        \
  }                                                                                            \
  MODELGROW_PLUGIN_EXPORT const ::modelgrow::PluginDescriptor* modelgrow_plugin_descriptor() { \
    static const ::modelgrow::PluginDescriptor descriptor = [] {                               \
      ::modelgrow::PluginDescriptor d{};                                                       \
      d.api_version = ::modelgrow::kSdkApiVersion;                                             \
      d.kind = ::modelgrow::PluginKind::KIND;                                                  \
      d.name = NAME;                                                                           \
      d.version = VERSION;                                                                     \
      d.summary = SUMMARY;                                                                     \
      d.FIELD = &ModelGrowMakePlugin;                                                          \
      return d;                                                                                \
    }();                                                                                       \
    return &descriptor;                                                                        \
  }

// CLASS needs a constructor taking `const modelgrow::PluginContext&`.
#define MODELGROW_GROWTH_OPERATOR(CLASS, NAME, VERSION, SUMMARY)                                \
  MODELGROW_DEFINE_PLUGIN_(kGrowth, make_growth_operator, GrowthOperator, CLASS, NAME, VERSION, \
                           SUMMARY)
#define MODELGROW_TEXT_ENCODER(CLASS, NAME, VERSION, SUMMARY) \
  MODELGROW_DEFINE_PLUGIN_(kText, make_text_encoder, TextEncoder, CLASS, NAME, VERSION, SUMMARY)
#define MODELGROW_DATA_PIPELINE(CLASS, NAME, VERSION, SUMMARY) \
  MODELGROW_DEFINE_PLUGIN_(kData, make_data_pipeline, DataPipeline, CLASS, NAME, VERSION, SUMMARY)
