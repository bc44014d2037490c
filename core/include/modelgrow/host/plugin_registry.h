// Finds, loads and instantiates plugins (Boost.DLL).
//
// Search path, in order: --plugin-path folders, MODELGROW_PLUGIN_PATH (colon-separated), and the
// install's own plugin folder (lib/modelgrow/plugins next to the executable's bin/). Every shared
// library found is opened and checked; problems are errors that name the file:
//   - not a shared library / cannot be opened
//   - no `modelgrow_plugin_descriptor` symbol
//   - built for another SDK API version (both versions named)
//   - two plugins with the same kind and name (both files named)
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <c10/core/Device.h>

#include "modelgrow/growth/grow.h"
#include "modelgrow/sdk/plugin.h"

namespace modelgrow {

struct PluginInfo {
  PluginKind kind;
  std::string name;
  std::string version;
  std::string summary;
  std::filesystem::path file;
  std::string examples;    // the descriptor's [[example]] tables (TOML), "" when none
  bool makes_text_models;  // a text plugin with a Maker (`make = {...}`)
  bool has_tokenizer;      // a text plugin with a Tokenizer (`modelgrow text tokenize`)
  bool rewrites_prompts;   // a text plugin with a Rewriter (`modelgrow rewrite`)
};

class PluginRegistry {
 public:
  PluginRegistry();
  ~PluginRegistry();
  PluginRegistry(const PluginRegistry&) = delete;
  PluginRegistry& operator=(const PluginRegistry&) = delete;

  // The default search path: `extra` first, then MODELGROW_PLUGIN_PATH, then the install's.
  static std::vector<std::filesystem::path> SearchPath(
      const std::vector<std::filesystem::path>& extra);

  // Loads every plugin library in the folders (a path may also name one library file).
  // Throws InputError on the first broken plugin or name clash.
  void LoadFrom(const std::vector<std::filesystem::path>& paths);
  // Loads one library file.
  void LoadFile(const std::filesystem::path& file);

  std::vector<PluginInfo> List() const;  // sorted by kind, then name
  std::vector<PluginInfo> List(PluginKind kind) const;
  // Throws InputError listing the plugins of that kind when `name` is unknown.
  const PluginInfo& Find(PluginKind kind, const std::string& name) const;

  // Constructs a plugin from its options (phase one: nothing is loaded; callers call Load() or
  // Open()). `context.options` is its table. Unknown option keys and every option the plugin
  // rejects become one ValidationError whose problems name the plugin and the option.
  std::shared_ptr<GrowthOperator> MakeGrowthOperator(const std::string& name,
                                                     const PluginContext& context) const;
  std::shared_ptr<TextEncoder> MakeTextEncoder(const std::string& name,
                                               const PluginContext& context) const;
  std::shared_ptr<DataPipeline> MakeDataPipeline(const std::string& name,
                                                 const PluginContext& context) const;
  std::shared_ptr<VideoAutoencoder> MakeVideoAutoencoder(const std::string& name,
                                                         const PluginContext& context) const;
  // The Maker of a text plugin (`make = {...}`): context.options is the make table without
  // `corpus`, `encoder_options` the encoder's own table. InputError when it has none.
  std::shared_ptr<TextModelMaker> MakeTextModelMaker(const std::string& name,
                                                     const PluginContext& context,
                                                     const Options& encoder_options) const;
  // A text plugin's Tokenizer / Rewriter, constructed from context.options (`path` and the
  // capability's options) with the same checks. InputError when the plugin has none.
  std::shared_ptr<TextTokenizer> MakeTextTokenizer(const std::string& name,
                                                   const PluginContext& context) const;
  std::shared_ptr<PromptRewriter> MakePromptRewriter(const std::string& name,
                                                     const PluginContext& context) const;

 private:
  struct Loaded;
  const Loaded& FindLoaded(PluginKind kind, const std::string& name) const;
  std::vector<std::unique_ptr<Loaded>> loaded_;
};

// Makes the operator of every step (name, options) on `device`; the problems of all steps are
// reported together in one ValidationError before anything runs.
std::vector<GrowthStep> MakeGrowthSteps(const PluginRegistry& registry,
                                        const std::vector<std::pair<std::string, Options>>& ops,
                                        c10::Device device);

// The folder of the running executable (for finding the install's plugin folder).
std::filesystem::path ExecutableDir();

}  // namespace modelgrow
