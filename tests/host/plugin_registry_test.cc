// The plugin loader: search path, descriptors and every error a user can meet.
#include <cstdlib>

#include <gtest/gtest.h>

#include "modelgrow/host/plugin_registry.h"
#include "modelgrow/sdk/growth_operator.h"
#include "test_paths.h"
#include "test_util.h"

namespace modelgrow {
namespace {

namespace fs = std::filesystem;

fs::path TestPlugins(const std::string& folder) { return fs::path(TEST_PLUGIN_ROOT) / folder; }

PluginContext ContextWith(const std::string& toml) {
  PluginContext context;
  context.options = Options::ParseString(toml, "manifest.toml");
  return context;
}

TEST(PluginRegistry, LoadsAPluginAndDescribesIt) {
  PluginRegistry registry;
  registry.LoadFrom({TestPlugins("good")});
  auto plugins = registry.List(PluginKind::kGrowth);
  ASSERT_EQ(plugins.size(), 1u);
  EXPECT_EQ(plugins[0].name, "counting");
  EXPECT_EQ(plugins[0].version, "0.1.0");
  EXPECT_EQ(plugins[0].summary, "test plugin");
  EXPECT_EQ(plugins[0].file.filename(), "test_counting.so");
  EXPECT_TRUE(registry.List(PluginKind::kText).empty());
  auto op = registry.MakeGrowthOperator("counting", ContextWith("factor = 3\n"));
  ASSERT_NE(op, nullptr);
}

TEST(PluginRegistry, TheSameFolderTwiceIsOnePlugin) {
  PluginRegistry registry;
  registry.LoadFrom({TestPlugins("good"), TestPlugins("good")});
  EXPECT_EQ(registry.List().size(), 1u);
}

TEST(PluginRegistry, RejectedOptionsNameThePluginAndTheOption) {
  PluginRegistry registry;
  registry.LoadFrom({TestPlugins("good")});
  EXPECT_THROW_WITH(registry.MakeGrowthOperator("counting", ContextWith("factor = 0\n")),
                    ValidationError, "manifest.toml:1:10", "factor", "growth operator 'counting'",
                    ">= 1");
  EXPECT_THROW_WITH(registry.MakeGrowthOperator("counting", ContextWith("factr = 2\n")),
                    ValidationError, "growth operator 'counting'", "unknown key 'factr'",
                    "did you mean 'factor'?");
}

TEST(PluginRegistry, UnknownPluginListsThoseOfItsKind) {
  PluginRegistry registry;
  registry.LoadFrom({TestPlugins("good")});
  EXPECT_THROW_WITH(registry.Find(PluginKind::kGrowth, "countng"), InputError,
                    "no growth plugin named 'countng'", "available: counting",
                    "did you mean 'counting'?");
  EXPECT_THROW_WITH(registry.Find(PluginKind::kData, "synthetic"), InputError,
                    "no data plugin named 'synthetic'", "none are loaded");
}

TEST(PluginRegistry, PluginForAnotherApiVersionNamesBothVersions) {
  PluginRegistry registry;
  EXPECT_THROW_WITH(registry.LoadFrom({TestPlugins("wrong_api")}), InputError, "test_wrong_api.so",
                    "API version 999",
                    "speaks version " + std::to_string(MODELGROW_SDK_API_VERSION));
}

// A real plugin, built with the SDK's own macros against the next SDK version's headers.
TEST(PluginRegistry, PluginBuiltAgainstAnotherSdkIsRefused) {
  ASSERT_EQ(kSdkApiVersion, MODELGROW_SDK_API_VERSION);
  PluginRegistry registry;
  EXPECT_THROW_WITH(registry.LoadFrom({TestPlugins("other_api")}), InputError, "test_other_api.so",
                    "API version " + std::to_string(MODELGROW_OTHER_SDK_API_VERSION),
                    "speaks version " + std::to_string(MODELGROW_SDK_API_VERSION));
  EXPECT_TRUE(registry.List().empty());
}

TEST(PluginRegistry, LibraryWithoutDescriptorIsNamed) {
  PluginRegistry registry;
  EXPECT_THROW_WITH(registry.LoadFrom({TestPlugins("no_descriptor")}), InputError,
                    "test_no_descriptor.so", "not a ModelGrow plugin");
}

TEST(PluginRegistry, FileThatIsNotALibraryIsNamed) {
  PluginRegistry registry;
  EXPECT_THROW_WITH(registry.LoadFrom({TestPlugins("not_a_library")}), InputError, "fake.so",
                    "not a loadable shared library");
  EXPECT_THROW_WITH(registry.LoadFrom({"/nonexistent/plugins"}), InputError, "/nonexistent/plugins",
                    "neither a folder nor a file");
}

TEST(PluginRegistry, TwoPluginsWithOneNameNameBothFiles) {
  PluginRegistry registry;
  EXPECT_THROW_WITH(registry.LoadFrom({TestPlugins("dup_a"), TestPlugins("dup_b")}), InputError,
                    "two growth plugins are named 'dup'", "dup_a/test_dup_a.so",
                    "dup_b/test_dup_b.so");
}

// Each misbehaving plugin is refused or its instance fails, naming the file and what is wrong;
// the registry (the host) stays usable: a good plugin loads and works after every one of them.
TEST(PluginRegistry, MisbehavingPluginsAreNamedAndTheHostSurvives) {
  PluginRegistry registry;
  const struct {
    const char* folder;
    const char* message;
  } refused[] = {
      {"misbehaving_null_name", "its plugin descriptor has no name"},
      {"misbehaving_unknown_kind", "declares an unknown kind (9)"},
      {"misbehaving_kind_without_factory", "has no factory for its kind 'text'"},
      {"misbehaving_descriptor_throws", "modelgrow_plugin_descriptor() threw: the descriptor"},
  };
  for (const auto& r : refused) {
    SCOPED_TRACE(r.folder);
    EXPECT_THROW_WITH(registry.LoadFrom({TestPlugins(r.folder)}), InputError,
                      std::string("test_") + r.folder + ".so", r.message);
  }
  registry.LoadFrom({TestPlugins("misbehaving_factory_throws"),
                     TestPlugins("misbehaving_factory_throws_int"),
                     TestPlugins("misbehaving_factory_returns_null"), TestPlugins("good")});
  EXPECT_THROW_WITH(registry.MakeGrowthOperator("factory_throws", ContextWith("")), RunError,
                    "growth operator 'factory_throws'", "test_misbehaving_factory_throws.so",
                    "failed while being constructed: this factory fails on purpose");
  EXPECT_THROW_WITH(registry.MakeGrowthOperator("factory_throws_int", ContextWith("")), RunError,
                    "growth operator 'factory_throws_int'", "exception of unknown type");
  EXPECT_THROW_WITH(registry.MakeGrowthOperator("factory_returns_null", ContextWith("")), RunError,
                    "growth operator 'factory_returns_null'", "its factory returned nothing");
  // Nothing of the refused ones was registered; the good one still works.
  EXPECT_EQ(registry.List(PluginKind::kGrowth).size(), 4u);
  EXPECT_NE(registry.MakeGrowthOperator("counting", ContextWith("factor = 2\n")), nullptr);
}

TEST(PluginRegistry, SearchPathPutsFlagsFirstThenTheEnvironment) {
  ::setenv("MODELGROW_PLUGIN_PATH", "/env/one:/env/two", 1);
  auto path = PluginRegistry::SearchPath({"/flag"});
  ::unsetenv("MODELGROW_PLUGIN_PATH");
  ASSERT_GE(path.size(), 3u);
  EXPECT_EQ(path[0], "/flag");
  EXPECT_EQ(path[1], "/env/one");
  EXPECT_EQ(path[2], "/env/two");
}

}  // namespace
}  // namespace modelgrow
