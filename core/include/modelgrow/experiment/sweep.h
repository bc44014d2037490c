// Sweeps: [[sweep.axis]] tables that vary manifest keys across runs, and the runs they expand to
// (axes x seeds).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "modelgrow/sdk/options.h"

namespace modelgrow {

struct SweepValue {
  std::string label;
  std::vector<std::pair<std::string, Options>> sets;  // key path -> one-value table {v = ...}
  // Where the value is written, e.g. "sweep.axis[0].values[1] (qs.toml:71:12)": a problem with a
  // value this set is reported there, not at the key's own line in the file.
  std::string origin;
};

struct SweepAxis {
  std::string name;
  std::vector<SweepValue> values;
  // Labels of the values the report compares every other value of this axis against
  // (`references`; default: the first value). Two references give two sets of findings, e.g.
  // growth against fine-tuning at equal steps and against fine-tuning at equal FLOPs.
  std::vector<std::string> references;
  // Key paths every value of this axis sets: the manifest's own value of such a key is never
  // used by any run.
  std::vector<std::string> KeysSetByEveryValue() const;
  // Key paths some value of this axis sets.
  std::vector<std::string> KeysSet() const;
};

// Reads `[[sweep.axis]]` of the document; every key an axis sets must exist in `doc`.
std::vector<SweepAxis> ReadSweep(const Options& doc);

// One run of a sweep: its labels and its own manifest (sweep values and seed applied).
struct RunSpec {
  std::string id;                                           // "growth=insert,seed=0"
  std::vector<std::pair<std::string, std::string>> labels;  // axis -> value label, seed last
  uint64_t seed = 0;
  size_t index = 0;  // position in the manifest's run order (the Slurm array index)
  Options doc = Options::Empty();
};

// The runs of `axes` x `seeds` over `doc`, in a stable order (the last axis varies fastest, then
// the seed).
std::vector<RunSpec> ExpandRuns(const Options& doc, const std::vector<SweepAxis>& axes,
                                const std::vector<uint64_t>& seeds);

}  // namespace modelgrow
