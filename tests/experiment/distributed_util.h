// Helpers for the multi-process engine tests: the tiny experiment with every per-sample random
// draw switched on, launcher logs, training curves and checkpoints compared across runs.
#pragma once

#include <signal.h>

#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "experiment/engine_util.h"
#include "experiment/tiny_manifest.h"
#include "modelgrow/sdk/safetensors.h"
#include "test_util.h"

namespace modelgrow::testing {

// AdamW for comparing runs that differ only by rounding: some gradients (attention's key bias:
// softmax ignores a shift) are zero but for rounding, and with a tiny eps Adam turns that noise
// into full-size steps. eps = 1 keeps updates proportional to the gradients, so comparisons see
// the data-parallel arithmetic itself (as in tests/train/trainer_test.cc).
inline constexpr const char* kComparableOptim = "lr = 1e-2\nwarmup_steps = 2\neps = 1.0\n";

// Pre-training only: caption coins, caption dropout and frame masks per sample, a warm-up, and a
// checkpoint every 2 steps.
inline TinyManifest DistributedPretrain(int steps) {
  return TinyManifest("dist")
      .SyntheticData(32)
      .Without("stages.grow")
      .Without("stages.continue")
      .Table("stages.pretrain",
             "kind = \"pretrain\"\ndata = \"train\"\nsteps = " + std::to_string(steps) +
                 "\nbatch_size = 4\ncheckpoint_every = 2\nlog_every = 1\nworkers = 1\n"
                 "caption = \"mixed\"\ncaption_dropout = 0.2\nframe_mask_prob = 0.5\n")
      .Table("stages.pretrain.optim", kComparableOptim);
}

inline std::vector<nlohmann::json> MetricsLines(const engine_fs::path& file) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

// The same steps, each loss within `relative` of the reference's.
inline void ExpectSameCurve(const engine_fs::path& metrics, const engine_fs::path& reference,
                            double relative) {
  std::vector<nlohmann::json> a = MetricsLines(metrics), b = MetricsLines(reference);
  ASSERT_EQ(a.size(), b.size()) << metrics << " vs " << reference;
  ASSERT_FALSE(b.empty());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i]["step"], b[i]["step"]);
    double expected = b[i]["loss"].get<double>();
    EXPECT_NEAR(a[i]["loss"].get<double>(), expected, relative * expected)
        << metrics << " step " << b[i]["step"];
  }
}

// Every tensor of two safetensors files within `tolerance` (absolute).
inline void ExpectCloseTensors(const engine_fs::path& a, const engine_fs::path& b,
                               double tolerance) {
  SafetensorsFile fa = SafetensorsFile::Open(a), fb = SafetensorsFile::Open(b);
  ASSERT_EQ(fa.Keys(), fb.Keys()) << a;
  for (const std::string& name : fb.Keys()) {
    EXPECT_LE(MaxAbsError(fa.Get(name, at::kFloat), fb.Get(name, at::kFloat)), tolerance)
        << a << ": " << name;
  }
}

inline void ExpectSameBytes(const engine_fs::path& a, const engine_fs::path& b) {
  ASSERT_TRUE(engine_fs::exists(a)) << a;
  ASSERT_TRUE(engine_fs::exists(b)) << b;
  EXPECT_TRUE(ReadFile(a) == ReadFile(b)) << a << " differs from " << b;
}

// The worker pids the launcher announced ("== started 2 worker(s) on ...: rank 0 pid 12, ...").
inline std::map<int, pid_t> WorkerPids(const std::string& log) {
  std::map<int, pid_t> pids;
  std::regex pattern(R"(rank (\d+) pid (\d+))");
  size_t line_start = log.find("== started ");
  if (line_start == std::string::npos) return pids;
  std::string line = log.substr(line_start, log.find('\n', line_start) - line_start);
  for (std::sregex_iterator it(line.begin(), line.end(), pattern), end; it != end; ++it) {
    pids[std::stoi((*it)[1])] = static_cast<pid_t>(std::stol((*it)[2]));
  }
  return pids;
}

inline bool ProcessExists(pid_t pid) { return ::kill(pid, 0) == 0; }

}  // namespace modelgrow::testing
