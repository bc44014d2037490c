// The report's findings: sweep values against their axis's reference, paired by seed and by the
// other axes, with Student's t intervals. Results are written as `modelgrow run` writes them, with
// numbers chosen so that every verdict is known. And documentation that quotes the report.
#include <map>
#include <sstream>
#include <string>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "modelgrow/experiment/report.h"
#include "modelgrow/experiment/report_quote.h"
#include "modelgrow/experiment/runner.h"
#include "modelgrow/experiment/sweep.h"
#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/options.h"
#include "test_util.h"

namespace modelgrow {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::TempDir;

// A second axis, so that findings must pair runs by it as well as by seed.
constexpr const char* kCaptionsAxis = R"([[sweep.axis]]
name = "captions"
[[sweep.axis.value]]
label = "short"
set = {"stages.continue.caption" = "short"}
[[sweep.axis.value]]
label = "detailed"
set = {"stages.continue.caption" = "detailed"}
)";

// `growth_extra`: more of the growth axis (keys before its values, then more values).
// `tail`: more tables after the sweep (e.g. [experiment.findings]).
std::string Manifest(const std::string& seeds, const std::string& growth_extra = "",
                     const std::string& tail = "") {
  return "[experiment]\nname = \"findings\"\nseeds = " + seeds +
         "\n[[sweep.axis]]\nname = \"growth\"\n" + growth_extra + R"(
[[sweep.axis.value]]
label = "finetune"
set = {"stages.grow.ops" = []}
[[sweep.axis.value]]
label = "insert"
set = {"stages.grow.ops" = [{plugin = "stack"}]}
)" + kCaptionsAxis +
         tail;
}

// Per seed (seed % 3 past 2), insert minus finetune: loss -0.019/-0.021/-0.020 (holds), accuracy
// +0.1/-0.1/+0.05 (not resolved), FD +5/+6/+7 (reversed: lower is better). Detailed minus short
// captions: loss +0.05 in every seed (reversed), everything else equal. "finetune-long" (when a
// manifest has it) is finetune with a loss 0.015 lower.
json Metrics(const std::string& growth, const std::string& captions, int seed) {
  const bool insert = growth == "insert";
  const double loss_noise[] = {0.001, -0.001, 0.0};
  const double acc_step[] = {0.1, -0.1, 0.05};
  const double loss = 0.30 + 0.01 * seed + (captions == "detailed" ? 0.05 : 0.0) +
                      (insert ? -0.02 + loss_noise[seed % 3] : 0.0) +
                      (growth == "finetune-long" ? -0.015 : 0.0);
  return {{"loss/continual/detailed", loss},
          {"loss_at/continual/detailed/900", loss + 0.1},
          {"loss_at/continual/detailed/1000", loss + 0.2},
          {"acc/continual/detailed/mean", 0.5 + (insert ? acc_step[seed % 3] : 0.0)},
          {"acc/continual/detailed/count", 0.25},
          {"acc/base/short/motion", 0.875},
          {"fd/continual/detailed", 100.0 + seed + (insert ? 5.0 + seed : 0.0)},
          {"ceiling/continual/mean", 0.9 + 0.01 * seed}};
}

std::filesystem::path WriteRuns(const TempDir& dir, const std::string& seeds,
                                const std::string& growth_extra = "",
                                const std::string& tail = "") {
  const std::filesystem::path out = dir / "out";
  std::filesystem::create_directories(out / "runs");
  WriteFileAtomic(out / "manifest.toml", Manifest(seeds, growth_extra, tail));
  const Options doc = Options::ParseFile(out / "manifest.toml");
  std::vector<int64_t> seed_list = doc.Table("experiment").IntList("seeds", {0});
  const std::vector<RunSpec> runs =
      ExpandRuns(doc, ReadSweep(doc), std::vector<uint64_t>(seed_list.begin(), seed_list.end()));
  for (const RunSpec& run : runs) {
    std::map<std::string, std::string> labels(run.labels.begin(), run.labels.end());
    const std::filesystem::path folder = out / "runs" / RunFolderName(run.id);
    std::filesystem::create_directories(folder);
    json results = {
        {"run", run.id},
        {"index", run.index},
        {"axes", run.labels},
        {"evaluations",
         {{"evaluate",
           {{"metrics", Metrics(labels["growth"], labels["captions"], std::stoi(labels["seed"]))},
            {"model", {{"params", 1000 + (labels["growth"] == "insert" ? 500 : 0)}}}}}}}};
    WriteFileAtomic(folder / "results.json", results.dump());
    WriteFileAtomic(folder / "stages.json", "{}");
  }
  return out;
}

TEST(ReportFindings, PairsBySeedAndOtherAxesAndGivesAVerdictPerClaim) {
  TempDir dir;
  const std::filesystem::path report = WriteReport(WriteRuns(dir, "[0, 1, 2]"));
  const std::string md = ReadFile(report / "report.md");
  EXPECT_THAT(md, HasSubstr("| Variant | Runs | Params (M) | Loss continual |"));
  EXPECT_THAT(md, Not(HasSubstr("no table of evaluation results")));
  EXPECT_THAT(md, HasSubstr("## Findings: growth against finetune, paired by seed"));
  // t(0.975, 2) = 4.303: half width 4.303 * 0.001 / sqrt(3) = 0.0025.
  EXPECT_THAT(md, HasSubstr("| insert − finetune (captions=short) | Loss continual | 3 | "
                            "-0.0200 [-0.0225, -0.0175] | holds: insert is better |"));
  EXPECT_THAT(md, HasSubstr("| insert − finetune (captions=detailed) | Loss continual | 3 | "
                            "-0.0200 [-0.0225, -0.0175] | holds: insert is better |"));
  EXPECT_THAT(md, HasSubstr("| insert − finetune (captions=short) | Acc continual/detailed | 3 | "
                            "+0.017 [-0.242, +0.275] | not resolved at this budget |"));
  EXPECT_THAT(md, HasSubstr("| insert − finetune (captions=short) | FD continual/detailed | 3 | "
                            "+6.00 [+3.52, +8.48] | reversed: finetune is better |"));
  EXPECT_THAT(md, HasSubstr("## Findings: captions against short, paired by seed"));
  // The same difference in every seed gives Student's t nothing to test (a zero-width interval
  // would call it certain); three seeds are too few for the sign test.
  EXPECT_THAT(md, HasSubstr("| detailed − short (growth=insert) | Loss continual | 3 | "
                            "+0.0500 [+0.0500, +0.0500] | not resolved: the same difference in "
                            "all 3 seeds, too few for the sign test (6) |"));
  EXPECT_THAT(md, HasSubstr("| detailed − short (growth=finetune) | FD continual/detailed | 3 | "
                            "+0.00 [+0.00, +0.00] | not resolved at this budget |"));
  // Sizes and the classifier's ceiling describe runs; they are not findings.
  EXPECT_THAT(md, Not(HasSubstr("| Params (M) | 3 |")));

  const std::string csv = ReadFile(report / "comparisons.csv");
  EXPECT_THAT(csv, HasSubstr("\"growth\",\"insert\",\"finetune\",\"captions=short\",\"evaluate\","
                             "\"acc/continual/detailed/count\",3,0,0,0,0,false,\"not resolved\""));
  EXPECT_THAT(csv, Not(HasSubstr("ceiling/")));
  // The loss at one timestep is a loss: lower is better.
  std::istringstream lines(csv);
  int timestep_rows = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.find("loss_at/continual/detailed/900") == std::string::npos) continue;
    if (line.find("\"growth\",\"insert\"") != 0) continue;
    ++timestep_rows;
    EXPECT_THAT(line, HasSubstr("\"holds\"")) << line;
  }
  EXPECT_EQ(timestep_rows, 2) << csv;  // captions=short and captions=detailed
  // And the report has them as a table, in numeric timestep order: as text "1000" < "900".
  EXPECT_THAT(md, HasSubstr("## Held-out loss by timestep"));
  ASSERT_THAT(md, HasSubstr("continual/detailed t=1000"));
  EXPECT_LT(md.find("continual/detailed t=900"), md.find("continual/detailed t=1000"));
  EXPECT_THAT(csv, Not(HasSubstr("params")));
  // Per-category accuracy covers short prompts as well as detailed ones, in the page too.
  const std::string categories =
      "## Attribute accuracy per category and prompt kind, and classifier ceiling\n\n| Variant "
      "| Runs | base/short/motion | continual/detailed/count |\n";
  EXPECT_THAT(md, HasSubstr(categories));
  const std::string html = ReadFile(report / "report.html");
  EXPECT_THAT(html, HasSubstr("holds: insert is better"));
  EXPECT_THAT(html, HasSubstr("<h2>Attribute accuracy per category and prompt kind, and "
                              "classifier ceiling</h2>"));
  // The page has the same table, in the same order.
  EXPECT_THAT(html, HasSubstr("<h2>Held-out loss by timestep (0 clean, 1000 pure noise)</h2>"));
  ASSERT_THAT(html, HasSubstr("continual/detailed t=1000"));
  EXPECT_LT(html.find("continual/detailed t=900"), html.find("continual/detailed t=1000"));
}

// A second reference (fine-tuning at equal compute, say) gets its own findings; the two
// references are compared once, against the first.
TEST(ReportFindings, EachReferenceOfAnAxisGetsItsOwnFindings) {
  TempDir dir;
  const std::filesystem::path report = WriteReport(WriteRuns(dir, "[0, 1, 2]", R"(
references = ["finetune", "finetune-long"]
[[sweep.axis.value]]
label = "finetune-long"
set = {"stages.grow.ops" = []}
)"));
  const std::string md = ReadFile(report / "report.md");
  EXPECT_THAT(md, HasSubstr("## Findings: growth against finetune, paired by seed"));
  EXPECT_THAT(md, HasSubstr("| insert − finetune (captions=short) | Loss continual | 3 | "
                            "-0.0200 [-0.0225, -0.0175] | holds: insert is better |"));
  EXPECT_THAT(md, HasSubstr("| finetune-long − finetune (captions=short) | Loss continual | 3 | "
                            "-0.0150 [-0.0150, -0.0150] | not resolved: the same difference in "
                            "all 3 seeds, too few for the sign test (6) |"));
  ASSERT_THAT(md, HasSubstr("## Findings: growth against finetune-long, paired by seed"));
  // Insert's lead shrinks from 0.020 to 0.005 against the stronger reference, still beyond noise.
  EXPECT_THAT(md, HasSubstr("| insert − finetune-long (captions=short) | Loss continual | 3 | "
                            "-0.0050 [-0.0075, -0.0025] | holds: insert is better |"));
  EXPECT_LT(md.find("against finetune,"), md.find("against finetune-long,"));
  EXPECT_THAT(md, Not(HasSubstr("| finetune − finetune-long")));
  const std::string csv = ReadFile(report / "comparisons.csv");
  EXPECT_THAT(csv, HasSubstr("\"growth\",\"insert\",\"finetune-long\",\"captions=short\""));
  EXPECT_THAT(csv, Not(HasSubstr("\"growth\",\"finetune\",\"finetune-long\"")));
  EXPECT_THAT(ReadFile(report / "report.html"),
              HasSubstr("Findings: growth against finetune-long, paired by seed"));
}

// The manifest names claims beyond the headline ones: an attribute's accuracy for every axis, and
// a contrast of two metrics within each variant's runs (mean minus count accuracy here: +0.25 in
// every finetune seed; +0.35, +0.15, +0.30 for insert). A name no run has is a warning, not a
// silently missing row.
TEST(ReportFindings, TheManifestAddsMetricsAndContrastsWithinRuns) {
  TempDir dir;
  const std::filesystem::path report = WriteReport(WriteRuns(dir, "[0, 1, 2]", "", R"(
[experiment.findings]
metrics = ["acc/continual/detailed/count"]
contrasts = [{metric = "acc/continual/detailed/mean", against = "acc/continual/detailed/count"},
             {metric = "acc/continual/detailed/mean", against = "acc/continual/detailed/cuont"}]
)"));
  const std::string md = ReadFile(report / "report.md");
  EXPECT_THAT(md, HasSubstr("| insert − finetune (captions=short) | acc/continual/detailed/count "
                            "| 3 | +0.000 [+0.000, +0.000] | not resolved at this budget |"));
  // Not asked for: still only in comparisons.csv.
  EXPECT_THAT(md, Not(HasSubstr("| acc/base/short/motion | 3 |")));
  EXPECT_THAT(md, HasSubstr("## Findings: acc/continual/detailed/mean − "
                            "acc/continual/detailed/count, paired by seed within each variant\n\n"
                            "| Variant | Seeds | Difference [95% CI] | Finding |"));
  EXPECT_THAT(md, HasSubstr("| growth=finetune, captions=short | 3 | +0.250 [+0.250, +0.250] | "
                            "not resolved: the same difference in all 3 seeds, too few for the "
                            "sign test (6) |"));
  // t(0.975, 2) = 4.303, std 0.1041: half width 0.2586.
  EXPECT_THAT(md, HasSubstr("| growth=insert, captions=detailed | 3 | +0.267 [+0.008, +0.525] | "
                            "holds: acc/continual/detailed/mean is better |"));
  EXPECT_THAT(md, Not(HasSubstr("− acc/continual/detailed/cuont")));
  const std::string warning =
      "experiment.findings.contrasts: no run has a metric 'acc/continual/detailed/cuont', so that "
      "finding is missing; did you mean 'acc/continual/detailed/count'?";
  EXPECT_THAT(md, HasSubstr("## Warnings\n\n- " + warning));
  const std::string csv = ReadFile(report / "comparisons.csv");
  EXPECT_THAT(csv,
              HasSubstr("\"\",\"acc/continual/detailed/mean\",\"acc/continual/detailed/count\","
                        "\"growth=insert, captions=detailed\",\"evaluate\","
                        "\"acc/continual/detailed/mean\",3,"));
  const std::string html = ReadFile(report / "report.html");
  EXPECT_THAT(html, HasSubstr("acc/continual/detailed/mean − acc/continual/detailed/count, paired "
                              "by seed within each variant"));
  EXPECT_THAT(html, HasSubstr("no run has a metric 'acc/continual/detailed/cuont'"));
}

TEST(ReportFindings, OneSeedIsNotATest) {
  TempDir dir;
  const std::string md = ReadFile(WriteReport(WriteRuns(dir, "[0]")) / "report.md");
  EXPECT_THAT(md, HasSubstr("| insert − finetune (captions=short) | Loss continual | 1 | "
                            "-0.0190 | one seed: no test (run 3 or more) |"));
  EXPECT_THAT(md, Not(HasSubstr("holds:")));
}

// Six seeds that all differ by the same amount pass the sign test (two-sided p = 2 / 2^6);
// the same difference in five would not (p = 0.0625).
TEST(ReportFindings, SixSeedsTheSameWayPassTheSignTest) {
  TempDir dir;
  std::string md = ReadFile(WriteReport(WriteRuns(dir, "[0, 1, 2, 3, 4, 5]")) / "report.md");
  EXPECT_THAT(md, HasSubstr("| detailed − short (growth=insert) | Loss continual | 6 | "
                            "+0.0500 [+0.0500, +0.0500] | reversed: short is better |"));
  TempDir five;
  md = ReadFile(WriteReport(WriteRuns(five, "[0, 1, 2, 3, 4]")) / "report.md");
  EXPECT_THAT(md, HasSubstr("| detailed − short (growth=insert) | Loss continual | 5 | "
                            "+0.0500 [+0.0500, +0.0500] | not resolved: the same difference in "
                            "all 5 seeds, too few for the sign test (6) |"));
}

// Past 30 degrees of freedom the t quantile comes from an expansion (t(0.975, 31) = 2.0395): the
// interval must still be Student's, not the normal's (1.96 would give [-0.015, +0.046]).
TEST(ReportFindings, ManySeedsUseStudentsTPastTheTable) {
  TempDir dir;
  std::string seeds = "[0";
  for (int seed = 1; seed < 32; ++seed) seeds += ", " + std::to_string(seed);
  const std::string md = ReadFile(WriteReport(WriteRuns(dir, seeds + "]")) / "report.md");
  EXPECT_THAT(md, HasSubstr("| insert − finetune (captions=short) | Acc continual/detailed | 32 | "
                            "+0.016 [-0.016, +0.047] | not resolved at this budget |"));
}

// [experiment.compute] (the growth zoo): every row's final training loss, as the compute table
// gives it, against the reference's (`reference`: an axis label or a whole variant). Three growth
// values and two caption values, three seeds, no evaluation. Each run's continue stage logs three
// points; the mean of the last two (smooth = 2) is its final loss: scratch 0.30 + 0.01 seed, 0.05
// more with detailed captions; grown 0.019/0.021/0.020 below it (holds), copy 0.010/0.012/0.011
// above (reversed). Were runs paired across captions, every interval would span the 0.05.
std::filesystem::path WriteZooRuns(const TempDir& dir, const std::string& reference) {
  const std::filesystem::path out = dir / "out";
  WriteFileAtomic(out / "manifest.toml", fmt::format(R"([experiment]
name = "zoo"
seeds = [0, 1, 2]
[experiment.compute]
reference = "{}"
smooth = 2
[[sweep.axis]]
name = "growth"
[[sweep.axis.value]]
label = "grown"
set = {{"stages.grow.ops" = [{{plugin = "stack"}}]}}
[[sweep.axis.value]]
label = "copy"
set = {{"stages.grow.ops" = [{{plugin = "stack", init = "copy"}}]}}
[[sweep.axis.value]]
label = "scratch"
set = {{"stages.grow.ops" = []}}
{})",
                                                     reference, kCaptionsAxis));
  const Options doc = Options::ParseFile(out / "manifest.toml");
  for (const RunSpec& run : ExpandRuns(doc, ReadSweep(doc), {0, 1, 2})) {
    std::map<std::string, std::string> labels(run.labels.begin(), run.labels.end());
    const int seed = std::stoi(labels["seed"]);
    const double grown[] = {-0.019, -0.021, -0.020}, copy[] = {0.010, 0.012, 0.011};
    const double loss = 0.30 + 0.01 * seed + (labels["captions"] == "detailed" ? 0.05 : 0.0) +
                        (labels["growth"] == "grown"  ? grown[seed]
                         : labels["growth"] == "copy" ? copy[seed]
                                                      : 0.0);
    const std::filesystem::path folder = out / "runs" / RunFolderName(run.id);
    WriteFileAtomic(folder / "results.json",
                    json{{"run", run.id}, {"index", run.index}, {"axes", run.labels}}.dump());
    WriteFileAtomic(folder / "stages.json",
                    json{{"continue", {{"dir", "stages/continue"}, {"order", 0}}}}.dump());
    WriteFileAtomic(folder / "stages" / "continue" / "stage.json",
                    json{{"kind", "continue"}, {"flops", {{"total", 300.0}}}}.dump());
    // A first point far above the final loss: outside the window of 2, it must not count.
    WriteFileAtomic(folder / "stages" / "continue" / "metrics.jsonl",
                    json{{"flops", 100.0}, {"loss", 0.9}}.dump() + "\n" +
                        json{{"flops", 200.0}, {"loss", loss + 0.001}}.dump() + "\n" +
                        json{{"flops", 300.0}, {"loss", loss - 0.001}}.dump() + "\n");
  }
  return out;
}

TEST(ReportFindings, TheComputeReferenceGivesFinalTrainingLossFindings) {
  TempDir dir;
  const std::filesystem::path report = WriteReport(WriteZooRuns(dir, "scratch"));
  const std::string md = ReadFile(report / "report.md");
  EXPECT_THAT(md, HasSubstr("## Findings: growth against scratch, paired by seed"));
  for (const char* captions : {"short", "detailed"}) {
    SCOPED_TRACE(captions);
    EXPECT_THAT(md, HasSubstr(fmt::format("| grown − scratch (captions={}) | Final training loss "
                                          "| 3 | -0.0200 [-0.0225, -0.0175] | holds: grown is "
                                          "better |",
                                          captions)));
    EXPECT_THAT(md, HasSubstr(fmt::format("| copy − scratch (captions={}) | Final training loss | "
                                          "3 | +0.0110 [+0.0085, +0.0135] | reversed: scratch is "
                                          "better |",
                                          captions)));
  }
  // The compute table's final loss is the same number.
  EXPECT_THAT(md, HasSubstr("| growth=grown, captions=short | 300 | 0.2900 ± 0.0095 |"));
  EXPECT_THAT(ReadFile(report / "comparisons.csv"),
              HasSubstr("\"growth\",\"grown\",\"scratch\",\"captions=short\",\"training\","
                        "\"train/final_loss\",3,"));
  const std::string html = ReadFile(report / "report.html");
  EXPECT_THAT(html, HasSubstr("holds: grown is better"));
  // No run evaluates: a main table of variant names without a number would say nothing.
  EXPECT_THAT(md, HasSubstr("no table of evaluation results"));
  EXPECT_THAT(md, Not(HasSubstr("| Variant | Runs |")));
  EXPECT_THAT(html, Not(HasSubstr("<h2>Results</h2>")));
}

// A reference that is a whole variant, not a label of one axis, is the same run for every other
// variant of its seed: each variant is a comparison of its own, whatever its labels.
TEST(ReportFindings, AComputeReferenceThatIsAWholeVariantPairsBySeedOnly) {
  TempDir dir;
  const std::filesystem::path report =
      WriteReport(WriteZooRuns(dir, "growth=scratch, captions=short"));
  const std::string md = ReadFile(report / "report.md");
  EXPECT_THAT(md, HasSubstr("## Findings: variant against growth=scratch, captions=short, paired "
                            "by seed"));
  EXPECT_THAT(md, HasSubstr("| growth=grown, captions=short − growth=scratch, captions=short | "
                            "Final training loss | 3 | -0.0200 [-0.0225, -0.0175] | holds:"));
  // Detailed captions add 0.05 to every loss: against short captions' scratch, grown is worse.
  EXPECT_THAT(md, HasSubstr("| growth=grown, captions=detailed − growth=scratch, captions=short | "
                            "Final training loss | 3 | +0.0300 [+0.0275, +0.0325] | reversed:"));
  EXPECT_THAT(md, HasSubstr("| growth=scratch, captions=detailed − growth=scratch, "
                            "captions=short | Final training loss | 3 | +0.0500 [+0.0500, "
                            "+0.0500] | not resolved:"));
}

// A document quotes the report between its markers; nothing outside them changes, quoting again
// changes nothing, and a document without a proper block is refused and left as it was.
TEST(ReportQuote, ReplacesTheMarkedBlockAndNothingElse) {
  TempDir dir;
  const std::filesystem::path out = WriteRuns(dir, "[0, 1, 2]");
  const std::filesystem::path doc = dir / "reproducing.md";
  const std::string before = "# Reproducing\n\nIntro.\n\n<!-- modelgrow report: findings -->\n";
  const std::string after = "<!-- end modelgrow report: findings -->\n\nWhat it shows.\n";
  WriteFileAtomic(doc, before + "| old | 0.1234 |\n" + after);
  EXPECT_THROW_WITH(QuoteReport(out, doc), InputError, "no report to quote");
  WriteReport(out);
  QuoteReport(out, doc);
  const std::string quoted = ReadFile(doc);
  EXPECT_TRUE(quoted.starts_with(before + "\n<!-- Written by `modelgrow report DIR --quote-into "
                                          "reproducing.md`"))
      << quoted;
  EXPECT_TRUE(quoted.ends_with(".\n\n" + after)) << quoted;
  EXPECT_THAT(quoted, Not(HasSubstr("0.1234")));
  EXPECT_THAT(quoted, HasSubstr("\n### findings\n"));
  EXPECT_THAT(quoted, HasSubstr("\n#### Findings: growth against finetune, paired by seed\n"));
  EXPECT_THAT(quoted, HasSubstr("| insert − finetune (captions=short) | Loss continual | 3 | "
                                "-0.0200 [-0.0225, -0.0175] | holds: insert is better |"));
  QuoteReport(out, doc);
  EXPECT_EQ(ReadFile(doc), quoted);

  const std::string no_end = before + "text\n";
  WriteFileAtomic(doc, no_end);
  EXPECT_THROW_WITH(QuoteReport(out, doc), InputError,
                    "has no `<!-- end modelgrow report: findings -->` after it");
  EXPECT_EQ(ReadFile(doc), no_end);
  const std::string other = "<!-- modelgrow report: quickstart -->\n" + after;
  WriteFileAtomic(doc, other);
  EXPECT_THROW_WITH(QuoteReport(out, doc), InputError,
                    "no line `<!-- modelgrow report: findings -->`");
  EXPECT_EQ(ReadFile(doc), other);
  const std::string twice = before + before + after;
  WriteFileAtomic(doc, twice);
  EXPECT_THROW_WITH(QuoteReport(out, doc), InputError, "is there twice");
  EXPECT_EQ(ReadFile(doc), twice);
  EXPECT_THROW_WITH(QuoteReport(out, dir / "missing.md"), InputError, "no such document");
}

}  // namespace
}  // namespace modelgrow
