// Reports of an experiment folder: a table shaped like the paper's (one row per variant, mean ± std
// over seeds, plus the base model), as Markdown and CSV, and one self-contained HTML page with the
// table, training-loss curves and animated grids of generated vs real videos.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace modelgrow {

// Reads the results of the runs of out/manifest.toml (out/runs/<run>/results.json and what they
// point to) and writes out/report/report.{md,csv,html}, titled by the experiment's name. Run
// folders the manifest does not make (left by an earlier manifest written to the same folder)
// are never reported: they are listed with a warning, and removed when `prune_stale_runs`.
// Returns the report folder. Prints the Markdown table to stdout.
std::filesystem::path WriteReport(const std::filesystem::path& out, bool prune_stale_runs = false);

// The rows of the report as data: [{"variant", "runs", "metrics": {name: {"mean", "std", "n"}}}].
nlohmann::json ReportRows(const std::filesystem::path& out);

}  // namespace modelgrow
