#include "modelgrow/experiment/sweep.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace modelgrow {

std::vector<std::string> SweepAxis::KeysSetByEveryValue() const {
  if (values.empty()) return {};
  std::vector<std::string> keys;
  for (const auto& [key, table] : values.front().sets) {
    bool everywhere = true;
    for (const SweepValue& v : values) {
      bool sets = false;
      for (const auto& [k, t] : v.sets) sets = sets || k == key;
      everywhere = everywhere && sets;
    }
    if (everywhere) keys.push_back(key);
  }
  return keys;
}

std::vector<std::string> SweepAxis::KeysSet() const {
  std::set<std::string> keys;
  for (const SweepValue& v : values) {
    for (const auto& [key, table] : v.sets) keys.insert(key);
  }
  return {keys.begin(), keys.end()};
}

std::vector<SweepAxis> ReadSweep(const Options& doc) {
  std::vector<SweepAxis> axes;
  Options sweep = doc.Table("sweep");
  std::vector<Options> axis_tables = sweep.TableArray("axis");
  for (size_t a_index = 0; a_index < axis_tables.size(); ++a_index) {
    const Options& axis = axis_tables[a_index];
    SweepAxis a;
    if (axis.Has("key")) {
      std::string key = axis.RequireString("key");
      a.name = axis.String("name", key);
      if (!doc.HasPath(key)) {
        axis.Fail("key",
                  fmt::format("'{}' is not a key of this manifest (a sweep can only vary keys "
                              "the manifest sets)",
                              key));
      }
      std::vector<Options> values = axis.ArrayElementsAsTables("values");
      axis.Accept("values");
      if (values.empty()) axis.Fail("values", "needs a non-empty array of values");
      std::vector<std::string> labels = axis.StringList("labels", {});
      if (!labels.empty() && labels.size() != values.size()) {
        axis.Fail("labels", fmt::format("{} labels for {} values", labels.size(), values.size()));
      }
      for (size_t i = 0; i < values.size(); ++i) {
        SweepValue v;
        v.label = i < labels.size() ? labels[i] : values[i].ValueText("v");
        v.sets.emplace_back(key, values[i]);
        v.origin = fmt::format("sweep.axis[{}].values[{}] ({})", a_index, i,
                               axis.Position("values").ToString());
        a.values.push_back(v);
      }
    } else {
      a.name = axis.RequireString("name");
      std::vector<Options> value_tables = axis.TableArray("value");
      for (size_t v_index = 0; v_index < value_tables.size(); ++v_index) {
        const Options& value = value_tables[v_index];
        SweepValue v;
        v.label = value.RequireString("label");
        v.origin = fmt::format("sweep.axis[{}].value[{}] ({})", a_index, v_index,
                               value.Position("set").ToString());
        Options set = value.Table("set");
        for (const std::string& key : set.Keys()) {
          set.Accept(key);
          if (!doc.HasPath(key)) {
            set.Fail(key, fmt::format("'{}' is not a key of this manifest", key));
          }
          v.sets.emplace_back(key, set.ValueAsTable(key));
        }
        value.RejectUnknownKeys();
        a.values.push_back(v);
      }
      if (a.values.empty()) axis.Fail("value", "needs [[sweep.axis.value]] entries (label, set)");
    }
    std::vector<std::string> labels;
    for (const SweepValue& v : a.values) labels.push_back(v.label);
    const std::vector<std::string> first(labels.begin(), labels.begin() + (labels.empty() ? 0 : 1));
    a.references = axis.StringOrList("references", first);
    if (a.references.empty() && !labels.empty()) {
      axis.Fail("references", "names no value (leave it out to compare against the first value)");
    }
    for (size_t r = 0; r < a.references.size(); ++r) {
      const std::string& reference = a.references[r];
      if (std::find(labels.begin(), labels.end(), reference) == labels.end()) {
        axis.Fail("references", fmt::format("'{}' is not a value of axis '{}' (its labels: {})",
                                            reference, a.name, fmt::join(labels, ", ")));
      }
      if (std::find(a.references.begin(), a.references.begin() + r, reference) !=
          a.references.begin() + r) {
        axis.Fail("references", fmt::format("'{}' is named twice", reference));
      }
    }
    axis.RejectUnknownKeys();
    axes.push_back(a);
  }
  sweep.RejectUnknownKeys();
  return axes;
}

std::vector<RunSpec> ExpandRuns(const Options& doc, const std::vector<SweepAxis>& axes,
                                const std::vector<uint64_t>& seeds) {
  std::vector<RunSpec> runs{RunSpec{}};
  runs[0].doc = doc.Clone();
  for (const SweepAxis& axis : axes) {
    std::vector<RunSpec> next;
    for (const RunSpec& run : runs) {
      for (const SweepValue& value : axis.values) {
        RunSpec r = run;
        r.doc = run.doc.Clone();
        for (const auto& [key, table] : value.sets) r.doc.SetFrom(key, table, "v", value.origin);
        r.labels.emplace_back(axis.name, value.label);
        next.push_back(std::move(r));
      }
    }
    runs = std::move(next);
  }
  std::vector<RunSpec> out;
  for (const RunSpec& run : runs) {
    for (uint64_t seed : seeds) {
      RunSpec r = run;
      r.doc = run.doc.Clone();
      r.seed = seed;
      r.labels.emplace_back("seed", std::to_string(seed));
      std::string id;
      for (const auto& [axis, label] : r.labels) id += (id.empty() ? "" : ",") + axis + "=" + label;
      r.id = id;
      r.index = out.size();
      out.push_back(std::move(r));
    }
  }
  return out;
}

}  // namespace modelgrow
