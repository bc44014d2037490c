#include "paired_comparisons.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

namespace modelgrow::report {

namespace {

// What the main table shows: loss and forgetting per domain, mean accuracy, Fréchet distance.
bool IsHeadline(const std::string& metric) {
  if (metric.rfind("table/", 0) == 0 || metric.rfind("fd/", 0) == 0) return true;
  if (metric == kFinalTrainingLoss) return true;
  return metric.rfind("acc/", 0) == 0 && metric.size() > 5 &&
         metric.compare(metric.size() - 5, 5, "/mean") == 0;
}

std::string LabelOf(const RunResults& run, const std::string& axis) {
  for (const auto& [a, label] : run.axes) {
    if (a == axis) return label;
  }
  return "";
}

std::string ContextOf(const RunResults& run, const std::string& axis) {
  std::string context;
  for (const auto& [a, label] : run.axes) {
    if (a != axis) context += (context.empty() ? "" : ", ") + a + "=" + label;
  }
  return context;
}

std::string Finding(const Stat& s, double half_width, bool lower_is_better) {
  if (s.n < 2) return "one seed";
  // An accuracy over a few dozen videos moves in steps, so every seed can differ by exactly one
  // video. Student's interval then has zero width and would call that certain; the sign test,
  // which only counts seeds, needs 6 of 6 in one direction for p < 0.05 (two-sided: 2 / 2^6).
  if (s.n < 6 && s.mean != 0 && s.std <= 1e-12 * std::max(1.0, std::abs(s.mean))) {
    return "no spread";
  }
  const double low = s.mean - half_width, high = s.mean + half_width;
  const bool better = lower_is_better ? high < 0 : low > 0;
  const bool worse = lower_is_better ? low > 0 : high < 0;
  return better ? "holds" : worse ? "reversed" : "not resolved";
}

std::string Sentence(const PairedComparison& c) {
  if (c.finding == "holds") return "holds: " + c.value + " is better";
  if (c.finding == "reversed") return "reversed: " + c.reference + " is better";
  if (c.finding == "one seed") return "one seed: no test (run 3 or more)";
  if (c.finding == "no spread") {
    return fmt::format(
        "not resolved: the same difference in all {} seeds, too few for the sign "
        "test (6)",
        c.seeds);
  }
  return "not resolved at this budget";
}

std::string CsvField(const std::string& text) {
  std::string quoted = "\"";
  for (char ch : text) quoted += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return quoted + "\"";
}

}  // namespace

// Other numbers (sizes, time, the classifier's ceiling) describe a run; they are not findings.
std::optional<bool> LowerIsBetter(const std::string& metric) {
  for (const char* prefix :
       {"loss/", "loss_at/", "forgetting/", "table/loss/", "table/forgetting/", "fd/", "train/"}) {
    if (metric.rfind(prefix, 0) == 0) return true;
  }
  if (metric.rfind("acc/", 0) == 0) return false;
  return std::nullopt;
}

double StudentT975(int df) {
  static constexpr double kTable[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306,
                                      2.262,  2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120,
                                      2.110,  2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
                                      2.060,  2.056, 2.052, 2.048, 2.045, 2.042};
  if (df < 1) throw std::invalid_argument(fmt::format("StudentT975: df {} < 1", df));
  if (df <= 30) return kTable[df - 1];
  // Cornish-Fisher expansion around the normal quantile: within 1e-3 of the exact value past 30.
  const double z = 1.959964, n = df;
  return z + (z * z * z + z) / (4 * n) +
         (5 * std::pow(z, 5) + 16 * z * z * z + 3 * z) / (96 * n * n);
}

namespace {

// A run's evaluations flattened: stage -> metric -> value.
using FlatResults = std::map<std::string, std::map<std::string, double>>;
// (context, seed) -> label -> run, for one axis.
using Cells =
    std::map<std::pair<std::string, std::string>, std::map<std::string, const RunResults*>>;

// `c` with the statistics of its per-seed differences filled in.
PairedComparison Summarise(PairedComparison c, const std::vector<double>& differences) {
  const Stat s = Aggregate(differences);
  c.seeds = s.n;
  c.mean = s.mean;
  c.std = s.std;
  c.half_width = s.n > 1 ? StudentT975(s.n - 1) * s.std / std::sqrt(s.n) : 0;
  c.finding = Finding(s, c.half_width, *LowerIsBetter(c.metric));
  return c;
}

// How the findings print a difference of `metric`: as the main table does, else by its kind.
std::pair<std::string, int> TitleAndDigits(const std::string& metric) {
  if (metric == kFinalTrainingLoss) return {"Final training loss", 4};
  const std::vector<Column> columns = MainColumns({metric});
  if (!columns.empty() && IsHeadline(metric)) {
    return {columns[0].title, columns[0].digits < 0 ? 4 : columns[0].digits};
  }
  const int digits = metric.rfind("acc/", 0) == 0 ? 3 : metric.rfind("fd/", 0) == 0 ? 2 : 4;
  return {metric, digits};
}

std::string Difference(const PairedComparison& c, int digits) {
  std::string difference = fmt::format("{:+.{}f}", c.mean, digits);
  if (c.seeds > 1) {
    difference += fmt::format(" [{:+.{}f}, {:+.{}f}]", c.mean - c.half_width, digits,
                              c.mean + c.half_width, digits);
  }
  return difference;
}

// `value` against `reference` on one axis, within one context: one comparison per evaluation
// stage and metric, over the seeds where both ran.
void Compare(const std::string& axis, const std::string& value, const std::string& reference,
             const std::string& context, const Cells& cells,
             std::map<const RunResults*, FlatResults>& flat, std::vector<PairedComparison>& out) {
  // stage -> metric -> one difference per seed
  std::map<std::string, std::map<std::string, std::vector<double>>> differences;
  for (const auto& [key, by_label] : cells) {
    if (key.first != context) continue;
    auto reference_run = by_label.find(reference), value_run = by_label.find(value);
    if (reference_run == by_label.end() || value_run == by_label.end()) continue;
    const FlatResults& reference_stages = flat[reference_run->second];
    for (const auto& [stage, b] : flat[value_run->second]) {
      auto paired = reference_stages.find(stage);
      if (paired == reference_stages.end()) continue;
      const std::map<std::string, double>& a = paired->second;
      for (const auto& [metric, number] : b) {
        auto it = a.find(metric);
        if (it != a.end() && LowerIsBetter(metric))
          differences[stage][metric].push_back(number - it->second);
      }
    }
  }
  for (const auto& [stage, by_metric] : differences) {
    // Headline metrics in the main table's column order, then the rest by name.
    std::set<std::string> names;
    for (const auto& [metric, d] : by_metric) names.insert(metric);
    std::vector<std::string> ordered;
    for (const Column& column : MainColumns(names)) {
      if (IsHeadline(column.metric)) ordered.push_back(column.metric);
    }
    for (const std::string& metric : names) {
      if (!IsHeadline(metric)) ordered.push_back(metric);
    }
    for (const std::string& metric : ordered) {
      out.push_back(
          Summarise({axis, value, reference, context, stage, metric}, by_metric.at(metric)));
    }
  }
}

}  // namespace

std::vector<PairedComparison> PairedComparisons(
    const std::vector<RunResults>& runs,
    const std::map<std::string, std::vector<std::string>>& references) {
  // Axes and their values in the manifest's order (runs come in run order).
  std::vector<std::string> axes;
  std::map<std::string, std::vector<std::string>> values;
  for (const RunResults& r : runs) {
    for (const auto& [axis, label] : r.axes) {
      if (!values.count(axis)) axes.push_back(axis);
      std::vector<std::string>& v = values[axis];
      if (std::find(v.begin(), v.end(), label) == v.end()) v.push_back(label);
    }
  }
  // Each run's evaluations flattened once: a run is the reference of every other value.
  std::map<const RunResults*, FlatResults> flat;
  for (const RunResults& r : runs) {
    for (const auto& [stage, evaluation] : Field(r.results, "evaluations").items()) {
      if (evaluation.is_object()) flat[&r][stage] = Flatten(evaluation);
    }
  }
  std::vector<PairedComparison> out;
  for (const std::string& axis : axes) {
    const std::vector<std::string>& labels = values[axis];
    if (labels.size() < 2) continue;
    Cells cells;
    std::vector<std::string> contexts;
    for (const RunResults& r : runs) {
      const std::string context = ContextOf(r, axis);
      if (std::find(contexts.begin(), contexts.end(), context) == contexts.end())
        contexts.push_back(context);
      cells[{context, r.seed}][LabelOf(r, axis)] = &r;
    }
    auto named = references.find(axis);
    const std::vector<std::string> axis_references =
        named != references.end() && !named->second.empty() ? named->second
                                                            : std::vector<std::string>{labels[0]};
    for (auto reference = axis_references.begin(); reference != axis_references.end();
         ++reference) {
      for (const std::string& value : labels) {
        // Not against itself, nor against an earlier reference: that pair is already there.
        if (std::find(axis_references.begin(), reference + 1, value) != reference + 1) continue;
        for (const std::string& context : contexts) {
          Compare(axis, value, *reference, context, cells, flat, out);
        }
      }
    }
  }
  return out;
}

std::vector<PairedComparison> ComputeComparisons(const std::vector<RunResults>& runs,
                                                 const std::map<std::string, TrainingCurve>& curves,
                                                 const ComputeSpec& spec) {
  if (spec.reference.empty()) return {};
  // The axis the reference is a label of; none when the reference names a whole variant.
  std::string axis;
  for (const RunResults& r : runs) {
    for (const auto& [a, label] : r.axes) {
      if (label == spec.reference) axis = a;
    }
  }
  // A run pairs with the reference run of its seed and of its labels on every other axis.
  auto pair_key = [&](const RunResults& r) {
    return std::pair(r.seed, axis.empty() ? std::string() : ContextOf(r, axis));
  };
  std::map<std::pair<std::string, std::string>, double> reference_loss;
  for (const RunResults& r : runs) {
    if (IsComputeReference(r, spec.reference))
      reference_loss[pair_key(r)] = FinalTrainingLoss(curves.at(r.id), spec.smooth);
  }
  // (value, context) in run order -> one difference per seed
  std::vector<std::pair<std::string, std::string>> order;
  std::map<std::pair<std::string, std::string>, std::vector<double>> differences;
  for (const RunResults& r : runs) {
    if (IsComputeReference(r, spec.reference)) continue;
    auto reference = reference_loss.find(pair_key(r));
    const double loss = FinalTrainingLoss(curves.at(r.id), spec.smooth);
    if (reference == reference_loss.end() || std::isnan(loss) || std::isnan(reference->second))
      continue;
    const std::pair cell = axis.empty() ? std::pair(r.variant, std::string())
                                        : std::pair(LabelOf(r, axis), ContextOf(r, axis));
    if (!differences.count(cell)) order.push_back(cell);
    differences[cell].push_back(loss - reference->second);
  }
  std::vector<PairedComparison> out;
  for (const auto& [value, context] : order) {
    out.push_back(Summarise({axis.empty() ? "variant" : axis, value, spec.reference, context,
                             "training", kFinalTrainingLoss},
                            differences.at({value, context})));
  }
  return out;
}

std::vector<TextTable> PairedComparisonTables(const std::vector<PairedComparison>& comparisons,
                                              const std::vector<std::string>& metrics) {
  auto shown = [&](const std::string& metric) {
    return IsHeadline(metric) || std::find(metrics.begin(), metrics.end(), metric) != metrics.end();
  };
  // (axis, reference), in first-seen order
  std::vector<std::pair<std::string, std::string>> order;
  std::map<std::string, std::set<std::string>> stages_of;  // axis -> evaluation stages
  for (const PairedComparison& c : comparisons) {
    if (c.axis.empty()) continue;  // a contrast
    if (std::find(order.begin(), order.end(), std::pair(c.axis, c.reference)) == order.end())
      order.emplace_back(c.axis, c.reference);
    stages_of[c.axis].insert(c.stage);
  }
  std::vector<TextTable> tables;
  for (const auto& [axis, reference] : order) {
    for (const std::string& stage : stages_of[axis]) {
      TextTable t;
      t.header = {"Comparison", "Metric", "Seeds", "Difference [95% CI]", "Finding"};
      t.title = fmt::format("Findings: {} against {}, paired by seed", axis, reference);
      if (stages_of[axis].size() > 1) t.title += " [" + stage + "]";
      for (const PairedComparison& c : comparisons) {
        if (c.axis != axis || c.reference != reference || c.stage != stage || !shown(c.metric))
          continue;
        const auto [title, digits] = TitleAndDigits(c.metric);
        t.rows.push_back(
            {c.value + " − " + c.reference + (c.context.empty() ? "" : " (" + c.context + ")"),
             title, std::to_string(c.seeds), Difference(c, digits), Sentence(c)});
      }
      if (!t.rows.empty()) tables.push_back(std::move(t));
    }
  }
  return tables;
}

std::vector<PairedComparison> MetricContrasts(
    const std::vector<RunResults>& runs, const std::vector<FindingsSpec::Contrast>& contrasts) {
  std::vector<std::string> variants;  // in run order
  // variant -> stage -> contrast -> one difference per seed
  std::map<std::string, std::map<std::string, std::map<size_t, std::vector<double>>>> differences;
  for (const RunResults& r : runs) {
    if (std::find(variants.begin(), variants.end(), r.variant) == variants.end())
      variants.push_back(r.variant);
    for (const auto& [stage, evaluation] : Field(r.results, "evaluations").items()) {
      if (!evaluation.is_object()) continue;
      const std::map<std::string, double> flat = Flatten(evaluation);
      for (size_t i = 0; i < contrasts.size(); ++i) {
        auto metric = flat.find(contrasts[i].metric), against = flat.find(contrasts[i].against);
        if (metric == flat.end() || against == flat.end()) continue;
        differences[r.variant][stage][i].push_back(metric->second - against->second);
      }
    }
  }
  std::vector<PairedComparison> out;
  for (size_t i = 0; i < contrasts.size(); ++i) {
    for (const std::string& variant : variants) {
      for (const auto& [stage, by_contrast] : differences[variant]) {
        auto d = by_contrast.find(i);
        if (d == by_contrast.end()) continue;
        out.push_back(Summarise(
            {"", contrasts[i].metric, contrasts[i].against, variant, stage, contrasts[i].metric},
            d->second));
      }
    }
  }
  return out;
}

std::vector<TextTable> MetricContrastTables(const std::vector<PairedComparison>& contrasts) {
  std::vector<std::pair<std::string, std::string>> order;  // (value − reference, stage)
  std::set<std::string> stages;
  for (const PairedComparison& c : contrasts) {
    if (!c.axis.empty()) continue;  // an axis's comparison
    const std::pair key(c.value + " − " + c.reference, c.stage);
    if (std::find(order.begin(), order.end(), key) == order.end()) order.push_back(key);
    stages.insert(c.stage);
  }
  std::vector<TextTable> tables;
  for (const auto& [difference, stage] : order) {
    TextTable t;
    t.header = {"Variant", "Seeds", "Difference [95% CI]", "Finding"};
    t.title = fmt::format("Findings: {}, paired by seed within each variant", difference);
    if (stages.size() > 1) t.title += " [" + stage + "]";
    for (const PairedComparison& c : contrasts) {
      if (!c.axis.empty() || c.value + " − " + c.reference != difference || c.stage != stage)
        continue;
      t.rows.push_back({c.context, std::to_string(c.seeds),
                        Difference(c, TitleAndDigits(c.metric).second), Sentence(c)});
    }
    tables.push_back(std::move(t));
  }
  return tables;
}

std::string PairedComparisonsCsv(const std::vector<PairedComparison>& comparisons) {
  std::string csv =
      "axis,value,reference,context,stage,metric,seeds,mean_difference,std_difference,"
      "ci95_low,ci95_high,lower_is_better,finding\n";
  for (const PairedComparison& c : comparisons) {
    csv += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{}\n", CsvField(c.axis),
                       CsvField(c.value), CsvField(c.reference), CsvField(c.context),
                       CsvField(c.stage), CsvField(c.metric), c.seeds, c.mean, c.std,
                       c.mean - c.half_width, c.mean + c.half_width,
                       *LowerIsBetter(c.metric) ? "true" : "false", CsvField(c.finding));
  }
  return csv;
}

}  // namespace modelgrow::report
