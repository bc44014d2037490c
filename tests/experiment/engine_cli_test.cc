// The experiment commands end to end through the `modelgrow` binary: bad manifests stop before
// any work with positions; a sweep of two runs gives a report with both rows and the base model,
// twice the same numbers; `sweep --emit slurm` writes a working job array; `sample` writes a GIF.
#include <cstdio>
#include <fstream>
#include <regex>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "eval/gif_reader.h"
#include "experiment/engine_util.h"
#include "experiment/tiny_manifest.h"
#include "modelgrow/experiment/report.h"
#include "modelgrow/io/video_writer.h"
#include "test_paths.h"
#include "test_util.h"

namespace modelgrow {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using testing::ReadJson;
using testing::Replace;
using testing::RunCli;
using testing::StageDir;
using testing::StageDirs;
using testing::TempDir;
using testing::WriteText;

const std::string kPlugins = std::string("--plugin-path ") + EXPERIMENT_TEST_PLUGINS + " ";

// Cheap: test plugins only, no evaluation.
const std::string kCheap = testing::TinyManifest("cheap").LrSweep("high", "low").Text();

// With an evaluation on real synthetic videos (their labels feed the attribute classifier); the
// sweep's labels are not alphabetical, so report rows must follow the manifest.
const std::string kEvaluated = testing::TinyManifest("sweep")
                                   .SyntheticData(32)
                                   .Evaluation()
                                   .LrSweep("fast", "careful", "1e-4")
                                   .Text();

// stdout only (RunCli merges stderr in).
std::string Stdout(const std::string& args, int* exit_code) {
  std::string command = testing::ModelgrowBinary() + " " + args + " 2>/dev/null";
  FILE* pipe = ::popen(command.c_str(), "r");
  std::string out;
  char buffer[4096];
  for (size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) out.append(buffer, n);
  int status = ::pclose(pipe);
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

// 1-based line of the first occurrence of `part` in `text`.
int LineOf(const std::string& text, const std::string& part) {
  size_t at = text.find(part);
  EXPECT_NE(at, std::string::npos) << part;
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + at, '\n'));
}

// ---------------------------------------------------------------- bad manifests

TEST(EngineCli, BadManifestsFailBeforeAnyWorkWithPositions) {
  TempDir dir;
  struct Case {
    std::string name, from, to, message, at;  // `at`: text on the line the position names
  };
  for (const Case& c : {
           Case{"unknown stage", "from = \"grow\"", "from = \"grwo\"",
                "stages.continue.from: no stage named 'grwo'; did you mean 'grow'?",
                "from = \"grwo\""},
           Case{"unknown operator", "ops = [{plugin = \"counting\"", "ops = [{plugin = \"stak\"",
                "no growth plugin named 'stak'", "ops = [{plugin"},
           Case{"unknown key", "steps = 3\n", "steps = 3\nstepz = 4\n",
                "stages.pretrain.stepz: unknown key 'stepz'", "stepz = 4"},
           Case{"sweep key", "key = \"stages.continue.optim.lr\"",
                "key = \"stages.continue.optim.beta1\"",
                "sweep.axis[0].key: 'stages.continue.optim.beta1' is not a key of this manifest",
                "key = \"stages.continue.optim.beta1\""},
       }) {
    SCOPED_TRACE(c.name);
    std::string text = kCheap;
    Replace(text, c.from, c.to);
    fs::path manifest = WriteText(dir / "m.toml", text);
    fs::path out = dir / "out";
    auto r = RunCli(kPlugins + "run " + manifest.string() + " --out " + out.string());
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << r.output;
    // The problem's position is the line that holds it: file:line:column: key.path: message.
    std::string position = manifest.string() + ":" + std::to_string(LineOf(text, c.at)) + ":";
    size_t at = r.output.find(position);
    ASSERT_NE(at, std::string::npos) << "expected " << position << " in\n" << r.output;
    std::string rest = r.output.substr(at + position.size());
    EXPECT_TRUE(std::regex_search(rest, std::regex("^[0-9]+: "))) << r.output;
    EXPECT_FALSE(fs::exists(out)) << "wrote into the output folder";
  }
}

TEST(EngineCli, ABadSweepValueFailsBeforeAnyRunStarts) {
  TempDir dir;
  std::string text = kCheap;
  Replace(text, "values = [1e-3, 3e-4]", "values = [1e-3, \"fast\"]");
  fs::path manifest = WriteText(dir / "m.toml", text);
  auto r = RunCli(kPlugins + "run " + manifest.string() + " --out " + (dir / "out").string());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("stages.continue.optim.lr"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("expected a number, got string 'fast' (in sweep run lr=low,seed=0)"),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(dir / "out"));
}

// ---------------------------------------------------------------- sweep, report, determinism

// Decodes standard base64.
std::string FromBase64(const std::string& text) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    int v = c >= 'A' && c <= 'Z'   ? c - 'A'
            : c >= 'a' && c <= 'z' ? c - 'a' + 26
            : c >= '0' && c <= '9' ? c - '0' + 52
            : c == '+'             ? 62
            : c == '/'             ? 63
                                   : -1;
    if (v < 0) break;
    buffer = (buffer << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  return out;
}

TEST(EngineCli, ASweepOfTwoRunsReportsBothRowsAndTheBaseModelTheSameEveryTime) {
  TempDir dir;
  fs::path manifest = WriteText(dir / "m.toml", kEvaluated);
  const fs::path first = dir / "first", second = dir / "second";
  auto r = RunCli(kPlugins + "run " + manifest.string() + " --out " + first.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // The table is printed, and the shared pre-training ran once.
  EXPECT_NE(r.output.find("| lr=fast | 1 |"), std::string::npos) << r.output;
  EXPECT_EQ(StageDirs(first, "pretrain").size(), 1u);
  EXPECT_EQ(StageDirs(first, "evaluate").size(), 2u);
  EXPECT_EQ(StageDirs(first, "baseline").size(), 1u);  // the base model is evaluated once

  // Markdown and CSV: the base model, then a row per variant.
  std::string md = ReadFile(first / "report" / "report.md");
  for (const char* row : {"| base model | 1 |", "| lr=fast | 1 |", "| lr=careful | 1 |"})
    EXPECT_NE(md.find(row), std::string::npos) << row << "\n" << md;
  EXPECT_LT(md.find("| base model |"), md.find("| lr=fast |"));
  EXPECT_LT(md.find("| lr=fast |"), md.find("| lr=careful |")) << "rows follow the manifest";
  EXPECT_NE(md.find("Loss base"), std::string::npos) << md;
  EXPECT_NE(md.find("Forgetting base"), std::string::npos) << md;
  EXPECT_NE(md.find("## Held-out loss by timestep"), std::string::npos) << md;
  ASSERT_NE(md.find("base/short t=900"), std::string::npos) << md;
  EXPECT_LT(md.find("base/short t=300"), md.find("base/short t=900")) << md;
  std::istringstream csv(ReadFile(first / "report" / "report.csv"));
  std::vector<std::string> lines;
  for (std::string line; std::getline(csv, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0].rfind("variant,runs,", 0), 0u);
  EXPECT_NE(lines[0].find("loss/base/short,loss/base/short:std"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("loss_at/base/short/900,"), std::string::npos) << lines[0];
  EXPECT_EQ(lines[1].rfind("\"base model\",1,", 0), 0u) << lines[1];
  EXPECT_EQ(lines[2].rfind("\"lr=fast\",1,", 0), 0u) << lines[2];
  EXPECT_EQ(lines[3].rfind("\"lr=careful\",1,", 0), 0u) << lines[3];
  for (const std::string& line : lines) {
    EXPECT_EQ(std::count(line.begin(), line.end(), ','),
              std::count(lines[0].begin(), lines[0].end(), ','))
        << line;
  }

  // The rows as data: forgetting only for the variants.
  json rows = ReportRows(first);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0]["variant"], "base model");
  EXPECT_FALSE(rows[0]["metrics"].contains("forgetting/base/short"));
  EXPECT_TRUE(rows[1]["metrics"].contains("forgetting/base/short"));
  EXPECT_EQ(rows[1]["metrics"]["loss/base/short"]["n"], 1);

  // The HTML embeds the GIFs themselves: real, base model and each variant per prompt row.
  std::string html = ReadFile(first / "report" / "report.html");
  const std::string tag = "data:image/gif;base64,";
  size_t gifs = 0;
  for (size_t at = html.find(tag); at != std::string::npos; at = html.find(tag, at + 1)) {
    size_t start = at + tag.size();
    testing::GifImage gif =
        testing::ReadGif(FromBase64(html.substr(start, html.find('"', start) - start)));
    EXPECT_EQ(gif.frames.size(), 4u);  // the videos' 4 frames
    ++gifs;
  }
  EXPECT_EQ(gifs, 2u * 4u);  // 2 prompt kinds x (real, base model, 2 variants)
  EXPECT_NE(html.find("<svg"), std::string::npos);  // loss curves

  // Titled by the experiment, not the folder.
  EXPECT_EQ(md.rfind("# sweep\n", 0), 0u) << md.substr(0, 80);

  // What a run keeps besides its results: its console, TensorBoard events, and every stage's
  // timestamped metrics.
  for (const char* run : {"lr=fast,seed=0", "lr=careful,seed=0"}) {
    SCOPED_TRACE(run);
    const fs::path run_dir = first / "runs" / run;
    std::string console = testing::ReadIfExists(run_dir / "console.log");
    EXPECT_NE(console.find("| stage pretrain (pretrain)"), std::string::npos) << console;
    EXPECT_NE(console.find("| stage evaluate (evaluate)"), std::string::npos) << console;
    EXPECT_EQ(console.find('\r'), std::string::npos) << "progress redraws are collapsed";
    std::vector<fs::path> events;
    for (const auto& e : fs::directory_iterator(run_dir / "tensorboard")) events.push_back(e);
    ASSERT_EQ(events.size(), 1u);
    std::string bytes = ReadFile(events[0]);
    for (const char* tag : {"pretrain/loss", "continue/loss", "grow/preservation_max_rel",
                            "evaluate/loss/base/short", "evaluate/base/short/0"}) {
      EXPECT_NE(bytes.find(tag), std::string::npos) << tag;
    }
    json provenance = ReadJson(run_dir / "provenance.json");
    EXPECT_NE(provenance.value("command", "").find("modelgrow run "), std::string::npos);
    EXPECT_TRUE(provenance.contains("started"));
    // The run alone, as a manifest: no sweep, its own seed.
    std::string resolved = ReadFile(run_dir / "manifest.resolved.toml");
    EXPECT_EQ(resolved.find("[[sweep"), std::string::npos) << resolved;
    EXPECT_EQ(resolved.find("[sweep"), std::string::npos) << resolved;
    EXPECT_NE(resolved.find("seeds = [0]"), std::string::npos) << resolved;
  }
  for (const char* stage : {"pretrain", "grow", "evaluate"}) {
    SCOPED_TRACE(stage);
    std::string metrics = ReadFile(StageDirs(first, stage)[0] / "metrics.jsonl");
    EXPECT_NE(metrics.find("\"time\":\"20"), std::string::npos) << metrics.substr(0, 200);
  }

  // `report` rewrites the same tables from the folder.
  auto again = RunCli("report " + first.string());
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("| lr=careful | 1 |"), std::string::npos) << again.output;

  // The same manifest and seed into another folder: the same results, to the last bit.
  auto r2 =
      RunCli(kPlugins + "run " + manifest.string() + " --out " + second.string() + " --no-report");
  ASSERT_EQ(r2.exit_code, 0) << r2.output;
  EXPECT_FALSE(fs::exists(second / "report"));
  for (const char* run : {"lr=fast,seed=0", "lr=careful,seed=0"}) {
    SCOPED_TRACE(run);
    json a = ReadJson(first / "runs" / run / "results.json");
    json b = ReadJson(second / "runs" / run / "results.json");
    const json& metrics = a["evaluations"]["evaluate"]["metrics"];
    EXPECT_GT(metrics.size(), 10u) << a.dump(2);
    EXPECT_EQ(metrics, b["evaluations"]["evaluate"]["metrics"]);
    EXPECT_EQ(a["evaluations"]["evaluate"]["baseline"]["metrics"],
              b["evaluations"]["evaluate"]["baseline"]["metrics"]);
    // Everything else but wall-clock timings too (growth preservation, samples, model).
    EXPECT_EQ(testing::WithoutTimings(a), testing::WithoutTimings(b));
  }
}

// Compute: every training stage records its FLOPs (model/flops.h) and its metrics count them;
// with [experiment.compute] the report says what each variant took to reach the reference's
// final loss.
TEST(EngineCli, TheReportSaysWhatComputeEachVariantTookToReachTheReference) {
  TempDir dir;
  fs::path manifest = WriteText(
      dir / "m.toml", testing::TinyManifest("compute")
                          .LrSweep("high", "low")
                          .Table("experiment.compute", "reference = \"low\"\nsmooth = 1\n")
                          .Text());
  auto r = RunCli(kPlugins + "run " + manifest.string() + " --out " + (dir / "out").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const fs::path& stage : StageDirs(dir / "out", "continue")) {
    json info = ReadJson(stage / "stage.json");
    const double per_step = info["flops"]["per_step"].get<double>();
    EXPECT_GT(per_step, 0);
    EXPECT_DOUBLE_EQ(info["flops"]["total"].get<double>(), per_step * info["steps"].get<double>());
    std::istringstream lines(ReadFile(stage / "metrics.jsonl"));
    std::string line, last;
    while (std::getline(lines, line)) last = line;
    EXPECT_DOUBLE_EQ(json::parse(last)["flops"].get<double>(),
                     info["flops"]["total"].get<double>());
  }
  std::string md = ReadFile(dir / "out" / "report" / "report.md");
  EXPECT_NE(md.find("## Compute to reach the reference's final loss"), std::string::npos) << md;
  EXPECT_NE(md.find("| lr=high |"), std::string::npos) << md;
  // The reference's training FLOPs are its pre-training's and its continuation's; it reaches its
  // own final loss at its last logged point (smooth = 1), and saves nothing against itself.
  double total = 0;
  const fs::path low_run = dir / "out" / "runs" / "lr=low,seed=0";
  json low_stages = ReadJson(low_run / "stages.json");
  for (const char* stage : {"pretrain", "continue"}) {
    total += ReadJson(low_run / low_stages[stage]["dir"].get<std::string>() /
                      "stage.json")["flops"]["total"]
                 .get<double>();
  }
  size_t low = md.find("| lr=low |");
  ASSERT_NE(low, std::string::npos) << md;
  const std::string row = md.substr(low, md.find('\n', low) - low);
  EXPECT_EQ(row.rfind(fmt::format("| lr=low | {:.3g} |", total), 0), 0u) << row;
  EXPECT_NE(row.find(fmt::format("| {:.3g} | +0.0% |", total)), std::string::npos) << row;
}

// A learned growth operator fits in its grow stage on the stage's `fit` data, drawn as training
// draws it: the report records the fit, the stage's key covers the fit data (other data: the grow
// stage and what follows are computed again, pre-training reused), and a ligo stage without fit
// data is refused before any work, saying what to add.
TEST(EngineCli, ALigoGrowStageFitsOnItsFitDataAndIsKeyedByIt) {
  TempDir dir;
  const std::string text =
      testing::TinyManifest("ligo")
          .SyntheticData(32)
          .Table("stages.grow",
                 "kind = \"grow\"\nfrom = \"pretrain\"\n"
                 "ops = [{plugin = \"ligo\", depth_factor = 2, steps = 3, lr = 0.01}]\n")
          .Table("stages.grow.fit", "data = \"train\"\nbatch_size = 4\ncaption_dropout = 0\n")
          .Text();
  fs::path manifest = WriteText(dir / "m.toml", text);
  auto r = RunCli(kPlugins + "run " + manifest.string() + " --out " + (dir / "out").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const fs::path grow = StageDir(dir / "out", "grow");
  json step = ReadJson(grow / "checkpoint" / "growth_report.json")["steps"][0];
  EXPECT_EQ(step["op"], "ligo");
  const json fit = step["details"]["fit"];
  EXPECT_EQ(fit["losses"].size(), 3u) << fit.dump();
  EXPECT_EQ(fit["data"]["data"], "train");
  EXPECT_EQ(fit["data"]["batch_size"], 4);
  EXPECT_EQ(fit["data"]["batches"], 3);
  EXPECT_EQ(ReadJson(grow / "checkpoint" / "config.json")["depth"], 2);

  auto again = RunCli(kPlugins + "run " + manifest.string() + " --out " + (dir / "out").string() +
                      " --set stages.grow.fit.data=heldout");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  json stages = ReadJson(dir / "out" / "runs" / "seed=0" / "stages.json");
  EXPECT_TRUE(stages["pretrain"]["reused"].get<bool>()) << stages.dump();
  EXPECT_FALSE(stages["grow"]["reused"].get<bool>()) << stages.dump();
  EXPECT_FALSE(stages["continue"]["reused"].get<bool>()) << stages.dump();

  fs::path unfit = WriteText(dir / "unfit.toml", testing::TinyManifest("ligo")
                                                     .SyntheticData(32)
                                                     .Table("stages.grow",
                                                            "kind = \"grow\"\nfrom = "
                                                            "\"pretrain\"\nops = [{plugin = "
                                                            "\"ligo\", steps = 3}]\n")
                                                     .Text());
  auto refused = RunCli(kPlugins + "run " + unfit.string() + " --out " + (dir / "unfit").string());
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_NE(refused.output.find("[stages.<name>.fit]"), std::string::npos) << refused.output;
  EXPECT_FALSE(fs::exists(dir / "unfit" / "runs"));
}

// Another sweep written into the same folder: the report holds this manifest's runs only, names
// the others, and --prune removes them. A no-op rerun keeps when the run first started.
TEST(EngineCli, AReportHoldsOnlyTheRunsOfTheFoldersManifest) {
  TempDir dir;
  const fs::path out = dir / "out";
  fs::path first = WriteText(dir / "first.toml", kCheap);
  ASSERT_EQ(RunCli(kPlugins + "run " + first.string() + " --out " + out.string()).exit_code, 0);
  std::string other = kCheap;
  Replace(other, "labels = [\"high\", \"low\"]", "labels = [\"quick\", \"gentle\"]");
  fs::path second = WriteText(dir / "second.toml", other);
  auto r = RunCli(kPlugins + "run " + second.string() + " --out " + out.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("lr=high,seed=0 is not a run of"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("modelgrow report --prune"), std::string::npos) << r.output;
  std::string md = ReadFile(out / "report" / "report.md");
  EXPECT_NE(md.find("2 run(s)"), std::string::npos) << md;  // not 4: the old runs are left out
  EXPECT_EQ(md.find("lr=high"), std::string::npos) << md;
  EXPECT_TRUE(fs::exists(out / "runs" / "lr=high,seed=0"));

  auto pruned = RunCli("report " + out.string() + " --prune");
  ASSERT_EQ(pruned.exit_code, 0) << pruned.output;
  EXPECT_FALSE(fs::exists(out / "runs" / "lr=high,seed=0"));
  EXPECT_TRUE(fs::exists(out / "runs" / "lr=quick,seed=0"));

  // The same manifest again (every stage reused): `started` stays the first time's.
  const json started = ReadJson(out / "runs" / "lr=quick,seed=0" / "provenance.json")["started"];
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // timestamps have seconds
  ASSERT_EQ(RunCli(kPlugins + "run " + second.string() + " --out " + out.string()).exit_code, 0);
  json again = ReadJson(out / "runs" / "lr=quick,seed=0" / "provenance.json");
  EXPECT_EQ(again["started"], started);
  EXPECT_NE(again["updated"], started);
}

// ---------------------------------------------------------------- Slurm

TEST(EngineCli, SweepEmitsAWorkingSlurmJobArray) {
  TempDir dir;
  fs::path manifest = WriteText(dir / "m.toml", kCheap);
  const fs::path out = dir / "out dir";  // a space, which the script must quote
  int code = -1;
  std::string script = Stdout(kPlugins + "sweep " + manifest.string() + " --emit slurm --out '" +
                                  out.string() + "' --set 'experiment.seeds=[0, 1]'",
                              &code);
  ASSERT_EQ(code, 0) << script;
  // Slurm opens a task's log before the task runs: the log folder must exist already.
  EXPECT_TRUE(fs::is_directory(out / "slurm"));
  EXPECT_EQ(script.rfind("#!/bin/bash\n", 0), 0u);
  EXPECT_NE(script.find("#SBATCH --output=" + out.string() + "/slurm/%A_%a.log\n"),
            std::string::npos)
      << script;
  // Preempted or out of time: SIGTERM ahead, a checkpoint, requeued, resumed.
  EXPECT_NE(script.find("#SBATCH --requeue\n"), std::string::npos) << script;
  EXPECT_NE(script.find("#SBATCH --signal=B:TERM@120\n"), std::string::npos) << script;
  EXPECT_NE(script.find("#SBATCH --array=0-3\n"), std::string::npos) << script;
  const char* ids[] = {"lr=high,seed=0", "lr=high,seed=1", "lr=low,seed=0", "lr=low,seed=1"};
  for (int i = 0; i < 4; ++i) {
    std::string line = "#   " + std::to_string(i) + ": " + ids[i] + "\n";
    EXPECT_NE(script.find(line), std::string::npos) << line << script;
  }
  EXPECT_EQ(script.find("#   4:"), std::string::npos);
  EXPECT_NE(script.find("--only \"$SLURM_ARRAY_TASK_ID\" --no-report --resume"), std::string::npos)
      << script;
  fs::path file = WriteText(dir / "job.sh", script);
  EXPECT_EQ(std::system(("bash -n " + file.string()).c_str()), 0) << script;

  // Run it as Slurm would: array task 2, then task 0 (which queues the report job), with a
  // stand-in sbatch that records its arguments and a stand-in srun that starts the one task;
  // then the report job.
  fs::create_directories(dir / "bin");
  WriteText(dir / "bin" / "sbatch",
            "#!/bin/bash\necho \"$@\" > \"" + (dir / "sbatch.args").string() + "\"\n");
  fs::permissions(dir / "bin" / "sbatch", fs::perms::owner_all);
  WriteText(dir / "bin" / "srun",
            "#!/bin/bash\nwhile [[ \"$1\" == -* ]]; do shift; done\nexec \"$@\"\n");
  fs::permissions(dir / "bin" / "srun", fs::perms::owner_all);
  std::string env = "PATH=" + (dir / "bin").string() + ":$PATH SLURM_ARRAY_JOB_ID=77 ";
  std::string log = " >> " + (dir / "job.log").string() + " 2>&1";
  ASSERT_EQ(std::system((env + "SLURM_ARRAY_TASK_ID=2 bash " + file.string() + log).c_str()), 0)
      << testing::ReadIfExists(dir / "job.log");
  std::vector<std::string> runs;
  for (const auto& entry : fs::directory_iterator(out / "runs"))
    runs.push_back(entry.path().filename().string());
  EXPECT_EQ(runs, std::vector<std::string>{"lr=low,seed=0"});
  EXPECT_FALSE(fs::exists(dir / "sbatch.args"));
  ASSERT_EQ(std::system((env + "SLURM_ARRAY_TASK_ID=0 bash " + file.string() + log).c_str()), 0)
      << testing::ReadIfExists(dir / "job.log");
  EXPECT_TRUE(fs::exists(out / "runs" / "lr=high,seed=0" / "results.json"));
  std::string sbatch = testing::ReadIfExists(dir / "sbatch.args");
  // The report runs whatever the tasks' status, with the rows there are, on one node.
  EXPECT_NE(sbatch.find("--dependency=afterany:77 --array=0 --no-requeue --nodes=1 "
                        "--ntasks-per-node=1 "
                        "--job-name=modelgrow-report"),
            std::string::npos)
      << sbatch;
  ASSERT_EQ(std::system((env + "MODELGROW_REPORT_ONLY=1 bash " + file.string() + log).c_str()), 0)
      << testing::ReadIfExists(dir / "job.log");
  EXPECT_TRUE(fs::exists(out / "report" / "report.md"));
}

TEST(EngineCli, OnlyRunsTheChosenRun) {
  TempDir dir;
  fs::path manifest = WriteText(dir / "m.toml", kCheap);
  auto bad =
      RunCli(kPlugins + "run " + manifest.string() + " --only 2 --out " + (dir / "out").string());
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_NE(bad.output.find("--only 2: the manifest has 2 run(s) (0..1)"), std::string::npos)
      << bad.output;
  EXPECT_FALSE(fs::exists(dir / "out"));
  EXPECT_EQ(RunCli("sweep " + manifest.string()).exit_code, 2);  // no --emit
}

// ---------------------------------------------------------------- sample

TEST(EngineCli, SampleWritesAnAnimatedGifWithTheRequestedFrames) {
  TempDir dir;
  std::string text = kCheap;
  text = text.substr(0, text.find("[stages.grow]"));  // pre-training only
  fs::path manifest = WriteText(dir / "m.toml", text);
  auto r = RunCli(kPlugins + "run " + manifest.string() + " --no-report --out " +
                  (dir / "out").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  fs::path checkpoint = StageDir(dir / "out", "pretrain") / "checkpoint";

  for (const char* weights : {"ema", "raw"}) {
    SCOPED_TRACE(weights);
    fs::path gif_file = dir / (std::string(weights) + ".gif");
    auto s = RunCli(kPlugins + "sample --checkpoint " + checkpoint.string() +
                    " --prompt 'a bar moves left' --out " + gif_file.string() +
                    " --frames 5 --height 8 --width 12 --steps 2 --fps 5 --weights " + weights);
    ASSERT_EQ(s.exit_code, 0) << s.output;
    std::string bytes = ReadFile(gif_file);
    EXPECT_EQ(bytes.substr(0, 6), "GIF89a");
    EXPECT_EQ(static_cast<uint8_t>(bytes.back()), 0x3B);
    testing::GifImage gif = testing::ReadGif(bytes);
    EXPECT_EQ(gif.frames.size(), 5u);
    EXPECT_EQ(gif.width, 12 * 4);
    EXPECT_EQ(gif.height, 8 * 4);
    EXPECT_EQ(gif.frames[0].delay_centiseconds, 20);
    EXPECT_TRUE(gif.loops);
  }
  // The same seed gives the same video; EMA and raw weights give different ones.
  auto again = RunCli(kPlugins + "sample --checkpoint " + checkpoint.string() +
                      " --prompt 'a bar moves left' --out " + (dir / "again.gif").string() +
                      " --frames 5 --height 8 --width 12 --steps 2 --fps 5");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(ReadFile(dir / "again.gif"), ReadFile(dir / "ema.gif"));
  EXPECT_NE(ReadFile(dir / "raw.gif"), ReadFile(dir / "ema.gif"));

  auto missing = RunCli("sample --checkpoint " + (dir / "nope").string() + " --prompt x --out " +
                        (dir / "x.gif").string());
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  EXPECT_NE(missing.output.find((dir / "nope").string()), std::string::npos) << missing.output;
  EXPECT_EQ(RunCli("sample --checkpoint " + checkpoint.string() + " --out x.gif").exit_code, 2);
  EXPECT_FALSE(fs::exists(dir / "x.gif"));

  // Without size options: what the checkpoint was trained on (test_frames: 4 frames of 8x8 at
  // 8 fps), and the printed size is the file's.
  auto defaults =
      RunCli(kPlugins + "sample --checkpoint " + checkpoint.string() +
             " --prompt 'a bar moves left' --steps 2 --out " + (dir / "trained.gif").string());
  ASSERT_EQ(defaults.exit_code, 0) << defaults.output;
  testing::GifImage trained = testing::ReadGif(ReadFile(dir / "trained.gif"));
  EXPECT_EQ(trained.frames.size(), 4u);
  EXPECT_EQ(trained.width, 8 * 4);
  EXPECT_NE(defaults.output.find("4 frames of 8x8 at 8 fps, written 32x32"), std::string::npos)
      << defaults.output;
  // The extension picks the format: an MP4 is an MP4 (an ISO media file: 'ftyp' at byte 4),
  // never GIF bytes under another name; one this build cannot write is refused up front.
  auto mp4 = RunCli(kPlugins + "sample --checkpoint " + checkpoint.string() + " --prompt x --out " +
                    (dir / "v.mp4").string());
  if (CanWriteVideo(".mp4")) {
    ASSERT_EQ(mp4.exit_code, 0) << mp4.output;
    EXPECT_EQ(ReadFile(dir / "v.mp4").substr(4, 4), "ftyp");
  } else {
    EXPECT_EQ(mp4.exit_code, 2) << mp4.output;
    EXPECT_FALSE(fs::exists(dir / "v.mp4"));
  }
  auto bmp = RunCli(kPlugins + "sample --checkpoint " + checkpoint.string() + " --prompt x --out " +
                    (dir / "v.bmp").string());
  EXPECT_EQ(bmp.exit_code, 2) << bmp.output;
  EXPECT_NE(bmp.output.find("this build writes .gif"), std::string::npos) << bmp.output;
  EXPECT_FALSE(fs::exists(dir / "v.bmp"));
}

// A checkpoint grown by `modelgrow grow` keeps its text-encoder record, so it samples without
// --text; moved away from the folder its encoder was made in, it says what to do.
TEST(EngineCli, GrownCheckpointsKeepTheirTextEncoders) {
  TempDir dir;
  std::string text = kCheap;
  text = text.substr(0, text.find("[stages.grow]"));
  fs::path manifest = WriteText(dir / "m.toml", text);
  ASSERT_EQ(
      RunCli(kPlugins + "run " + manifest.string() + " --no-report --out " + (dir / "out").string())
          .exit_code,
      0);
  fs::path checkpoint = StageDir(dir / "out", "pretrain") / "checkpoint";
  auto grown = RunCli(kPlugins + "grow --in " + checkpoint.string() + " --op counting --out " +
                      (dir / "grown").string());
  ASSERT_EQ(grown.exit_code, 0) << grown.output;
  json config = ReadJson(dir / "grown" / "config.json");
  EXPECT_TRUE(config["modelgrow"]["provenance"]["text_encoders"].contains("words"))
      << config.dump(2);
  auto s = RunCli(kPlugins + "sample --checkpoint " + (dir / "grown").string() +
                  " --prompt 'a bar moves left' --steps 1 --out " + (dir / "g.gif").string());
  EXPECT_EQ(s.exit_code, 0) << s.output;
  EXPECT_TRUE(fs::exists(dir / "g.gif"));
}

// A text model the run made is recorded relative to the checkpoint: the experiment folder can
// move whole; a checkpoint copied away from it gets a message naming the way out.
TEST(EngineCli, MadeTextModelsAreFoundRelativeToTheCheckpoint) {
  TempDir dir;
  std::string text = kCheap;
  text = text.substr(0, text.find("[stages.grow]"));
  Replace(text, "[text.words]\nplugin = \"test_words\"\ndim = 16\n",
          "[text.words]\nplugin = \"t5\"\nmax_length = 8\n[text.words.make]\n"
          "corpus = \"base\"\nvocab_size = 40\nd_model = 16\nlayers = 1\nheads = 2\n");
  fs::path manifest = WriteText(dir / "m.toml", text);
  auto r = RunCli(kPlugins + "run " + manifest.string() + " --no-report --out " +
                  (dir / "out").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  fs::path relative = fs::relative(StageDir(dir / "out", "pretrain") / "checkpoint", dir / "out");
  fs::rename(dir / "out", dir / "moved");  // the whole experiment folder moves
  fs::path checkpoint = dir / "moved" / relative;
  auto s = RunCli(kPlugins + "sample --checkpoint " + checkpoint.string() +
                  " --prompt 'a bar moves left' --steps 1 --out " + (dir / "s.gif").string());
  EXPECT_EQ(s.exit_code, 0) << s.output;
  // Grown into another place (another depth), the record is re-expressed from there.
  const fs::path grown = dir / "grown" / "deeper" / "model";
  auto g = RunCli(kPlugins + "grow --in " + checkpoint.string() + " --op counting --out " +
                  grown.string());
  ASSERT_EQ(g.exit_code, 0) << g.output;
  auto gs = RunCli(kPlugins + "sample --checkpoint " + grown.string() +
                   " --prompt 'a bar moves left' --steps 1 --out " + (dir / "g.gif").string());
  EXPECT_EQ(gs.exit_code, 0) << gs.output;
  fs::copy(checkpoint, dir / "alone", fs::copy_options::recursive);
  auto alone = RunCli(kPlugins + "sample --checkpoint " + (dir / "alone").string() +
                      " --prompt x --steps 1 --out " + (dir / "a.gif").string());
  EXPECT_EQ(alone.exit_code, 2) << alone.output;
  EXPECT_NE(alone.output.find("was the checkpoint moved out of its experiment folder?"),
            std::string::npos)
      << alone.output;
  EXPECT_NE(alone.output.find("--text FILE"), std::string::npos) << alone.output;
}

// ---------------------------------------------------------------- prompt rewriting

// `sample --rewrite-with` samples from the rewritten prompt: the same video as sampling that
// prompt directly, another than the short one's. (test_words' rewriter appends words.)
TEST(EngineCli, SampleRewritesThePromptFirst) {
  TempDir dir;
  std::string text = kCheap;
  text = text.substr(0, text.find("[stages.grow]"));  // pre-training only
  fs::path manifest = WriteText(dir / "m.toml", text);
  auto r = RunCli(kPlugins + "run " + manifest.string() + " --no-report --out " +
                  (dir / "out").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string sample = kPlugins + "sample --checkpoint " +
                             (StageDir(dir / "out", "pretrain") / "checkpoint").string() +
                             " --frames 2 --height 8 --width 8 --steps 2 --out ";
  auto rewritten =
      RunCli(sample + (dir / "rewritten.gif").string() + " --prompt 'a bar moves' --rewrite-with " +
             dir.path().string() +
             " --rewrite-plugin test_words --rewrite-set 'append=\"to the left slowly\"'");
  ASSERT_EQ(rewritten.exit_code, 0) << rewritten.output;
  EXPECT_NE(rewritten.output.find("rewritten prompt"), std::string::npos) << rewritten.output;
  EXPECT_NE(rewritten.output.find("a bar moves to the left slowly"), std::string::npos)
      << rewritten.output;
  auto direct =
      RunCli(sample + (dir / "direct.gif").string() + " --prompt 'a bar moves to the left slowly'");
  ASSERT_EQ(direct.exit_code, 0) << direct.output;
  auto plain = RunCli(sample + (dir / "plain.gif").string() + " --prompt 'a bar moves'");
  ASSERT_EQ(plain.exit_code, 0) << plain.output;
  EXPECT_EQ(ReadFile(dir / "rewritten.gif"), ReadFile(dir / "direct.gif"));
  EXPECT_NE(ReadFile(dir / "rewritten.gif"), ReadFile(dir / "plain.gif"));

  // Rewriter options without a rewriter are a usage error, before any work.
  auto lone =
      RunCli(sample + (dir / "x.gif").string() + " --prompt 'a bar moves' --rewrite-set append=x");
  EXPECT_EQ(lone.exit_code, 2) << lone.output;
  EXPECT_NE(lone.output.find("--rewrite-with"), std::string::npos) << lone.output;
  EXPECT_FALSE(fs::exists(dir / "x.gif"));
}

// An evaluation with the prompt kind "rewritten" scores the short prompts rewritten by the model
// its `rewrite` table names, records every rewrite, keeps them in a file shared by the runs, and
// its report gets the "short prompts, rewritten" row.
TEST(EngineCli, EvaluationScoresRewrittenShortPrompts) {
  TempDir dir;
  std::string text = testing::TinyManifest("rewrite")
                         .SyntheticData(16)
                         .Table("text.rewriter", "plugin = \"test_words\"\npath = \"unused\"\n")
                         .Without("stages.grow")
                         .Without("stages.continue")
                         .Without("stages.continue.optim")
                         .Table("stages.evaluate",
                                "kind = \"evaluate\"\nfrom = \"pretrain\"\n"
                                "domains = {base = \"heldout\"}\n"
                                "prompts = [\"short\", \"rewritten\", \"detailed\"]\n"
                                "rewrite = {text = \"rewriter\", append = \"seen from above\"}\n"
                                "samples = 2\nsampling_steps = 2\nloss_samples = 2\n"
                                "classifier = {data = \"train\", steps = 3, batch_size = 4, "
                                "width = 4}\n")
                         .Text();
  fs::path manifest = WriteText(dir / "m.toml", text);
  auto r = RunCli(kPlugins + "run " + manifest.string() + " --out " + (dir / "out").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  json results = ReadJson(dir / "out" / "runs" / "seed=0" / "results.json");
  const json& evaluation = results["evaluations"]["evaluate"];
  for (const char* kind : {"short", "rewritten", "detailed"}) {
    EXPECT_TRUE(evaluation["metrics"].contains(fmt::format("acc/base/{}/mean", kind)))
        << kind << "\n"
        << evaluation["metrics"].dump(2);
  }
  ASSERT_TRUE(evaluation.contains("rewrites")) << evaluation.dump(2);
  ASSERT_FALSE(evaluation["rewrites"].empty());
  for (const json& rewrite : evaluation["rewrites"]) {
    EXPECT_EQ(rewrite["rewritten"].get<std::string>(),
              rewrite["short"].get<std::string>() + " seen from above");
  }
  int rewrite_files = 0;
  for (const auto& entry : fs::directory_iterator(dir / "out" / "cache")) {
    rewrite_files += entry.path().filename().string().starts_with("rewrites-") ? 1 : 0;
  }
  EXPECT_EQ(rewrite_files, 1);
  std::string report = ReadFile(dir / "out" / "report" / "report.md");
  EXPECT_NE(report.find("| short prompts, rewritten |"), std::string::npos) << report;

  // The kind needs a rewrite table, and the table a text table: before any work.
  std::string without_table = text;
  Replace(without_table, "rewrite = {text = \"rewriter\", append = \"seen from above\"}\n", "");
  fs::path bad = WriteText(dir / "bad.toml", without_table);
  auto b = RunCli(kPlugins + "run " + bad.string() + " --out " + (dir / "bad").string());
  EXPECT_EQ(b.exit_code, 2) << b.output;
  EXPECT_NE(b.output.find("'rewritten' needs a rewrite"), std::string::npos) << b.output;
  std::string unknown_text = text;
  Replace(unknown_text, "text = \"rewriter\"", "text = \"nobody\"");
  fs::path nameless = WriteText(dir / "nameless.toml", unknown_text);
  auto n = RunCli(kPlugins + "run " + nameless.string() + " --out " + (dir / "nameless").string());
  EXPECT_EQ(n.exit_code, 2) << n.output;
  EXPECT_NE(n.output.find("no [text.nobody] table"), std::string::npos) << n.output;
  EXPECT_FALSE(fs::exists(dir / "bad" / "runs"));
}

// ---------------------------------------------------------------- precomputed text

// Shards that store the encoder's embeddings of the short captions train and evaluate a model
// without the encoder being asked once: its `encode = false` would fail the run at the first call.
TEST(EngineCli, StoredTextEmbeddingsTrainAndEvaluateWithoutCallingTheEncoder) {
  TempDir dir;
  for (const auto& [folder, split, size] : std::vector<std::tuple<std::string, std::string, int>>{
           {"train", "train", 16}, {"heldout", "heldout", 4}}) {
    auto e =
        RunCli(kPlugins + "dataset export --plugin synthetic --set size=" + std::to_string(size) +
               " --set split=" + split +
               " --set frames=4 --set height=16 --set width=16"
               " --encode words=test_words:short --text-set test_words.dim=16 --out " +
               (dir / folder).string());
    ASSERT_EQ(e.exit_code, 0) << e.output;
  }
  auto manifest_with = [&](const std::string& caption) {
    return testing::TinyManifest("stored")
        .Table("text.words", "plugin = \"test_words\"\ndim = 16\nencode = false\n")
        .Without("data.base")
        .Without("stages.grow")
        .Without("stages.continue")
        .Without("stages.continue.optim")
        .Table("data.train", "plugin = \"hdf5\"\npath = \"" + (dir / "train").string() + "\"\n")
        .Table("data.heldout", "plugin = \"hdf5\"\npath = \"" + (dir / "heldout").string() + "\"\n")
        .Table("stages.pretrain",
               "kind = \"pretrain\"\ndata = \"train\"\ncaption = \"" + caption +
                   "\"\ncaption_dropout = 0.3\nsteps = 3\nbatch_size = 4\nworkers = 1\n")
        .Table("stages.evaluate",
               "kind = \"evaluate\"\nfrom = \"pretrain\"\ndomains = {base = \"heldout\"}\n"
               "prompts = [\"short\"]\nsamples = 2\nsampling_steps = 2\nloss_samples = 4\n"
               "classifier = {data = \"train\", steps = 3, batch_size = 4, width = 4}\n")
        .Text();
  };
  fs::path manifest = WriteText(dir / "stored.toml", manifest_with("short"));
  auto r = RunCli(kPlugins + "run " + manifest.string() + " --no-report --out " +
                  (dir / "out").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  json results = ReadJson(dir / "out" / "runs" / "seed=0" / "results.json");
  EXPECT_TRUE(results["evaluations"]["evaluate"]["metrics"].contains("loss/base/short"))
      << results.dump(2);

  // The control: detailed captions are not stored, so the encoder is asked, and refuses.
  fs::path detailed = WriteText(dir / "detailed.toml", manifest_with("detailed"));
  auto d = RunCli(kPlugins + "run " + detailed.string() + " --no-report --out " +
                  (dir / "out2").string());
  EXPECT_EQ(d.exit_code, 1) << d.output;
  EXPECT_NE(d.output.find("Encode() called"), std::string::npos) << d.output;
}

}  // namespace
}  // namespace modelgrow
