#include "conformance/conformance_plugins.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "modelgrow/sdk/errors.h"
#include "test_paths.h"

namespace modelgrow::conformance {

namespace fs = std::filesystem;

namespace {

constexpr const char* kPathVariable = "MODELGROW_CONFORMANCE_PLUGIN_PATH";

struct Loaded {
  PluginRegistry registry;
  std::vector<std::string> errors;
};

Loaded& LoadedPlugins() {
  static Loaded* loaded = [] {
    auto* l = new Loaded();
    for (const fs::path& path : PluginPath()) {
      std::error_code ec;
      std::vector<fs::path> files;
      if (fs::is_directory(path, ec)) {
        for (const auto& entry : fs::directory_iterator(path, ec)) {
          if (entry.is_regular_file() && entry.path().extension() == ".so") {
            files.push_back(entry.path());
          }
        }
        std::sort(files.begin(), files.end());
      } else if (fs::is_regular_file(path, ec)) {
        files.push_back(path);
      } else {
        l->errors.push_back(
            fmt::format("{}: neither a plugin folder nor a plugin file", path.string()));
      }
      for (const fs::path& file : files) {
        try {
          l->registry.LoadFile(file);
        } catch (const std::exception& e) {
          l->errors.push_back(e.what());
        }
      }
    }
    return l;
  }();
  return *loaded;
}

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

// The plugin's examples with "${data}" replaced. (A data folder whose path holds a quote or a
// backslash would need TOML escaping; build folders do not.)
std::string ExamplesText(const PluginInfo& plugin) {
  return Replace(plugin.examples, "${data}", DataFolder(plugin).string());
}

std::string SourceName(const PluginInfo& plugin) {
  return fmt::format("{} kExamples ({})", plugin.name, plugin.file.string());
}

// The [[example]] tables of a plugin; empty when there are none or they cannot be parsed, with
// the reason in `problem`.
std::vector<Options> ParseExamples(const std::string& text, const PluginInfo& plugin,
                                   std::string* problem) {
  try {
    Options root = Options::ParseString(text, SourceName(plugin));
    std::vector<Options> tables = root.TableArray("example");
    root.RejectUnknownKeys();
    if (root.HasProblems()) {
      std::ostringstream out;
      for (const Problem& p : root.TakeProblems()) out << "\n  " << p.ToString();
      *problem = "its kExamples are not [[example]] tables:" + out.str();
      return {};
    }
    return tables;
  } catch (const InputError& e) {
    *problem = fmt::format("its kExamples are not valid TOML: {}", e.what());
    return {};
  }
}

std::string TestName(std::string text) {
  for (char& c : text) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return text;
}

}  // namespace

std::vector<fs::path> PluginPath() {
  std::vector<fs::path> path;
  const char* value = std::getenv(kPathVariable);
  if (value != nullptr && *value != '\0') {
    std::stringstream entries(value);
    for (std::string entry; std::getline(entries, entry, ':');) {
      if (!entry.empty()) path.emplace_back(entry);
    }
    return path;
  }
  return {fs::path(MODELGROW_PLUGIN_DIR)};
}

const PluginRegistry& Plugins() { return LoadedPlugins().registry; }

const std::vector<std::string>& LoadErrors() { return LoadedPlugins().errors; }

fs::path DataFolder(const PluginInfo& plugin) {
  return plugin.file.parent_path() / (plugin.file.stem().string() + ".data");
}

void PrintTo(const Plugin& plugin, std::ostream* out) {
  *out << plugin.info.name << " (" << plugin.info.file.string() << ")";
}

std::vector<Plugin> PluginsOf(PluginKind kind) {
  std::vector<Plugin> plugins;
  for (const PluginInfo& info : Plugins().List(kind)) plugins.push_back({info});
  return plugins;
}

Options Example::Table() const {
  std::string problem;
  std::vector<Options> tables = ParseExamples(examples, plugin, &problem);
  if (index >= static_cast<int>(tables.size())) {
    throw RunError(fmt::format("{}: example {} is gone ({})", SourceName(plugin), index, problem));
  }
  return tables[index];
}

Options Example::PluginOptions() const {
  Options options = Table().Subset();
  for (const std::string& key : options.Keys()) {
    if (key.starts_with("test_")) options.Erase(key);
  }
  return options;
}

std::string Example::TestString(const std::string& key) const {
  Options table = Table();
  return table.Has(key) ? table.String(key, "") : "";
}

std::vector<std::string> Example::DataKeys() const {
  std::string problem;
  std::vector<Options> raw = ParseExamples(plugin.examples, plugin, &problem);
  std::vector<std::string> keys;
  if (index >= static_cast<int>(raw.size())) return keys;
  for (const std::string& key : raw[index].Keys()) {
    if (key.starts_with("test_") || raw[index].TypeOf(key) != "string") continue;
    if (raw[index].String(key, "").find("${data}") != std::string::npos) keys.push_back(key);
  }
  return keys;
}

void PrintTo(const Example& example, std::ostream* out) {
  *out << example.plugin.name << " example " << example.index << ": " << example.Table().ToJson();
}

std::vector<Example> ExamplesOf(PluginKind kind,
                                const std::function<bool(const Options&)>& select) {
  std::vector<Example> out;
  for (const PluginInfo& info : Plugins().List(kind)) {
    std::string text = ExamplesText(info);
    std::string problem;
    std::vector<Options> tables = ParseExamples(text, info, &problem);
    for (size_t i = 0; i < tables.size(); ++i) {
      if (select(tables[i])) out.push_back({info, static_cast<int>(i), text});
    }
  }
  return out;
}

std::string ExampleName(const ::testing::TestParamInfo<Example>& info) {
  return TestName(fmt::format("{}_{}", info.param.plugin.name, info.param.index));
}

std::string PluginName(const ::testing::TestParamInfo<Plugin>& info) {
  return TestName(info.param.info.name);
}

void ExpectUsableExamples(const Plugin& plugin, const std::set<std::string>& known_test_keys,
                          const std::function<bool(const Options&)>& runs) {
  const PluginInfo& info = plugin.info;
  if (info.examples.empty()) {
    ADD_FAILURE() << info.name << " (" << info.file.string()
                  << ") declares no examples: declare kExamples, a TOML string of [[example]] "
                     "option tables the conformance suites run (docs/writing-a-plugin.md)";
    return;
  }
  std::string problem;
  std::vector<Options> tables = ParseExamples(ExamplesText(info), info, &problem);
  if (tables.empty()) {
    ADD_FAILURE() << info.name << ": "
                  << (problem.empty() ? "its kExamples hold no [[example]] table" : problem);
    return;
  }
  int running = 0;
  for (size_t i = 0; i < tables.size(); ++i) {
    for (const std::string& key : tables[i].Keys()) {
      if (key.starts_with("test_") && !known_test_keys.contains(key)) {
        ADD_FAILURE() << info.name << " example " << i << ": unknown suite key '" << key
                      << "' (this suite reads "
                      << fmt::format("{}", fmt::join(known_test_keys, ", ")) << ")";
      }
    }
    running += runs(tables[i]) ? 1 : 0;
  }
  EXPECT_GT(running, 0) << info.name
                        << ": every example is a failing case; declare at least one that works";
}

void ExpectPluginsFound(PluginKind kind) {
  for (const std::string& error : LoadErrors()) ADD_FAILURE() << error;
  if (Plugins().List(kind).empty()) {
    std::vector<std::string> path;
    for (const fs::path& p : PluginPath()) path.push_back(p.string());
    ADD_FAILURE() << "no " << PluginKindName(kind) << " plugin found in "
                  << fmt::format("{}", fmt::join(path, ":")) << " (" << kPathVariable
                  << " or the build's plugin folder)";
  }
}

}  // namespace modelgrow::conformance
