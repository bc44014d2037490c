// The plugin SDK: what every plugin exports, and the macros that export it.
//
// A plugin is one shared library holding one growth operator, text encoder, data pipeline or
// video autoencoder (VAE).
// It exports two C symbols: `modelgrow_plugin_api_version` (read first, so a plugin built for
// another SDK is refused with both versions named) and `modelgrow_plugin_descriptor`. Write
//
//   MODELGROW_GROWTH_OPERATOR(MyOp, "my_op", "1.0.0", "One line that says what it does");
//
// once in the plugin's source and build it with modelgrow_add_plugin() (docs/writing-a-plugin.md).
//
// Plugins are made in two phases. The factory constructs the plugin from its options alone: it
// reads and checks every option, records every problem on the Options (the host reports them
// all together) and loads nothing. Heavy work -- weights, files, data -- happens later, in
// TextEncoder::Load(), DataPipeline::Open() or VideoAutoencoder::Load(), and only for a real run.
// `modelgrow validate` therefore constructs every plugin of a manifest and never calls Load or
// Open.
//
// The SDK is exactly the headers in modelgrow/sdk/; a plugin includes nothing else from the
// toolkit. The model's editing API is re-exported by sdk/model.h.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <type_traits>

#include <c10/core/Device.h>

#include "modelgrow/sdk/api_version.h"
#include "modelgrow/sdk/options.h"

namespace modelgrow {

enum class PluginKind : int { kGrowth = 0, kText = 1, kData = 2, kVae = 3 };
// "growth", "text", "data", "vae".
const char* PluginKindName(PluginKind kind);

class GrowthOperator;
class TextEncoder;
class TextModelMaker;
class TextTokenizer;
class PromptRewriter;
class DataPipeline;
class VideoAutoencoder;

// What a plugin's factory receives: its own option table and where it runs.
struct PluginContext {
  // The plugin's table: read every option from it; the host reports unknown keys.
  Options options = Options::Empty();
  std::filesystem::path work_dir;  // a folder the plugin may cache into (may be empty)
  c10::Device device = c10::Device(c10::DeviceType::CPU);
  uint64_t seed = 0;
};

using GrowthOperatorFactory = std::unique_ptr<GrowthOperator> (*)(const PluginContext&);
using TextEncoderFactory = std::unique_ptr<TextEncoder> (*)(const PluginContext&);
using DataPipelineFactory = std::unique_ptr<DataPipeline> (*)(const PluginContext&);
using VideoAutoencoderFactory = std::unique_ptr<VideoAutoencoder> (*)(const PluginContext&);
// `context.options` is the `make` table; `encoder_options` the encoder's own table (read-only:
// what the made model must agree with, such as the template an LLM is trained inside).
using TextModelMakerFactory = std::unique_ptr<TextModelMaker> (*)(const PluginContext& context,
                                                                  const Options& encoder_options);
// `context.options` holds `path` (the model folder) and the capability's own options.
using TextTokenizerFactory = std::unique_ptr<TextTokenizer> (*)(const PluginContext& context);
using PromptRewriterFactory = std::unique_ptr<PromptRewriter> (*)(const PluginContext& context);

struct PluginDescriptor {
  int api_version;
  PluginKind kind;
  const char* name;
  const char* version;
  const char* summary;
  // Example option tables as TOML, one [[example]] table each (may be null). The conformance
  // suites run every example; `modelgrow plugins --json` shows them. In a value, "${data}" stands
  // for the plugin's data folder (<library name>.data/ beside it), for examples that need files.
  const char* examples;
  // Exactly one is set, the one matching `kind`.
  GrowthOperatorFactory make_growth_operator;
  TextEncoderFactory make_text_encoder;
  DataPipelineFactory make_data_pipeline;
  // Text plugins that can make a small model of their own kind (`make = {...}` in a manifest).
  TextModelMakerFactory make_text_model;
  // Text plugins that read a model folder's tokenizer (a nested `Tokenizer` class).
  TextTokenizerFactory make_text_tokenizer;
  // Text plugins whose models rewrite prompts (a nested `Rewriter` class).
  PromptRewriterFactory make_prompt_rewriter;
  VideoAutoencoderFactory make_video_autoencoder;
};

namespace sdk_internal {

template <typename T>
constexpr const char* ExamplesOf() {
  if constexpr (requires { T::kExamples; }) {
    return T::kExamples;
  } else {
    return nullptr;
  }
}

template <typename T>
constexpr TextModelMakerFactory MakerOf() {
  if constexpr (requires { typename T::Maker; }) {
    return [](const PluginContext& context,
              const Options& encoder_options) -> std::unique_ptr<TextModelMaker> {
      return std::make_unique<typename T::Maker>(context, encoder_options);
    };
  } else {
    return nullptr;
  }
}

template <typename T>
constexpr TextTokenizerFactory TokenizerOf() {
  if constexpr (requires { typename T::Tokenizer; }) {
    return [](const PluginContext& context) -> std::unique_ptr<TextTokenizer> {
      return std::make_unique<typename T::Tokenizer>(context);
    };
  } else {
    return nullptr;
  }
}

template <typename T>
constexpr PromptRewriterFactory RewriterOf() {
  if constexpr (requires { typename T::Rewriter; }) {
    return [](const PluginContext& context) -> std::unique_ptr<PromptRewriter> {
      return std::make_unique<typename T::Rewriter>(context);
    };
  } else {
    return nullptr;
  }
}

}  // namespace sdk_internal
}  // namespace modelgrow

#define MODELGROW_PLUGIN_EXPORT extern "C" __attribute__((visibility("default")))

// CLASS needs a constructor taking `const modelgrow::PluginContext&`. It may declare
// `static constexpr const char* kExamples` (see PluginDescriptor::examples) and, for a text
// encoder, a nested `Maker` class (a TextModelMaker constructed from (context, encoder options)),
// a nested `Tokenizer` (a TextTokenizer) and a nested `Rewriter` (a PromptRewriter), each
// constructed from a PluginContext.
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
      d.examples = ::modelgrow::sdk_internal::ExamplesOf<CLASS>();                             \
      d.FIELD = &ModelGrowMakePlugin;                                                          \
      d.make_text_model = ::modelgrow::sdk_internal::MakerOf<CLASS>();                         \
      d.make_text_tokenizer = ::modelgrow::sdk_internal::TokenizerOf<CLASS>();                 \
      d.make_prompt_rewriter = ::modelgrow::sdk_internal::RewriterOf<CLASS>();                 \
      return d;                                                                                \
    }();                                                                                       \
    return &descriptor;                                                                        \
  }

#define MODELGROW_GROWTH_OPERATOR(CLASS, NAME, VERSION, SUMMARY)                                \
  MODELGROW_DEFINE_PLUGIN_(kGrowth, make_growth_operator, GrowthOperator, CLASS, NAME, VERSION, \
                           SUMMARY)
#define MODELGROW_TEXT_ENCODER(CLASS, NAME, VERSION, SUMMARY) \
  MODELGROW_DEFINE_PLUGIN_(kText, make_text_encoder, TextEncoder, CLASS, NAME, VERSION, SUMMARY)
#define MODELGROW_DATA_PIPELINE(CLASS, NAME, VERSION, SUMMARY) \
  MODELGROW_DEFINE_PLUGIN_(kData, make_data_pipeline, DataPipeline, CLASS, NAME, VERSION, SUMMARY)
#define MODELGROW_VIDEO_AUTOENCODER(CLASS, NAME, VERSION, SUMMARY)                               \
  MODELGROW_DEFINE_PLUGIN_(kVae, make_video_autoencoder, VideoAutoencoder, CLASS, NAME, VERSION, \
                           SUMMARY)
