// The report's findings: for each sweep axis, every value against the axis's references (its first
// value unless the manifest names others), paired by seed and by the other axes' values, with a 95%
// confidence interval from Student's t over the paired differences and a one-word verdict. Seeds
// share data order and initialisation across a pair, so the paired difference is far less noisy
// than comparing the two rows' means and standard deviations.
//
// Private to core/src/experiment (report.cc and report_html.cc render it).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "report_data.h"

namespace modelgrow::report {

// What the findings tables mean, printed above them.
inline constexpr const char* kFindingsNote =
    "Findings pair runs that share a seed and every other axis's value. A difference is the "
    "value's number minus the reference's (negative is better for loss, forgetting and FD, "
    "positive for accuracy), with a 95% confidence interval from Student's t over the seeds; a "
    "finding holds when the interval excludes zero in the value's favour. A difference that is "
    "the same in every seed (an accuracy can be, over a few dozen videos) has no spread for "
    "Student's t and is tested by the sign test, which needs 6 seeds. comparisons.csv has every "
    "metric of every comparison.";

// Whether a smaller number of `metric` is better (losses, forgetting, Fréchet distance) or a larger
// one (attribute accuracy); nullopt for numbers that only describe a run (sizes, time).
std::optional<bool> LowerIsBetter(const std::string& metric);

// A comparison of two values of an axis (axis, value, reference) or, for a contrast, of two
// metrics of the same runs (axis "", value and reference the two metrics, context the variant).
struct PairedComparison {
  std::string axis, value, reference;
  std::string context;  // the other axes' labels the pair shares ("captions=detailed"), or ""
  std::string stage;    // the evaluation stage
  std::string metric;   // a Flatten() key
  int seeds = 0;
  double mean = 0, std = 0, half_width = 0;  // of value - reference; 95% CI = mean ± half_width
  std::string finding;  // "holds", "reversed", "not resolved", "no spread", "one seed"
};

// Every comparison the runs allow, in the manifest's axis, reference and value order. Each axis's
// values are compared against each of its `references` (axis -> labels; absent: the axis's first
// value); a value that is an earlier reference is not compared again the other way round.
std::vector<PairedComparison> PairedComparisons(
    const std::vector<RunResults>& runs,
    const std::map<std::string, std::vector<std::string>>& references = {});

// The growth zoo's claim, with [experiment.compute] naming a reference: every other variant's final
// training loss (FinalTrainingLoss, metric kFinalTrainingLoss, stage "training") minus the
// reference's, paired by seed and by the labels of the axes the reference's label is not on. At
// the equal compute such a sweep gives every row, this is what growing buys.
inline constexpr const char* kFinalTrainingLoss = "train/final_loss";
std::vector<PairedComparison> ComputeComparisons(const std::vector<RunResults>& runs,
                                                 const std::map<std::string, TrainingCurve>& curves,
                                                 const ComputeSpec& spec);

// The headline comparisons (the main table's metrics, then `metrics`) as tables, one per axis,
// reference and evaluation stage; comparisons.csv has them all.
std::vector<TextTable> PairedComparisonTables(const std::vector<PairedComparison>& comparisons,
                                              const std::vector<std::string>& metrics = {});

// Each contrast within every variant's runs: the contrast's metric minus the metric it is
// against, paired by seed, per evaluation stage.
std::vector<PairedComparison> MetricContrasts(const std::vector<RunResults>& runs,
                                              const std::vector<FindingsSpec::Contrast>& contrasts);
// One table per contrast and evaluation stage.
std::vector<TextTable> MetricContrastTables(const std::vector<PairedComparison>& contrasts);

// Every comparison, one CSV row each.
std::string PairedComparisonsCsv(const std::vector<PairedComparison>& comparisons);

// The two-sided 95% quantile of Student's t with `df` degrees of freedom (df >= 1).
double StudentT975(int df);

}  // namespace modelgrow::report
