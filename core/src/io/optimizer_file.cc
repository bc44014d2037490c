#include "modelgrow/io/optimizer_file.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/safetensors.h"

namespace modelgrow {

namespace {

constexpr std::string_view kAvg = "exp_avg.";
constexpr std::string_view kAvgSq = "exp_avg_sq.";

}  // namespace

OptimizerState ReadOptimizerState(const std::filesystem::path& file) {
  SafetensorsFile f = SafetensorsFile::Open(file);
  auto it = f.metadata().find("steps");
  if (it == f.metadata().end()) {
    throw InputError(
        fmt::format("{}: metadata has no \"steps\" (a JSON object: parameter -> number of updates)",
                    file.string()));
  }
  nlohmann::json steps = nlohmann::json::parse(it->second, nullptr, /*allow_exceptions=*/false);
  if (!steps.is_object()) {
    throw InputError(fmt::format(
        "{}: metadata \"steps\" must be a JSON object (parameter -> number of updates), got '{}'",
        file.string(), it->second.substr(0, 80)));
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
    const nlohmann::json* count = steps.contains(name) ? &steps[name] : nullptr;
    if (count == nullptr || !count->is_number_integer() || count->get<int64_t>() < 0) {
      throw InputError(
          fmt::format("{}: metadata \"steps\" has no non-negative integer for parameter '{}'",
                      file.string(), name));
    }
    s.step = count->get<int64_t>();
  }
  return state;
}

void WriteOptimizerStateTo(CheckpointWriter& writer, const OptimizerState& state) {
  NamedTensors tensors;
  nlohmann::json steps = nlohmann::json::object();
  for (const auto& [name, s] : state) {
    if (!s.exp_avg.defined()) continue;
    tensors.emplace_back(std::string(kAvg) + name, s.exp_avg.contiguous().to(at::kCPU));
    tensors.emplace_back(std::string(kAvgSq) + name, s.exp_avg_sq.contiguous().to(at::kCPU));
    steps[name] = s.step;
  }
  writer.AddTensors(kOptimizerStateFile, tensors, {{"steps", steps.dump()}});
}

}  // namespace modelgrow
