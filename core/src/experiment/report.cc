#include "modelgrow/experiment/report.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "modelgrow/base/errors.h"
#include "modelgrow/base/provenance.h"
#include "modelgrow/io/atomic_file.h"

namespace modelgrow {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr const char* kBaseVariant = "base model";

// j[key], or an empty object when absent. (Ranging over `j.value(key, {}).items()` would iterate
// a destroyed temporary.)
const json& Field(const json& j, const std::string& key) {
  static const json empty = json::object();
  auto it = j.find(key);
  return it == j.end() ? empty : *it;
}

struct RunResults {
  std::string id;
  std::string variant;  // labels without the seed
  size_t index = 0;     // position in the manifest's run order
  std::string seed;
  fs::path dir;
  json results;  // runs/<id>/results.json
  json stages;   // runs/<id>/stages.json
};

std::vector<RunResults> LoadRuns(const fs::path& out) {
  std::vector<RunResults> runs;
  std::error_code ec;
  if (!fs::is_directory(out / "runs", ec)) {
    throw InputError(
        fmt::format("{}: no runs/ folder (is this an experiment output folder?)", out.string()));
  }
  for (const auto& entry : fs::directory_iterator(out / "runs")) {
    fs::path file = entry.path() / "results.json";
    if (!fs::exists(file, ec)) continue;
    RunResults r;
    r.dir = entry.path();
    r.results = json::parse(ReadFile(file), nullptr, false);
    if (!r.results.is_object()) throw InputError(fmt::format("{}: not valid JSON", file.string()));
    r.stages = json::parse(ReadFile(entry.path() / "stages.json"), nullptr, false);
    r.id = r.results.value("run", entry.path().filename().string());
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
    auto parts = [&](const std::string& prefix) {
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

struct Stat {
  double mean = 0, std = 0;
  int n = 0;
};

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

struct Column {
  std::string metric;
  std::string title;
  int digits;
  double scale = 1;
};

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
  return cols;
}

std::vector<Column> CategoryColumns(const std::set<std::string>& metrics) {
  std::vector<Column> cols;
  for (const std::string& m : metrics) {
    if (m.rfind("acc/", 0) != 0 || m.find("/detailed/") == std::string::npos) continue;
    if (m.substr(m.size() - 5) == "/mean") continue;
    cols.push_back({m, m.substr(4), 3});
  }
  for (const std::string& m : metrics) {
    if (m.rfind("ceiling/", 0) == 0 && m.substr(m.size() - 5) != "/mean") cols.push_back({m, m, 3});
  }
  return cols;
}

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

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else if (c == '"')
      out += "&quot;";
    else
      out += c;
  }
  return out;
}

std::string HtmlTable(const json& rows, const std::vector<Column>& cols) {
  std::string html = "<table><tr><th>Variant</th><th>Runs</th>";
  for (const Column& c : cols) html += "<th>" + Escape(c.title) + "</th>";
  html += "</tr>\n";
  for (const json& row : rows) {
    html += fmt::format("<tr><td>{}</td><td>{}</td>", Escape(row["variant"].get<std::string>()),
                        row["runs"].size());
    for (const Column& c : cols)
      html += "<td>" + FormatStat(row["metrics"].value(c.metric, json()), c) + "</td>";
    html += "</tr>\n";
  }
  return html + "</table>\n";
}

std::string Base64(const std::string& bytes) {
  static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += table[(v >> s) & 63];
  }
  if (i < bytes.size()) {
    uint32_t v = uint8_t(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= uint8_t(bytes[i + 1]) << 8;
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? table[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string GifTag(const fs::path& file, const std::string& title) {
  std::error_code ec;
  if (!fs::exists(file, ec)) return "<td>–</td>";
  return fmt::format("<td><img src=\"data:image/gif;base64,{}\" title=\"{}\"></td>",
                     Base64(ReadFile(file)), Escape(title));
}

// One SVG line chart: training loss against step, a line per run.
std::string LossChart(
    const std::string& stage,
    const std::vector<std::pair<std::string, std::vector<std::pair<double, double>>>>& lines) {
  double max_x = 1, min_y = 1e30, max_y = -1e30;
  for (const auto& [name, points] : lines) {
    for (auto [x, y] : points) {
      max_x = std::max(max_x, x);
      min_y = std::min(min_y, y);
      max_y = std::max(max_y, y);
    }
  }
  if (min_y > max_y) return "";
  if (max_y - min_y < 1e-12) max_y = min_y + 1;
  const double w = 560, h = 260, left = 60, bottom = 30, top = 10, right = 10;
  static const char* colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                 "#9467bd", "#8c564b", "#e377c2", "#17becf"};
  std::string svg = fmt::format(
      "<figure><figcaption>{}: training loss</figcaption><svg width=\"{}\" height=\"{}\" "
      "xmlns=\"http://www.w3.org/2000/svg\" font-size=\"11\">",
      Escape(stage), w + 200, h);
  svg += fmt::format(
      "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#999\"/>", left,
      top, w - left - right, h - top - bottom);
  for (int i = 0; i <= 4; ++i) {
    double v = min_y + (max_y - min_y) * i / 4;
    double y = h - bottom - (h - top - bottom) * i / 4;
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:.3g}</text>", left - 4, y + 4,
                       v);
  }
  svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">step (max {:.0f})</text>",
                     (left + w) / 2, h - 8, max_x);
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string path;
    for (auto [x, y] : lines[i].second) {
      double px = left + (w - left - right) * x / max_x;
      double py = h - bottom - (h - top - bottom) * (y - min_y) / (max_y - min_y);
      path += fmt::format("{}{:.1f},{:.1f} ", path.empty() ? "M" : "L", px, py);
    }
    const char* color = colors[i % 8];
    svg += fmt::format("<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\"/>", path,
                       color);
    svg += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"{}\">{}</text>", w + 5, top + 14 * (i + 1),
                       color, Escape(lines[i].first));
  }
  return svg + "</svg></figure>\n";
}

std::vector<std::pair<double, double>> ReadCurve(const fs::path& file) {
  std::vector<std::pair<double, double>> points;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    json j = json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("step") && j.contains("loss")) {
      points.emplace_back(j["step"].get<double>(), j["loss"].get<double>());
    }
  }
  return points;
}

}  // namespace

json ReportRows(const fs::path& out) {
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

fs::path WriteReport(const fs::path& out) {
  json rows = ReportRows(out);
  std::vector<RunResults> runs = LoadRuns(out);
  std::set<std::string> metric_names;
  for (const json& row : rows) {
    for (const auto& [k, v] : row["metrics"].items()) metric_names.insert(k);
  }
  std::vector<Column> main = MainColumns(metric_names), categories = CategoryColumns(metric_names);
  std::string name = out.filename().string();
  fs::path dir = out / "report";
  fs::create_directories(dir);

  std::string md =
      fmt::format("# {}\n\n{} run(s); mean ± std over seeds. Generated {} by modelgrow.\n\n", name,
                  runs.size(), UtcTimestamp());
  md += MarkdownTable(rows, main);
  if (!categories.empty())
    md += "\n## Attribute accuracy (detailed prompts) and classifier ceiling\n\n" +
          MarkdownTable(rows, categories);
  md +=
      "\nLoss: held-out rectified-flow loss (lower is better); Forgetting: its rise over the base "
      "model; "
      "Acc: attribute accuracy of generated videos read back by the classifier; FD: Fréchet "
      "distance "
      "to real videos in the classifier's feature space; Preservation err: max relative output "
      "change "
      "right after growth.\n";
  WriteFileAtomic(dir / "report.md", md);

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
  WriteFileAtomic(dir / "report.csv", csv);

  // HTML: tables, loss curves, and video grids.
  std::string html = fmt::format(
      "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{0}</title><style>"
      "body{{font-family:sans-serif;margin:2em;}} table{{border-collapse:collapse;margin:1em 0;}} "
      "td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right;}} "
      "td:first-child{{text-align:left;}} "
      "img{{image-rendering:pixelated;}} .grid "
      "td{{text-align:center;vertical-align:top;font-size:11px;max-width:160px;}}"
      "</style></head><body><h1>{0}</h1><p>{1} run(s); mean ± std over seeds. {2}</p>",
      Escape(name), runs.size(), UtcTimestamp());
  html += "<h2>Results</h2>" + HtmlTable(rows, main);
  if (!categories.empty())
    html += "<h2>Attribute accuracy (detailed prompts)</h2>" + HtmlTable(rows, categories);

  // Curves: per training stage, one line per run.
  std::map<std::string, std::vector<std::pair<std::string, std::vector<std::pair<double, double>>>>>
      curves;
  std::set<std::string> plotted;
  for (const RunResults& r : runs) {
    for (const auto& [stage, evaluation] : Field(r.results, "evaluations").items()) {
      fs::path stage_dir = r.dir / r.stages.value(stage, json::object()).value("dir", "");
      for (const auto& [train_stage, file] : Field(evaluation, "curves").items()) {
        fs::path path = fs::weakly_canonical(stage_dir / file.get<std::string>());
        if (!plotted.insert(path.string()).second) continue;  // a shared stage is drawn once
        curves[train_stage].emplace_back(r.id, ReadCurve(path));
      }
    }
  }
  if (!curves.empty()) html += "<h2>Training loss</h2>";
  for (const auto& [stage, lines] : curves) html += LossChart(stage, lines);

  // Grids: per domain and prompt kind, a row per prompt: real, base model, then each variant
  // (its first run).
  std::vector<std::pair<std::string, const RunResults*>> first_run;  // in run order
  std::set<std::string> shown;
  for (const RunResults& r : runs) {
    if (shown.insert(r.variant).second) first_run.emplace_back(r.variant, &r);
  }
  std::map<std::string, std::vector<json>> by_group;  // "domain/kind" -> samples of the first run
  const RunResults* reference = runs.empty() ? nullptr : &runs[0];
  std::string eval_stage;
  if (reference) {
    for (const auto& [stage, evaluation] : Field(reference->results, "evaluations").items()) {
      eval_stage = stage;
      for (const json& s : evaluation.value("samples", json::array())) {
        by_group[s["domain"].get<std::string>() + " / " + s["kind"].get<std::string>()].push_back(
            s);
      }
      break;
    }
  }
  if (!by_group.empty()) html += "<h2>Generated vs real videos</h2>";
  for (const auto& [group, samples] : by_group) {
    html += "<h3>" + Escape(group) +
            " prompts</h3><table class=\"grid\"><tr><th>Prompt</th><th>Real</th>";
    const json& ref_eval = reference->results["evaluations"][eval_stage];
    bool has_base = ref_eval.contains("baseline");
    if (has_base) html += "<th>base model</th>";
    for (const auto& [variant, run] : first_run) html += "<th>" + Escape(variant) + "</th>";
    html += "</tr>";
    for (const json& s : samples) {
      fs::path ref_dir = reference->dir / reference->stages[eval_stage]["dir"].get<std::string>();
      html +=
          "<tr><td style=\"text-align:left\">" + Escape(s["prompt"].get<std::string>()) + "</td>";
      html += GifTag(ref_dir / "samples" / s["real"].get<std::string>(), "real");
      if (has_base) {
        fs::path base_samples = ref_dir / ref_eval["baseline"].value("samples_dir", "");
        html += GifTag(base_samples / ("base_" + s["generated"].get<std::string>()), "base model");
      }
      for (const auto& [variant, run] : first_run) {
        fs::path run_dir = run->dir / run->stages[eval_stage]["dir"].get<std::string>();
        html += GifTag(run_dir / "samples" / s["generated"].get<std::string>(), variant);
      }
      html += "</tr>";
    }
    html += "</table>";
  }
  html += "</body></html>\n";
  WriteFileAtomic(dir / "report.html", html);

  std::cout << "\n"
            << MarkdownTable(rows, main) << "\nReport: " << (dir / "report.html").string() << "\n";
  return dir;
}

}  // namespace modelgrow
