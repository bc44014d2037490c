#include "modelgrow/growth/optimizer_file.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "modelgrow/base/errors.h"

namespace modelgrow {

namespace {

constexpr std::string_view kAvg = "exp_avg.";
constexpr std::string_view kAvgSq = "exp_avg_sq.";

}  // namespace

OptimizerState ReadOptimizerState(const std::filesystem::path& file) {
  SafetensorsFile f = SafetensorsFile::Open(file);
  int64_t step = 0;
  auto it = f.metadata().find("step");
  if (it == f.metadata().end()) {
    throw InputError(
        fmt::format("{}: metadata has no \"step\" (the optimizer's step count)", file.string()));
  }
  try {
    size_t used = 0;
    step = std::stoll(it->second, &used);
    if (used != it->second.size() || step < 0) throw std::invalid_argument("");
  } catch (const std::exception&) {
    throw InputError(fmt::format("{}: metadata \"step\" must be a non-negative integer, got '{}'",
                                 file.string(), it->second));
  }
  OptimizerState state;
  for (const std::string& key : f.Keys()) {
    // exp_avg_sq. also starts with exp_avg, so test it first.
    if (key.starts_with(kAvgSq)) {
      state[key.substr(kAvgSq.size())].exp_avg_sq = f.Get(key, c10::ScalarType::Float);
    } else if (key.starts_with(kAvg)) {
      state[key.substr(kAvg.size())].exp_avg = f.Get(key, c10::ScalarType::Float);
    } else {
      throw InputError(
          fmt::format("{}: tensor '{}' is neither exp_avg.<parameter> nor exp_avg_sq.<parameter>",
                      file.string(), key));
    }
  }
  for (auto& [name, s] : state) {
    if (!s.exp_avg.defined() || !s.exp_avg_sq.defined()) {
      throw InputError(fmt::format("{}: parameter '{}' has {} but not {}", file.string(), name,
                                   s.exp_avg.defined() ? "exp_avg" : "exp_avg_sq",
                                   s.exp_avg.defined() ? "exp_avg_sq" : "exp_avg"));
    }
    if (!s.exp_avg.sizes().equals(s.exp_avg_sq.sizes())) {
      throw InputError(fmt::format("{}: parameter '{}' has exp_avg [{}] but exp_avg_sq [{}]",
                                   file.string(), name, fmt::join(s.exp_avg.sizes(), ", "),
                                   fmt::join(s.exp_avg_sq.sizes(), ", ")));
    }
    s.step = step;
  }
  return state;
}

NamedTensors OptimizerStateTensors(const OptimizerState& state,
                                   std::map<std::string, std::string>* metadata) {
  NamedTensors tensors;
  int64_t step = 0;
  for (const auto& [name, s] : state) {
    tensors.emplace_back(std::string(kAvg) + name, s.exp_avg.contiguous().to(torch::kCPU));
    tensors.emplace_back(std::string(kAvgSq) + name, s.exp_avg_sq.contiguous().to(torch::kCPU));
    step = std::max(step, s.step);
  }
  if (metadata != nullptr) (*metadata)["step"] = std::to_string(step);
  return tensors;
}

}  // namespace modelgrow
