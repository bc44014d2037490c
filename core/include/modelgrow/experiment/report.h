// Reports of an experiment folder: a table shaped like the paper's (one row per variant, mean ± std
// over seeds, plus the base model), as Markdown and CSV, and one self-contained HTML page with the
// table, training-loss curves and animated grids of generated vs real videos.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace modelgrow {

// Reads out/runs/*/results.json (and what they point to) and writes
// out/report/report.{md,csv,html}. Returns the report folder. Prints the Markdown table to stdout.
std::filesystem::path WriteReport(const std::filesystem::path& out);

// The rows of the report as data: [{"variant", "runs", "metrics": {name: {"mean", "std", "n"}}}].
nlohmann::json ReportRows(const std::filesystem::path& out);

}  // namespace modelgrow
