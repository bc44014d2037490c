#include "report_data.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <tuple>

#include <fmt/format.h>

#include "modelgrow/experiment/report.h"
#include "modelgrow/experiment/runner.h"
#include "modelgrow/experiment/sweep.h"
#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/sdk/errors.h"

namespace modelgrow {
namespace report {

namespace fs = std::filesystem;

// j[key], or an empty object when absent. (Ranging over `j.value(key, {}).items()` would iterate
// a destroyed temporary.)
const json& Field(const json& j, const std::string& key) {
  static const json empty = json::object();
  auto it = j.find(key);
  return it == j.end() ? empty : *it;
}

ReportManifest ReadReportManifest(const fs::path& out) {
  const fs::path file = out / "manifest.toml";
  std::error_code ec;
  if (!fs::exists(file, ec)) {
    throw InputError(fmt::format(
        "{}: no manifest.toml (is this an experiment output folder? `modelgrow run` writes it)",
        out.string()));
  }
  Options doc = Options::ParseFile(file);
  ReportManifest m;
  m.name = doc.Table("experiment").String("name", out.filename().string());
  m.description = doc.Table("experiment").String("description", "");
  m.compute = ComputeSpec::FromOptions(doc.Table("experiment").Table("compute"));
  m.findings = FindingsSpec::FromOptions(doc.Table("experiment").Table("findings"));
  std::vector<int64_t> seeds = doc.Table("experiment").IntList("seeds", {0});
  std::vector<uint64_t> unsigned_seeds(seeds.begin(), seeds.end());
  const std::vector<SweepAxis> axes = ReadSweep(doc);
  for (const RunSpec& run : ExpandRuns(doc, axes, unsigned_seeds)) {
    m.run_folders.push_back(RunFolderName(run.id));
  }
  for (const SweepAxis& axis : axes) m.references[axis.name] = axis.references;
  return m;
}

std::vector<fs::path> StaleRunFolders(const fs::path& out, const ReportManifest& manifest) {
  std::vector<fs::path> stale;
  std::error_code ec;
  if (!fs::is_directory(out / "runs", ec)) return stale;
  const std::set<std::string> wanted(manifest.run_folders.begin(), manifest.run_folders.end());
  for (const auto& entry : fs::directory_iterator(out / "runs")) {
    if (entry.is_directory() && !wanted.count(entry.path().filename().string())) {
      stale.push_back(entry.path());
    }
  }
  std::sort(stale.begin(), stale.end());
  return stale;
}

std::vector<RunResults> LoadRuns(const fs::path& out) {
  std::vector<RunResults> runs;
  std::error_code ec;
  if (!fs::is_directory(out / "runs", ec)) {
    throw InputError(
        fmt::format("{}: no runs/ folder (is this an experiment output folder?)", out.string()));
  }
  const ReportManifest manifest = ReadReportManifest(out);
  for (const std::string& folder : manifest.run_folders) {
    const fs::path dir = out / "runs" / folder;
    fs::path file = dir / "results.json";
    if (!fs::exists(file, ec)) continue;
    RunResults r;
    r.dir = dir;
    r.results = json::parse(ReadFile(file), nullptr, false);
    if (!r.results.is_object()) throw InputError(fmt::format("{}: not valid JSON", file.string()));
    r.stages = json::parse(ReadFile(dir / "stages.json"), nullptr, false);
    r.id = r.results.value("run", folder);
    r.index = r.results.value("index", std::numeric_limits<size_t>::max());
    // Labels in the manifest's axis order; results written before "axes" existed only have the
    // (alphabetical) object.
    std::vector<std::pair<std::string, std::string>> labels;
    if (r.results.contains("axes")) {
      for (const json& pair : r.results["axes"]) labels.emplace_back(pair[0], pair[1]);
    } else {
      for (const auto& [axis, label] : Field(r.results, "labels").items())
        labels.emplace_back(axis, label.get<std::string>());
    }
    std::string variant;
    for (const auto& [axis, label] : labels) {
      if (axis == "seed") {
        r.seed = label;
        continue;
      }
      r.axes.emplace_back(axis, label);
      variant += (variant.empty() ? "" : ", ") + axis + "=" + label;
    }
    r.variant = variant.empty() ? "grown model" : variant;
    runs.push_back(std::move(r));
  }
  // Rows in the manifest's run order, so a table reads like its sweep.
  std::sort(runs.begin(), runs.end(), [](const RunResults& a, const RunResults& b) {
    return std::tie(a.index, a.id) < std::tie(b.index, b.id);
  });
  return runs;
}

// The numbers of one evaluation, flattened, with the table's derived columns added.
std::map<std::string, double> Flatten(const json& evaluation) {
  std::map<std::string, double> m;
  for (const auto& [k, v] : Field(evaluation, "metrics").items()) {
    if (v.is_number()) m[k] = v.get<double>();
  }
  json model = evaluation.value("model", json::object());
  if (model.contains("params")) m["params"] = model["params"].get<double>();
  if (model.contains("trainable")) m["trainable"] = model["trainable"].get<double>();
  // AdamW moments the busiest rank held in the training that made these weights.
  json moments = evaluation.value("training", json::object())
                     .value("optimizer", json::object())
                     .value("moment_bytes_per_rank", json::array());
  if (!moments.empty()) {
    double most = 0;
    for (const json& b : moments) most = std::max(most, b.get<double>());
    m["optimizer_bytes_per_rank"] = most;
  }
  double preservation = -1;
  for (const json& g : evaluation.value("growth", json::array())) {
    preservation =
        std::max(preservation, g.value("preservation", json::object()).value("max_rel", 0.0));
  }
  if (preservation >= 0) m["preservation_max_rel"] = preservation;
  double seconds = 0;
  for (const auto& [stage, s] : Field(evaluation, "stage_seconds").items())
    seconds += s.get<double>();
  if (seconds > 0) m["train_minutes"] = seconds / 60;
  // Per-domain loss and forgetting, averaged over prompt kinds.
  std::map<std::string, std::vector<double>> loss, forgetting;
  for (const auto& [k, v] : m) {
    auto parts = [&k = k](const std::string& prefix) {
      return k.substr(prefix.size(), k.find('/', prefix.size()) - prefix.size());
    };
    if (k.rfind("loss/", 0) == 0) loss[parts("loss/")].push_back(v);
    if (k.rfind("forgetting/", 0) == 0) forgetting[parts("forgetting/")].push_back(v);
  }
  auto mean = [](const std::vector<double>& x) {
    double s = 0;
    for (double v : x) s += v;
    return s / static_cast<double>(x.size());
  };
  for (const auto& [d, v] : loss) m["table/loss/" + d] = mean(v);
  for (const auto& [d, v] : forgetting) m["table/forgetting/" + d] = mean(v);
  return m;
}

Stat Aggregate(const std::vector<double>& values) {
  Stat s;
  s.n = static_cast<int>(values.size());
  if (s.n == 0) return s;
  for (double v : values) s.mean += v;
  s.mean /= s.n;
  if (s.n > 1) {
    double var = 0;
    for (double v : values) var += (v - s.mean) * (v - s.mean);
    s.std = std::sqrt(var / (s.n - 1));
  }
  return s;
}

std::string FormatStat(const json& stat, const Column& c) {
  if (stat.is_null()) return "–";
  double mean = stat["mean"].get<double>() * c.scale, std = stat["std"].get<double>() * c.scale;
  std::string text =
      c.digits < 0 ? fmt::format("{:.2e}", mean) : fmt::format("{:.{}f}", mean, c.digits);
  if (stat["n"].get<int>() > 1) {
    text += c.digits < 0 ? fmt::format(" ± {:.1e}", std) : fmt::format(" ± {:.{}f}", std, c.digits);
  }
  return text;
}

// The columns of the main table, from the metrics present.
std::vector<Column> MainColumns(const std::set<std::string>& metrics) {
  std::vector<Column> cols;
  auto add = [&](const std::string& metric, const std::string& title, int digits,
                 double scale = 1) {
    if (metrics.count(metric)) cols.push_back({metric, title, digits, scale});
  };
  add("params", "Params (M)", 3, 1e-6);
  add("trainable", "Trainable (M)", 3, 1e-6);
  add("preservation_max_rel", "Preservation err", -1);
  for (const std::string& m : metrics) {
    if (m.rfind("table/loss/", 0) == 0) add(m, "Loss " + m.substr(11), 4);
  }
  for (const std::string& m : metrics) {
    if (m.rfind("table/forgetting/", 0) == 0) add(m, "Forgetting " + m.substr(17), 4);
  }
  for (const std::string& m : metrics) {
    if (m.rfind("acc/", 0) == 0 && m.size() > 5 && m.substr(m.size() - 5) == "/mean") {
      add(m, "Acc " + m.substr(4, m.size() - 9), 3);
    }
  }
  for (const std::string& m : metrics) {
    if (m.rfind("fd/", 0) == 0) add(m, "FD " + m.substr(3), 2);
  }
  add("train_minutes", "Time (min)", 1);
  add("optimizer_bytes_per_rank", "Optimizer (MB/rank)", 2, 1.0 / (1 << 20));
  return cols;
}

std::vector<Column> CategoryColumns(const std::set<std::string>& metrics) {
  std::vector<Column> cols;
  for (const std::string& m : metrics) {
    if (m.rfind("acc/", 0) != 0) continue;
    if (m.substr(m.size() - 5) == "/mean") continue;
    cols.push_back({m, m.substr(4), 3});
  }
  for (const std::string& m : metrics) {
    if (m.rfind("ceiling/", 0) == 0 && m.substr(m.size() - 5) != "/mean") cols.push_back({m, m, 3});
  }
  return cols;
}

std::vector<Column> TimestepLossColumns(const std::set<std::string>& metrics) {
  const std::string prefix = "loss_at/";
  // Keyed by (domain/kind, timestep) so that 1000 sorts after 900.
  std::map<std::pair<std::string, double>, std::string> ordered;
  for (const std::string& m : metrics) {
    if (m.rfind(prefix, 0) != 0) continue;
    const size_t slash = m.rfind('/');
    if (slash < prefix.size()) continue;
    try {
      ordered[{m.substr(prefix.size(), slash - prefix.size()), std::stod(m.substr(slash + 1))}] = m;
    } catch (const std::exception&) {
      continue;  // not a timestep: not one of the evaluator's keys
    }
  }
  std::vector<Column> cols;
  for (const auto& [key, m] : ordered) {
    cols.push_back({m, fmt::format("{} t={}", key.first, m.substr(m.rfind('/') + 1)), 4});
  }
  return cols;
}

std::vector<std::string> Warnings(const std::vector<RunResults>& runs) {
  std::vector<std::string> warnings;
  std::set<std::string> seen;
  for (const RunResults& r : runs) {
    for (const auto& [stage, evaluation] : Field(r.results, "evaluations").items()) {
      for (const json& note : evaluation.value("notes", json::array())) {
        if (note.is_string() && seen.insert(note.get<std::string>()).second) {
          warnings.push_back(note.get<std::string>());
        }
      }
    }
  }
  return warnings;
}

std::vector<TextTable> PromptKindTables(const json& rows) {
  const std::vector<std::pair<std::string, std::string>> kinds = {
      {"short", "short prompts"},
      {"rewritten", "short prompts, rewritten"},
      {"detailed", "detailed prompts"}};
  std::set<std::string> domains;
  for (const json& row : rows) {
    for (const auto& [k, v] : row["metrics"].items()) {
      if (k.rfind("acc/", 0) == 0 && k.size() > 5 && k.substr(k.size() - 5) == "/mean") {
        domains.insert(k.substr(4, k.find('/', 4) - 4));
      }
    }
  }
  const Column cell{"", "", 3};
  std::vector<TextTable> tables;
  for (const std::string& domain : domains) {
    TextTable t;
    t.title = fmt::format("Attribute accuracy by prompt kind ({})", domain);
    t.header.push_back("Prompts");
    for (const json& row : rows) t.header.push_back(row["variant"].get<std::string>());
    for (const auto& [kind, label] : kinds) {
      const std::string metric = fmt::format("acc/{}/{}/mean", domain, kind);
      std::vector<std::string> cells = {label};
      bool any = false;
      for (const json& row : rows) {
        json stat = row["metrics"].value(metric, json());
        any = any || !stat.is_null();
        cells.push_back(FormatStat(stat, cell));
      }
      if (any) t.rows.push_back(std::move(cells));
    }
    if (t.rows.size() >= 2) tables.push_back(std::move(t));
  }
  return tables;
}

std::vector<TextTable> SymmetryTables(const std::vector<RunResults>& runs) {
  struct Counts {
    std::map<std::string, std::vector<double>> values;
    std::map<std::string, int64_t> totals;
  };
  std::vector<std::string> order;
  std::map<std::string, Counts> by_row;
  for (const RunResults& r : runs) {
    for (const auto& [stage, where] : r.stages.items()) {
      if (!where.is_object() || !where.contains("dir")) continue;
      const std::filesystem::path file = r.dir / where["dir"].get<std::string>() / "stage.json";
      std::error_code ec;
      if (!std::filesystem::exists(file, ec)) continue;
      const json info = json::parse(ReadFile(file), nullptr, false);
      if (!info.is_object() || !info.contains("symmetry")) continue;
      const json& sym = info["symmetry"];
      const std::string row = r.variant + " [" + stage + "]";
      if (!by_row.count(row)) order.push_back(row);
      Counts& c = by_row[row];
      for (const std::string unit : {"mlp", "heads", "blocks"}) {
        const std::string near = unit + "_near_identical";
        const std::string total = unit == "mlp" ? "mlp_units" : unit;
        for (const char* when : {"start", "end"}) {
          c.values[unit + "/" + when].push_back(Field(sym, when).value(near, 0.0));
        }
        c.totals[unit] = Field(sym, "end").value(total, int64_t{0});
      }
    }
  }
  TextTable t;
  t.title = "Symmetry breaking: units that are near-copies of another (cosine >= 0.999)";
  t.header = {"Variant [training stage]", "MLP units: start → end", "Heads: start → end",
              "Blocks: start → end"};
  for (const std::string& row : order) {
    Counts& c = by_row[row];
    double began = 0;
    for (const char* unit : {"mlp", "heads", "blocks"})
      began += Aggregate(c.values[std::string(unit) + "/start"]).mean;
    if (began == 0) continue;
    std::vector<std::string> cells = {row};
    for (const char* unit : {"mlp", "heads", "blocks"}) {
      cells.push_back(fmt::format(
          "{:.0f} → {:.0f} of {}", Aggregate(c.values[std::string(unit) + "/start"]).mean,
          Aggregate(c.values[std::string(unit) + "/end"]).mean, c.totals[unit]));
    }
    t.rows.push_back(std::move(cells));
  }
  if (t.rows.empty()) return {};
  return {t};
}

namespace {

TrainingCurve CurveOf(const RunResults& r) {
  // Training stages in the run's order (stages.json records it: its keys come back sorted).
  std::vector<std::pair<int64_t, fs::path>> stages;
  for (const auto& [stage, where] : r.stages.items()) {
    if (!where.is_object() || !where.contains("dir")) continue;
    const fs::path dir = r.dir / where["dir"].get<std::string>();
    std::error_code ec;
    if (!fs::exists(dir / "stage.json", ec) || !fs::exists(dir / "metrics.jsonl", ec)) continue;
    const json info = json::parse(ReadFile(dir / "stage.json"), nullptr, false);
    if (!info.is_object() || !info.contains("flops")) continue;
    // Folders written before "order" existed: pre-training first.
    const int64_t fallback = info.value("kind", "") == "pretrain" ? -2 : -1;
    stages.emplace_back(where.value("order", fallback), dir);
  }
  std::sort(stages.begin(), stages.end());
  TrainingCurve curve;
  for (const auto& [order, dir] : stages) {
    const json info = json::parse(ReadFile(dir / "stage.json"), nullptr, false);
    curve.flops_before = curve.total;
    curve.points.clear();
    std::istringstream lines(ReadFile(dir / "metrics.jsonl"));
    std::string line;
    while (std::getline(lines, line)) {
      const json j = json::parse(line, nullptr, false);
      if (j.is_object() && j.contains("flops") && j.contains("loss"))
        curve.points.emplace_back(j["flops"].get<double>(), j["loss"].get<double>());
    }
    curve.total += info["flops"].value("total", 0.0);
  }
  return curve;
}

// The mean of the `smooth` points ending at each point.
std::vector<double> Smoothed(const std::vector<std::pair<double, double>>& points, int64_t smooth) {
  std::vector<double> out;
  double sum = 0;
  for (size_t i = 0; i < points.size(); ++i) {
    sum += points[i].second;
    if (i >= static_cast<size_t>(smooth)) sum -= points[i - smooth].second;
    out.push_back(sum / static_cast<double>(std::min<size_t>(i + 1, smooth)));
  }
  return out;
}

}  // namespace

bool IsComputeReference(const RunResults& run, const std::string& reference) {
  if (reference.empty()) return false;
  if (run.variant == reference) return true;
  for (const auto& [axis, label] : run.axes) {
    if (label == reference) return true;
  }
  return false;
}

std::map<std::string, TrainingCurve> TrainingCurves(const std::vector<RunResults>& runs,
                                                    const ComputeSpec& spec) {
  std::map<std::string, TrainingCurve> curves;
  if (spec.reference.empty() && spec.target_loss <= 0) return curves;
  for (const RunResults& r : runs) curves[r.id] = CurveOf(r);
  return curves;
}

double FinalTrainingLoss(const TrainingCurve& curve, int64_t smooth) {
  const std::vector<double> smoothed = Smoothed(curve.points, smooth);
  return smoothed.empty() ? std::numeric_limits<double>::quiet_NaN() : smoothed.back();
}

std::vector<TextTable> ComputeTables(const std::vector<RunResults>& runs,
                                     const std::map<std::string, TrainingCurve>& curves,
                                     const ComputeSpec& spec) {
  if (spec.reference.empty() && spec.target_loss <= 0) return {};
  std::vector<double> reference_final;
  for (const RunResults& r : runs) {
    const double final_loss = FinalTrainingLoss(curves.at(r.id), spec.smooth);
    if (IsComputeReference(r, spec.reference) && !std::isnan(final_loss))
      reference_final.push_back(final_loss);
  }
  double target = spec.target_loss;
  if (target <= 0) {
    if (reference_final.empty()) return {};
    target = Aggregate(reference_final).mean;
  }
  // variant -> per run: total, final loss, flops to target (NaN: not reached)
  std::vector<std::string> order;
  std::map<std::string, std::vector<std::tuple<double, double, double>>> rows;
  std::vector<double> reference_to_target;
  for (const RunResults& r : runs) {
    const TrainingCurve& c = curves.at(r.id);
    if (c.points.empty()) continue;
    const std::vector<double> smooth = Smoothed(c.points, spec.smooth);
    double reached = std::numeric_limits<double>::quiet_NaN();
    // Only full windows: a mean of the first point or two is one lucky batch, not a loss.
    for (size_t i = static_cast<size_t>(spec.smooth) - 1; i < smooth.size(); ++i) {
      if (smooth[i] <= target) {
        reached = c.flops_before + c.points[i].first;
        break;
      }
    }
    if (!rows.count(r.variant)) order.push_back(r.variant);
    rows[r.variant].emplace_back(c.total, smooth.back(), reached);
    if (IsComputeReference(r, spec.reference) && !std::isnan(reached))
      reference_to_target.push_back(reached);
  }
  const double reference_flops =
      reference_to_target.empty() ? 0 : Aggregate(reference_to_target).mean;
  TextTable t;
  t.title = fmt::format("Compute to reach {} (training loss {:.4f}, mean of the last {} logged)",
                        spec.target_loss > 0 ? "the target loss" : "the reference's final loss",
                        target, spec.smooth);
  t.header = {"Variant", "Training FLOPs", "Final loss", "FLOPs to target", "Saving"};
  for (const std::string& variant : order) {
    std::vector<double> totals, finals, reached;
    int missed = 0;
    for (const auto& [total, final_loss, to_target] : rows[variant]) {
      totals.push_back(total);
      finals.push_back(final_loss);
      if (std::isnan(to_target)) {
        ++missed;
      } else {
        reached.push_back(to_target);
      }
    }
    std::string to_target = "not reached";
    std::string saving = "—";
    if (!reached.empty()) {
      const double mean = Aggregate(reached).mean;
      to_target = fmt::format("{:.3g}", mean);
      if (missed > 0)
        to_target += fmt::format(" ({} of {} runs)", reached.size(), rows[variant].size());
      if (reference_flops > 0) saving = fmt::format("{:+.1f}%", 100 * (1 - mean / reference_flops));
    }
    const Stat loss = Aggregate(finals);
    t.rows.push_back({variant, fmt::format("{:.3g}", Aggregate(totals).mean),
                      fmt::format("{:.4f} ± {:.4f}", loss.mean, loss.std), to_target, saving});
  }
  if (t.rows.empty()) return {};
  return {t};
}

}  // namespace report

nlohmann::json ReportRows(const std::filesystem::path& out) {
  using namespace report;
  using json = nlohmann::json;
  std::vector<RunResults> runs = LoadRuns(out);
  // variant -> metric -> values (one per run); the base model once per seed.
  std::map<std::string, std::map<std::string, std::vector<double>>> values;
  std::map<std::string, std::vector<std::string>> members;
  std::set<std::string> base_seeds;
  std::vector<std::string> order;
  for (const RunResults& r : runs) {
    for (const auto& [stage, evaluation] : Field(r.results, "evaluations").items()) {
      if (!evaluation.is_object()) continue;
      std::string variant = r.variant;
      if (r.results["evaluations"].size() > 1) variant += " [" + stage + "]";
      if (!members.count(variant)) order.push_back(variant);
      members[variant].push_back(r.id);
      for (const auto& [k, v] : Flatten(evaluation)) values[variant][k].push_back(v);
      if (evaluation.contains("baseline") && base_seeds.insert(stage + "/" + r.seed).second) {
        if (!members.count(kBaseVariant)) order.insert(order.begin(), kBaseVariant);
        members[kBaseVariant].push_back("seed=" + r.seed);
        for (const auto& [k, v] : Flatten(evaluation["baseline"])) {
          if (k.rfind("forgetting", 0) != 0) values[kBaseVariant][k].push_back(v);
        }
      }
    }
  }
  json rows = json::array();
  for (const std::string& variant : order) {
    json metrics = json::object();
    for (const auto& [k, v] : values[variant]) {
      Stat s = Aggregate(v);
      metrics[k] = {{"mean", s.mean}, {"std", s.std}, {"n", s.n}};
    }
    rows.push_back({{"variant", variant}, {"runs", members[variant]}, {"metrics", metrics}});
  }
  return rows;
}

}  // namespace modelgrow
