// What the three conformance suites share: the plugins they run over and the [[example]] tables
// those plugins declare.
//
// Plugins come from MODELGROW_CONFORMANCE_PLUGIN_PATH when it is set (colon-separated folders or
// .so files: an out-of-tree plugin runs through the same suite), else from the build's plugin
// folder. Every example of every plugin of the suite's kind is one test parameter. Keys starting
// with `test_` steer the suite and are removed before the plugin sees the table; in string values
// "${data}" is the plugin's data folder, <library path without .so>.data/.
#pragma once

#include <filesystem>
#include <functional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "modelgrow/host/plugin_registry.h"
#include "modelgrow/sdk/options.h"

namespace modelgrow::conformance {

// The folders or files the suite loads plugins from.
std::vector<std::filesystem::path> PluginPath();

// Every plugin found on PluginPath(), loaded once per process. A library that fails to load does
// not stop the others: its error is in LoadErrors().
const PluginRegistry& Plugins();
const std::vector<std::string>& LoadErrors();

// <library path without .so>.data: what "${data}" stands for.
std::filesystem::path DataFolder(const PluginInfo& plugin);

// One plugin of the suite's kind (a parameter of the per-plugin tests).
struct Plugin {
  PluginInfo info;
};
void PrintTo(const Plugin& plugin, std::ostream* out);
std::vector<Plugin> PluginsOf(PluginKind kind);

// One [[example]] table of one plugin (a parameter of the per-example tests).
struct Example {
  PluginInfo plugin;
  int index = 0;
  std::string examples;  // the plugin's examples, "${data}" replaced

  // The whole table, test keys included, freshly parsed (reading it marks nothing elsewhere).
  Options Table() const;
  // The table without its `test_` keys: what the plugin is constructed from. Its own document,
  // reporting problems under the example's key path.
  Options PluginOptions() const;
  // A `test_` string key's value ("" when absent).
  std::string TestString(const std::string& key) const;
  // The keys of the table as declared (before "${data}" was replaced) whose string values name
  // something in the plugin's data folder.
  std::vector<std::string> DataKeys() const;
};
void PrintTo(const Example& example, std::ostream* out);

// The examples of every plugin of `kind` whose table `select` accepts. Examples that cannot be
// parsed are left out here; the per-plugin test DeclaresExamples reports them.
std::vector<Example> ExamplesOf(PluginKind kind, const std::function<bool(const Options&)>& select);

// "<plugin>_<index>", made of letters, digits and underscores (a test name).
std::string ExampleName(const ::testing::TestParamInfo<Example>& info);
std::string PluginName(const ::testing::TestParamInfo<Plugin>& info);

// Fails the current test unless `plugin` declares parseable [[example]] tables whose `test_` keys
// are all in `known_test_keys`, and at least one that `runs` (one that is not only a failing case).
void ExpectUsableExamples(const Plugin& plugin, const std::set<std::string>& known_test_keys,
                          const std::function<bool(const Options&)>& runs);

// Fails the current test when plugins failed to load or none of `kind` was found.
void ExpectPluginsFound(PluginKind kind);

}  // namespace modelgrow::conformance
