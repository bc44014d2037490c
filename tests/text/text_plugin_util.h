// Shared by the tests of text-encoder plugins: the plugin under test loaded into a registry,
// encoders constructed from manifest-like tables (phase one) and loaded (phase two), and tiny
// models made through the plugin's Maker, exactly as a manifest's `make` table and
// `modelgrow text make` reach it.
#pragma once

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "modelgrow/host/plugin_registry.h"
#include "modelgrow/sdk/options.h"
#include "modelgrow/sdk/text_encoder.h"
#include "test_paths.h"
#include "text/caption_corpus.h"

namespace modelgrow::testing {

class TextPluginUnderTest {
 public:
  // The plugin library of this test program (modelgrow_add_plugin_test's PLUGIN).
  explicit TextPluginUnderTest(const std::filesystem::path& file = MODELGROW_TEST_PLUGIN_FILE) {
    registry_.LoadFile(file);
    name_ = registry_.List(PluginKind::kText).at(0).name;
  }

  const std::string& name() const { return name_; }
  const PluginRegistry& registry() const { return registry_; }
  PluginInfo info() const { return registry_.Find(PluginKind::kText, name_); }

  // Phase one only: the options are read and checked, nothing is loaded.
  std::shared_ptr<TextEncoder> Construct(const std::string& toml) const {
    PluginContext context;
    context.options = Options::ParseString(toml, "manifest.toml");
    return registry_.MakeTextEncoder(name_, context);
  }
  // Both phases, as a real run does.
  std::shared_ptr<TextEncoder> Load(const std::string& toml) const {
    std::shared_ptr<TextEncoder> encoder = Construct(toml);
    encoder->Load();
    return encoder;
  }

  // The plugin's Maker from a `make` table (TOML of its keys) and the encoder's table.
  std::shared_ptr<TextModelMaker> Maker(const std::string& make_toml,
                                        const std::string& encoder_toml = "") const {
    PluginContext context;
    context.options = Options::ParseString(make_toml, "make.toml");
    return registry_.MakeTextModelMaker(name_, context,
                                        Options::ParseString(encoder_toml, "manifest.toml"));
  }
  // Makes a model into `folder` from the captions; returns the Maker's facts.
  nlohmann::json MakeModel(const std::string& make_toml, const std::filesystem::path& folder,
                           const std::string& encoder_toml = "",
                           const std::vector<std::string>& captions = CaptionCorpus(),
                           const std::vector<CaptionPair>& pairs = CaptionPairs()) const {
    std::ostringstream log;
    return Maker(make_toml, encoder_toml)->Make(TextCorpus{captions, pairs}, folder, log);
  }

 private:
  PluginRegistry registry_;
  std::string name_;
};

// The files of a folder, by name, with their bytes (for "the same inputs write the same bytes").
inline std::vector<std::pair<std::string, std::string>> FolderBytes(
    const std::filesystem::path& folder) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    out.emplace_back(entry.path().filename().string(), bytes.str());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace modelgrow::testing
