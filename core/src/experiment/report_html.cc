#include "report_html.h"

#include <fstream>
#include <map>
#include <set>

#include <fmt/format.h>

#include "modelgrow/base/provenance.h"
#include "modelgrow/sdk/atomic_file.h"
#include "paired_comparisons.h"

namespace modelgrow::report {

namespace fs = std::filesystem;

namespace {

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

std::string HtmlTable(const TextTable& t) {
  std::string html = "<table><tr>";
  for (const std::string& h : t.header) html += "<th>" + Escape(h) + "</th>";
  html += "</tr>\n";
  for (const auto& row : t.rows) {
    html += "<tr>";
    for (const std::string& cell : row) html += "<td>" + Escape(cell) + "</td>";
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

std::string RenderHtml(const std::string& name, const std::vector<RunResults>& runs,
                       const json& rows, const std::vector<Column>& main,
                       const std::vector<Column>& categories,
                       const std::vector<Column>& by_timestep,
                       const std::vector<TextTable>& compute_tables,
                       const std::vector<TextTable>& findings,
                       const std::vector<std::string>& warnings) {
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
  if (rows.empty())
    html += "<p>" + Escape(kNoEvaluationNote) + "</p>";
  else
    html += "<h2>Results</h2>" + HtmlTable(rows, main);
  if (!findings.empty()) html += "<p>" + Escape(kFindingsNote) + "</p>";
  for (const TextTable& t : findings) {
    html += "<h2>" + Escape(t.title) + "</h2>" + HtmlTable(t);
  }
  for (const std::string& w : warnings) {
    html += "<p style=\"color:#a04000\">Warning: " + Escape(w) + "</p>";
  }
  if (!categories.empty())
    html += "<h2>" + Escape(kCategoryTitle) + "</h2>" + HtmlTable(rows, categories);
  if (!by_timestep.empty())
    html += "<h2>" + Escape(kTimestepLossTitle) + "</h2>" + HtmlTable(rows, by_timestep);
  for (const TextTable& t : PromptKindTables(rows)) {
    html += "<h2>" + Escape(t.title) + "</h2>" + HtmlTable(t);
  }
  for (const TextTable& t : compute_tables) {
    html += "<h2>" + Escape(t.title) + "</h2>" + HtmlTable(t);
  }
  for (const TextTable& t : SymmetryTables(runs)) {
    html += "<h2>" + Escape(t.title) + "</h2>" + HtmlTable(t);
  }

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
  return html;
}

}  // namespace modelgrow::report
