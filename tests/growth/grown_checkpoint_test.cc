// Grown checkpoints: saved and loaded models reproduce the grown model bit for bit, and the
// `modelgrow grow` command writes the grown checkpoint, its optimizer state and the report.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <fstream>

#include <fmt/format.h>

#include "growth_test_util.h"
#include "modelgrow/growth/grow_checkpoint.h"
#include "modelgrow/io/checkpoint.h"
#include "modelgrow/io/optimizer_file.h"
#include "modelgrow/sdk/atomic_file.h"
#include "test_paths.h"
#include "test_util.h"

namespace modelgrow {
namespace {

using growth_testing::GrowWithPlugin;
using growth_testing::SomeInput;
using growth_testing::Step;
using growth_testing::TinyConfig;
using growth_testing::TrainedModel;
using testing::TempDir;
using json = nlohmann::json;

struct SaveCase {
  std::string name;
  std::vector<std::pair<std::string, std::string>> steps;
};

void PrintTo(const SaveCase& c, std::ostream* out) { *out << c.name; }

class GrownCheckpoint : public ::testing::TestWithParam<SaveCase> {};

TEST_P(GrownCheckpoint, SaveLoadReproducesOutputsBitExactly) {
  TempDir dir;
  STDiT3 model = TrainedModel(TinyConfig(2));
  std::vector<GrowthStep> steps;
  for (const auto& [op, toml] : GetParam().steps) steps.push_back(Step(op, toml));
  GrowModel(*model, steps, nullptr, 1, growth_testing::TinyProbe());
  {  // Move the new parameters off their initial values (zeros, B = 0) as training would.
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters()) p.add_(torch::randn_like(p) * 0.01);
  }
  SaveModel(dir / "grown", *model, DescribeModel(*model));
  LoadedModel loaded = LoadModel(dir / "grown");
  EXPECT_EQ(loaded.model->config(), model->config());
  model->eval();
  loaded.model->eval();
  torch::NoGradGuard no_grad;
  for (bool mask : {false, true}) {
    ModelInput in = SomeInput(model->config(), mask);
    EXPECT_TRUE(torch::equal(loaded.model->forward(in), model->forward(in))) << mask;
  }
  auto a = model->named_parameters();
  for (const auto& item : loaded.model->named_parameters()) {
    EXPECT_EQ(item.value().requires_grad(), a[item.key()].requires_grad()) << item.key();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Growth, GrownCheckpoint,
    ::testing::Values(SaveCase{"stack", {{"stack", ""}}},
                      SaveCase{"stack_spatial", {{"stack", "lists = \"spatial\"\n"}}},
                      SaveCase{"llama_pro", {{"llama_pro", "every = 1\n"}}},
                      SaveCase{"g_stack", {{"g_stack", ""}}},
                      SaveCase{"width", {{"width", "heads = 3\nmlp_hidden = 150\n"}}},
                      SaveCase{"text_condition",
                               {{"text_condition", "caption_channels = 10\ntoken_num = 3\n"}}},
                      SaveCase{"lora", {{"lora", "rank = 3\ndropout = 0.1\n"}}},
                      SaveCase{"stack_then_llm_then_lora",
                               {{"stack", "placement = \"suffix\"\nnew_blocks = 1\n"},
                                {"text_condition", "caption_channels = 10\ntoken_num = 3\n"},
                                {"lora", "rank = 2\ntargets = \"cross_attn_1.*\"\n"}}}),
    [](const ::testing::TestParamInfo<SaveCase>& info) { return info.param.name; });

std::string Cli() { return std::string(MODELGROW_BUILD_DIR) + "/bin/modelgrow"; }

// Runs the CLI; returns its exit code and leaves its output in `log`.
int RunCli(const std::string& args, const std::filesystem::path& log) {
  std::string command = fmt::format("{} {} > {} 2>&1", Cli(), args, log.string());
  int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(GrowCommand, GrowsACheckpointWithTwoOperatorsAndItsOptimizerState) {
  TempDir dir;
  STDiT3 model = TrainedModel(TinyConfig(2));
  OptimizerState state;
  for (const auto& item : model->named_parameters()) {
    state[item.key()] = {torch::full_like(item.value(), 0.5), torch::full_like(item.value(), 0.25),
                         42};
  }
  CheckpointWriter writer(dir / "base");
  writer.AddModel(*model, DescribeModel(*model));
  WriteOptimizerStateTo(writer, state);
  writer.Commit();

  int code = RunCli(fmt::format("grow --in {} --op stack --set placement=insert --set new_blocks=2 "
                                "--op text_condition --set caption_channels=12 --set token_num=4 "
                                "--set name=qwen --out {} --seed 3",
                                (dir / "base").string(), (dir / "grown").string()),
                    dir / "log.txt");
  std::string log = ReadFile(dir / "log.txt");
  ASSERT_EQ(code, 0) << log;
  EXPECT_NE(log.find("stack"), std::string::npos) << log;
  EXPECT_NE(log.find("text_condition"), std::string::npos) << log;

  json report = json::parse(ReadFile(dir / "grown" / kGrowthReportFile));
  ASSERT_EQ(report.at("steps").size(), 2u);
  EXPECT_EQ(report.at("steps")[0].at("op"), "stack");
  EXPECT_EQ(report.at("steps")[0].at("options").at("new_blocks"), 2);
  EXPECT_EQ(report.at("steps")[1].at("options").at("name"), "qwen");
  for (const json& step : report.at("steps")) {
    EXPECT_LE(step.at("preservation").at("max_rel").get<double>(), 1e-6);
  }
  EXPECT_EQ(report.at("seed"), 3);

  LoadedModel grown = LoadModel(dir / "grown");
  EXPECT_EQ(grown.model->config().depth, 4);
  EXPECT_EQ(grown.model->config().extra_conditions.at(0).name, "qwen");
  EXPECT_EQ(report.at("params_after"), grown.model->NumParameters());
  EXPECT_TRUE(grown.meta.provenance.contains("grown_from"));

  OptimizerState grown_state = ReadOptimizerState(dir / "grown" / kOptimizerStateFile);
  EXPECT_EQ(grown_state.size(), state.size());  // every original moved, no new entries
  EXPECT_TRUE(grown_state.contains("spatial_blocks.2.attn.qkv.weight"));   // was spatial_blocks.1
  EXPECT_FALSE(grown_state.contains("spatial_blocks.1.attn.qkv.weight"));  // a copy: no state
  EXPECT_EQ(grown_state.at("spatial_blocks.2.attn.qkv.weight").step, 42);

  // The output exists now: refused without --overwrite, nothing touched.
  code = RunCli(fmt::format("grow --in {} --op stack --out {}", (dir / "base").string(),
                            (dir / "grown").string()),
                dir / "log2.txt");
  EXPECT_EQ(code, 2);
  EXPECT_NE(ReadFile(dir / "log2.txt").find("already exists"), std::string::npos);
  EXPECT_EQ(LoadModel(dir / "grown").model->config().depth, 4);
}

TEST(GrowCommand, BadUsageAndImpossibleRequestsExitWithTwoAndWriteNothing) {
  TempDir dir;
  STDiT3 model = TrainedModel(TinyConfig(2));
  SaveModel(dir / "base", *model, DescribeModel(*model));
  const std::string in = (dir / "base").string(), out = (dir / "out").string();
  struct Bad {
    std::string args;
    std::string message;
  };
  for (const Bad& bad : std::vector<Bad>{
           {fmt::format("grow --in {} --set rank=2 --op lora --out {}", in, out),
            "--set rank=2 comes before any --op"},
           {fmt::format("grow --in {} --op lora --set rank --out {}", in, out),
            "--set expects key=value"},
           {fmt::format("grow --in {} --op lora --set rank=99 --out {}", in, out),
            "rank = 99 is larger"},
           {fmt::format("grow --in {} --op stack --set new_blocks=3 --out {}", in, out),
            "new_blocks = 3"},
           {fmt::format("grow --in {}/missing --op stack --out {}", in, out),
            "no such checkpoint folder"},
           {fmt::format("grow --in {} --op stack --device gpu0 --out {}", in, out), "--device"},
           {fmt::format("grow --in {} --out {}", in, out), "at least one --op"}}) {
    int code = RunCli(bad.args, dir / "log.txt");
    std::string log = ReadFile(dir / "log.txt");
    EXPECT_EQ(code, 2) << bad.args << "\n" << log;
    EXPECT_NE(log.find(bad.message), std::string::npos) << bad.args << "\n" << log;
    EXPECT_FALSE(std::filesystem::exists(out)) << bad.args;
  }
}

TEST(GrowCommand, PluginsListsEveryOperator) {
  TempDir dir;
  ASSERT_EQ(RunCli("plugins --kind growth --json", dir / "log.txt"), 0);
  json list = json::parse(ReadFile(dir / "log.txt"));
  std::set<std::string> names;
  for (const json& p : list) names.insert(p.at("name").get<std::string>());
  // Every growth library the build made is listed under its plugin name.
  int libraries = 0;
  for (const auto& entry : std::filesystem::directory_iterator(MODELGROW_PLUGIN_DIR)) {
    std::string file = entry.path().filename().string();
    if (!file.starts_with("growth_") || !file.ends_with(".so")) continue;
    ++libraries;
    EXPECT_TRUE(names.contains(file.substr(7, file.size() - 10))) << file;
  }
  EXPECT_GE(libraries, 7);
}

}  // namespace
}  // namespace modelgrow
