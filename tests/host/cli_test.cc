// The CLI's contract: help, versions, and exit codes (0 ok, 2 bad usage or input, 1 failure).
#include <gtest/gtest.h>

#include "cli_util.h"
#include "test_paths.h"
#include "test_util.h"

namespace modelgrow {
namespace {

using testing::RunCli;
using testing::TempDir;

TEST(Cli, VersionNamesToolkitSdkAndLibTorch) {
  auto r = RunCli("--version");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("modelgrow 0."), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("plugin SDK API version " + std::to_string(MODELGROW_SDK_API_VERSION)),
            std::string::npos);
  EXPECT_NE(r.output.find("LibTorch "), std::string::npos);
  EXPECT_NE(r.output.find("CUDA available: "), std::string::npos);
}

TEST(Cli, UsageErrorsExitWithTwo) {
  EXPECT_EQ(RunCli("").exit_code, 2);
  auto unknown = RunCli("frobnicate");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.output.find("unknown command 'frobnicate'"), std::string::npos);
  EXPECT_EQ(RunCli("plugins --kind nonsense").exit_code, 2);
  EXPECT_EQ(RunCli("plugins --no-such-flag").exit_code, 2);
  EXPECT_EQ(RunCli("init").exit_code, 2);  // no --out
}

TEST(Cli, HelpOnEveryCommandExitsWithZero) {
  auto top = RunCli("--help");
  EXPECT_EQ(top.exit_code, 0);
  for (const char* command : {"plugins", "init"}) {
    auto r = RunCli(std::string(command) + " --help");
    EXPECT_EQ(r.exit_code, 0) << command << "\n" << r.output;
    EXPECT_NE(r.output.find(command), std::string::npos) << r.output;
    EXPECT_NE(top.output.find(command), std::string::npos) << "--help does not list " << command;
  }
}

TEST(Cli, BrokenPluginOnThePathIsAnInputError) {
  auto r = RunCli(std::string("--plugin-path ") + TEST_PLUGIN_ROOT + "/wrong_api plugins");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("API version 999"), std::string::npos) << r.output;
  auto env = RunCli("plugins",
                    std::string("MODELGROW_PLUGIN_PATH=") + TEST_PLUGIN_ROOT + "/no_descriptor");
  EXPECT_EQ(env.exit_code, 2) << env.output;
}

TEST(Cli, PluginsListsKindNameVersionAndFile) {
  auto r = RunCli(std::string("--plugin-path ") + TEST_PLUGIN_ROOT + "/good plugins --kind growth");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("growth  counting"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("0.1.0"), std::string::npos);
  EXPECT_NE(r.output.find("test_counting.so"), std::string::npos);
  auto json = RunCli(std::string("--plugin-path ") + TEST_PLUGIN_ROOT + "/good plugins --json");
  EXPECT_NE(json.output.find("\"name\": \"counting\""), std::string::npos) << json.output;
}

TEST(Cli, InitWritesALoadableCheckpointAndRejectsUnknownFields) {
  TempDir dir;
  auto ok = RunCli("init --preset STDiT3-T/2 --set depth=3 --out " + (dir / "m").string());
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_TRUE(std::filesystem::exists(dir / "m" / "model.safetensors"));
  auto bad = RunCli("init --preset STDiT3-T/2 --set dpth=3 --out " + (dir / "n").string());
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("did you mean 'depth'?"), std::string::npos) << bad.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "n"));
}

TEST(Cli, GrowsAFreshCheckpointWithoutOptimizerState) {
  TempDir dir;
  ASSERT_EQ(RunCli("init --preset STDiT3-T/2 --out " + (dir / "base").string()).exit_code, 0);
  auto r = RunCli("grow --in " + (dir / "base").string() +
                  " --op stack --set placement=suffix --out " + (dir / "grown").string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(std::filesystem::exists(dir / "grown" / "growth_report.json"));
  EXPECT_FALSE(std::filesystem::exists(dir / "grown" / "optimizer.safetensors"));
}

// Every command's help reads the same way: a usage line naming its positional arguments (not as
// options), what it does, its options, an example; `modelgrow help CMD` shows the same page.
TEST(Cli, EveryCommandsHelpHasAUsageLineAndAnExample) {
  for (const char* command : {"plugins", "validate", "run", "sweep", "report", "init", "grow",
                              "sample", "rewrite", "text", "dataset", "vae"}) {
    SCOPED_TRACE(command);
    auto help = RunCli(std::string(command) + " --help");
    EXPECT_EQ(help.exit_code, 0) << help.output;
    EXPECT_EQ(help.output.rfind(std::string("usage: modelgrow ") + command, 0), 0u) << help.output;
    EXPECT_NE(help.output.find("\nexample:\n  modelgrow " + std::string(command)),
              std::string::npos)
        << help.output;
    EXPECT_EQ(help.output.find("--manifest"), std::string::npos) << help.output;
    auto via_help = RunCli(std::string("help ") + command);
    EXPECT_EQ(via_help.exit_code, 0);
    EXPECT_EQ(via_help.output, help.output);
  }
  auto listing = RunCli("help");
  EXPECT_EQ(listing.exit_code, 0);
  EXPECT_NE(listing.output.find("modelgrow help <command>"), std::string::npos) << listing.output;
}

// Commands with subcommands: each subcommand's page has the same usage line and example.
TEST(Cli, EverySubcommandsHelpHasAUsageLineAndAnExample) {
  for (const char* command :
       {"text make", "text encode", "text tokenize", "dataset export", "dataset info",
        "dataset show", "vae encode", "vae decode", "vae info"}) {
    SCOPED_TRACE(command);
    const std::string group = std::string(command).substr(0, std::string(command).find(' '));
    auto help = RunCli(std::string(command) + " --help");
    EXPECT_EQ(help.exit_code, 0) << help.output;
    EXPECT_EQ(help.output.rfind("usage: modelgrow " + group, 0), 0u) << help.output;
    EXPECT_NE(help.output.find("\nexample:\n  modelgrow " + group), std::string::npos)
        << help.output;
  }
}

}  // namespace
}  // namespace modelgrow
