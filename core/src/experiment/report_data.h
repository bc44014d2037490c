// The data behind an experiment's report: every run's results gathered into rows (one per
// variant, mean ± std over seeds, the base model once per seed) and the columns the tables show.
// Private to core/src/experiment (report.cc and report_html.cc render it).
#pragma once

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "modelgrow/experiment/manifest.h"

namespace modelgrow::report {

using json = nlohmann::json;

inline constexpr const char* kBaseVariant = "base model";

// j[key], or an empty object when absent. (Ranging over `j.value(key, {}).items()` would iterate
// a destroyed temporary.)
const json& Field(const json& j, const std::string& key);

struct RunResults {
  std::string id;
  std::string variant;  // labels without the seed
  size_t index = 0;     // position in the manifest's run order
  std::string seed;
  std::vector<std::pair<std::string, std::string>> axes;  // axis -> label, in axis order; no seed
  std::filesystem::path dir;
  json results;  // runs/<id>/results.json
  json stages;   // runs/<id>/stages.json
};

// What out/manifest.toml says the folder holds: its name, description and run folder names.
struct ReportManifest {
  std::string name;
  std::string description;
  std::vector<std::string> run_folders;  // in the manifest's run order
  ComputeSpec compute;                   // [experiment.compute]
  FindingsSpec findings;                 // [experiment.findings]
  // Sweep axis -> the labels its findings compare against (SweepAxis::references).
  std::map<std::string, std::vector<std::string>> references;
};
ReportManifest ReadReportManifest(const std::filesystem::path& out);

// Run folders under out/runs that the manifest does not make.
std::vector<std::filesystem::path> StaleRunFolders(const std::filesystem::path& out,
                                                   const ReportManifest& manifest);

// Every run of the manifest that has results, in the manifest's run order.
std::vector<RunResults> LoadRuns(const std::filesystem::path& out);

// The numbers of one evaluation, flattened, with the table's derived columns added.
std::map<std::string, double> Flatten(const json& evaluation);

struct Stat {
  double mean = 0, std = 0;
  int n = 0;
};

Stat Aggregate(const std::vector<double>& values);

struct Column {
  std::string metric;
  std::string title;
  int digits;
  double scale = 1;
};

std::string FormatStat(const json& stat, const Column& c);

// The evaluations' notes (a classifier too weak to judge, a domain without labels, ...), each once.
std::vector<std::string> Warnings(const std::vector<RunResults>& runs);

// The columns of the main table, from the metrics present.
std::vector<Column> MainColumns(const std::set<std::string>& metrics);
// In place of the main table when no run has an evaluation (the growth zoo compares training
// alone): a table of variants without a number would read as runs that produced nothing.
inline constexpr const char* kNoEvaluationNote =
    "No run has an evaluate stage, so there is no table of evaluation results; what follows comes "
    "from training.";
// Per-category accuracy for every domain and prompt kind (short prompts' colour and motion are
// what a person sees first), then the classifier ceiling.
std::vector<Column> CategoryColumns(const std::set<std::string>& metrics);
inline constexpr const char* kCategoryTitle =
    "Attribute accuracy per category and prompt kind, and classifier ceiling";
// Held-out loss at each evaluation timestep, per domain and prompt kind, in timestep order.
std::vector<Column> TimestepLossColumns(const std::set<std::string>& metrics);
inline constexpr const char* kTimestepLossTitle =
    "Held-out loss by timestep (0 clean, 1000 pure noise)";

// A table of formatted cells.
struct TextTable {
  std::string title;
  std::vector<std::string> header;             // the first column's title, then one per column
  std::vector<std::vector<std::string>> rows;  // the first cell labels the row
};

// Attribute accuracy by prompt kind, one table per domain evaluated with two or more kinds: a
// row per kind ("short prompts", "short prompts, rewritten", "detailed prompts"), a column per
// variant. Shows what rewriting a short prompt buys against writing a detailed one.
std::vector<TextTable> PromptKindTables(const json& rows);

// Symmetry breaking per training stage (growth/symmetry.h): MLP units, heads and blocks that are
// near-copies of another at the stage's start and at its end, mean over seeds. Rows only for
// stages that began with some; no table when none did.
std::vector<TextTable> SymmetryTables(const std::vector<RunResults>& runs);

// One run's training, as the compute table reads it: its training stages in manifest order.
struct TrainingCurve {
  double flops_before = 0;                        // compute of the run's earlier training stages
  double total = 0;                               // all training stages
  std::vector<std::pair<double, double>> points;  // the last training stage's (flops, loss)
};
// Every run's training curve by run id, read from its stages' metrics.jsonl once per report; empty
// without [experiment.compute], which is all that reads them.
std::map<std::string, TrainingCurve> TrainingCurves(const std::vector<RunResults>& runs,
                                                    const ComputeSpec& spec);

// Compute to reach a target loss (the growth zoo's number, as the papers quote it): per variant,
// its training FLOPs over all training stages (model/flops.h), its final training loss, the FLOPs
// at which its last training stage's smoothed loss (a mean over a full window of `smooth` logged
// points) first reaches the target (earlier stages' compute included), and the saving against the
// reference variant's own FLOPs to the target. No table without [experiment.compute].
std::vector<TextTable> ComputeTables(const std::vector<RunResults>& runs,
                                     const std::map<std::string, TrainingCurve>& curves,
                                     const ComputeSpec& spec);

// A run's final training loss as the compute table gives it: the mean of the last `smooth` logged
// points of its last training stage; NaN when it logged none.
double FinalTrainingLoss(const TrainingCurve& curve, int64_t smooth);
// Whether `run` is the compute table's reference: its variant or one of its labels is `reference`.
bool IsComputeReference(const RunResults& run, const std::string& reference);

}  // namespace modelgrow::report
