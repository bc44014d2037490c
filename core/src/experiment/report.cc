#include "modelgrow/experiment/report.h"

#include <iostream>
#include <set>

#include <fmt/format.h>

#include "modelgrow/base/provenance.h"
#include "modelgrow/sdk/atomic_folder.h"
#include "paired_comparisons.h"
#include "report_data.h"
#include "report_html.h"

namespace modelgrow {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace report;

namespace {

std::string MarkdownTable(const json& rows, const std::vector<Column>& cols) {
  std::string md = "| Variant | Runs |";
  std::string rule = "|---|---|";
  for (const Column& c : cols) {
    md += " " + c.title + " |";
    rule += "---|";
  }
  md += "\n" + rule + "\n";
  for (const json& row : rows) {
    md += fmt::format("| {} | {} |", row["variant"].get<std::string>(), row["runs"].size());
    for (const Column& c : cols)
      md += " " + FormatStat(row["metrics"].value(c.metric, json()), c) + " |";
    md += "\n";
  }
  return md;
}

std::string MarkdownTable(const TextTable& t) {
  std::string md = "|", rule = "|";
  for (const std::string& h : t.header) {
    md += " " + h + " |";
    rule += "---|";
  }
  md += "\n" + rule + "\n";
  for (const auto& row : t.rows) {
    md += "|";
    for (const std::string& cell : row) md += " " + cell + " |";
    md += "\n";
  }
  return md;
}

// A metric the manifest's findings name that no run has: misspelt, or the evaluation that makes it
// did not run. Either way the report says so instead of leaving its claim out silently.
std::vector<std::string> FindingsWarnings(const FindingsSpec& findings,
                                          const std::set<std::string>& metric_names) {
  const std::vector<std::string> known(metric_names.begin(), metric_names.end());
  std::vector<std::string> warnings;
  auto check = [&](const std::string& key, const std::string& metric) {
    if (metric_names.count(metric)) return;
    std::string w = fmt::format(
        "experiment.findings.{}: no run has a metric '{}', so that "
        "finding is missing",
        key, metric);
    if (std::string hint = SuggestClosest(metric, known); !hint.empty()) w += "; " + hint;
    warnings.push_back(std::move(w));
  };
  for (const std::string& metric : findings.metrics) check("metrics", metric);
  for (const FindingsSpec::Contrast& c : findings.contrasts) {
    check("contrasts", c.metric);
    check("contrasts", c.against);
  }
  return warnings;
}

}  // namespace

fs::path WriteReport(const fs::path& out, bool prune_stale_runs) {
  const ReportManifest manifest = ReadReportManifest(out);
  // Runs of another manifest written to the same folder must never mix into this table.
  for (const fs::path& stale : StaleRunFolders(out, manifest)) {
    if (prune_stale_runs) {
      fs::remove_all(stale);
      std::cerr << fmt::format("report: removed {} (not a run of {})\n", stale.string(),
                               (out / "manifest.toml").string());
    } else {
      std::cerr << fmt::format(
          "report: warning: {} is not a run of {}, so it is left out of the report; `modelgrow "
          "report --prune {}` removes such folders\n",
          stale.string(), (out / "manifest.toml").string(), out.string());
    }
  }
  json rows = ReportRows(out);
  std::vector<RunResults> runs = LoadRuns(out);
  std::set<std::string> metric_names;
  for (const json& row : rows) {
    for (const auto& [k, v] : row["metrics"].items()) metric_names.insert(k);
  }
  std::vector<Column> main = MainColumns(metric_names), categories = CategoryColumns(metric_names);
  const std::string& name = manifest.name;
  const fs::path dir = out / "report";
  // The three files describe one state of the runs: they are replaced together, so a kill or a
  // full disk never leaves a new table beside an old one.
  AtomicFolderWriter folder(dir);

  std::string md =
      fmt::format("# {}\n\n{}{} run(s); mean ± std over seeds. Generated {} by modelgrow.\n\n",
                  name, manifest.description.empty() ? "" : manifest.description + "\n\n",
                  runs.size(), UtcTimestamp());
  md += rows.empty() ? std::string(kNoEvaluationNote) + "\n" : MarkdownTable(rows, main);
  const std::map<std::string, TrainingCurve> curves = TrainingCurves(runs, manifest.compute);
  const std::vector<TextTable> compute_tables = ComputeTables(runs, curves, manifest.compute);
  std::vector<PairedComparison> comparisons = PairedComparisons(runs, manifest.references);
  for (PairedComparison& c : ComputeComparisons(runs, curves, manifest.compute))
    comparisons.push_back(std::move(c));
  std::vector<TextTable> findings = PairedComparisonTables(comparisons, manifest.findings.metrics);
  const std::vector<PairedComparison> contrasts =
      MetricContrasts(runs, manifest.findings.contrasts);
  for (TextTable& t : MetricContrastTables(contrasts)) findings.push_back(std::move(t));
  comparisons.insert(comparisons.end(), contrasts.begin(), contrasts.end());
  if (!findings.empty()) md += "\n" + std::string(kFindingsNote) + "\n";
  for (const TextTable& t : findings) {
    md += "\n## " + t.title + "\n\n" + MarkdownTable(t);
  }
  if (!categories.empty())
    md += "\n## " + std::string(kCategoryTitle) + "\n\n" + MarkdownTable(rows, categories);
  const std::vector<Column> by_timestep = TimestepLossColumns(metric_names);
  if (!by_timestep.empty())
    md += "\n## " + std::string(kTimestepLossTitle) + "\n\n" + MarkdownTable(rows, by_timestep);
  for (const TextTable& t : PromptKindTables(rows)) {
    md += "\n## " + t.title + "\n\n" + MarkdownTable(t);
  }
  for (const TextTable& t : compute_tables) {
    md += "\n## " + t.title + "\n\n" + MarkdownTable(t);
  }
  for (const TextTable& t : SymmetryTables(runs)) {
    md += "\n## " + t.title + "\n\n" + MarkdownTable(t);
  }
  md +=
      "\nLoss: held-out rectified-flow loss (lower is better); Forgetting: its rise over the base "
      "model; "
      "Acc: attribute accuracy of generated videos read back by the classifier; FD: Fréchet "
      "distance "
      "to real videos in the classifier's feature space; Preservation err: max relative output "
      "change "
      "right after growth.\n";
  std::vector<std::string> warnings = Warnings(runs);
  for (std::string& w : FindingsWarnings(manifest.findings, metric_names)) {
    std::cerr << "report: warning: " << w << "\n";
    warnings.push_back(std::move(w));
  }
  if (!warnings.empty()) {
    md += "\n## Warnings\n\n";
    for (const std::string& w : warnings) md += "- " + w + "\n";
  }
  folder.AddFile("report.md", md);

  // CSV: one row per variant, every metric's mean and std.
  std::string csv = "variant,runs";
  for (const std::string& m : metric_names) csv += "," + m + "," + m + ":std";
  csv += "\n";
  for (const json& row : rows) {
    csv += "\"" + row["variant"].get<std::string>() + "\"," + std::to_string(row["runs"].size());
    for (const std::string& m : metric_names) {
      json s = row["metrics"].value(m, json());
      csv += s.is_null() ? ",,"
                         : fmt::format(",{},{}", s["mean"].get<double>(), s["std"].get<double>());
    }
    csv += "\n";
  }
  folder.AddFile("report.csv", csv);
  if (!comparisons.empty()) folder.AddFile("comparisons.csv", PairedComparisonsCsv(comparisons));

  folder.AddFile("report.html", RenderHtml(name, runs, rows, main, categories, by_timestep,
                                           compute_tables, findings, warnings));
  folder.Commit();

  std::cout << "\n"
            << (rows.empty() ? std::string() : MarkdownTable(rows, main) + "\n")
            << "Report: " << (dir / "report.html").string() << "\n";
  return dir;
}

}  // namespace modelgrow
