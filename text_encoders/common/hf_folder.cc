#include "common/hf_folder.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/utils.h>

#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/limits.h"

namespace modelgrow {

HfConfig HfConfig::Read(const std::filesystem::path& folder) {
  if (!std::filesystem::is_directory(folder)) {
    throw InputError(fmt::format("model folder {} does not exist", folder.string()));
  }
  std::filesystem::path file = folder / "config.json";
  if (!std::filesystem::is_regular_file(file)) {
    throw InputError(fmt::format("{} is missing: a Hugging Face model folder needs its config.json",
                                 file.string()));
  }
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(ReadFile(file));
  } catch (const nlohmann::json::exception& e) {
    throw InputError(fmt::format("{} is not valid JSON: {}", file.string(), e.what()));
  }
  if (!json.is_object()) throw InputError(fmt::format("{} is not a JSON object", file.string()));
  return HfConfig(std::move(json), std::move(file));
}

HfConfig::HfConfig(nlohmann::json json, std::filesystem::path file)
    : json_(std::move(json)), file_(std::move(file)) {}

std::string HfConfig::model_type() const { return String("model_type", ""); }

bool HfConfig::Has(const std::string& key) const {
  return json_.contains(key) && !json_.at(key).is_null();
}

void HfConfig::Fail(const std::string& key, const std::string& message) const {
  throw InputError(fmt::format("{}: {}: {}", file_.string(), key, message));
}

int64_t HfConfig::Int(const std::string& key) const {
  if (!Has(key)) Fail(key, "missing (an integer is required)");
  const nlohmann::json& v = json_.at(key);
  if (!v.is_number_integer()) Fail(key, fmt::format("expected an integer, got {}", v.dump()));
  int64_t value = v.get<int64_t>();
  if (value <= 0) Fail(key, fmt::format("expected a positive integer, got {}", value));
  // Every size here becomes a tensor dimension or a loop count: bounded before anything is built
  // from it (sdk/limits.h), so a config.json claiming 2^40 is an error, not an allocation.
  const int64_t limit = key.find("layers") != std::string::npos ? limits::kMaxLayers
                        : key == "vocab_size"                   ? limits::kMaxVocabulary
                                                                : limits::kMaxWidth;
  if (value > limit) Fail(key, fmt::format("{} is above the limit of {}", value, limit));
  return value;
}

void HfConfig::CheckParameters(double estimate) const {
  if (estimate > static_cast<double>(limits::kMaxParameters)) {
    throw InputError(fmt::format(
        "{}: its sizes mean about {:.3g} parameters, above the limit of {} this reader builds",
        file_.string(), estimate, limits::kMaxParameters));
  }
}

int64_t HfConfig::Int(const std::string& key, int64_t fallback) const {
  return Has(key) ? Int(key) : fallback;
}

double HfConfig::Double(const std::string& key) const {
  if (!Has(key)) Fail(key, "missing (a number is required)");
  const nlohmann::json& v = json_.at(key);
  if (!v.is_number()) Fail(key, fmt::format("expected a number, got {}", v.dump()));
  return v.get<double>();
}

double HfConfig::Double(const std::string& key, double fallback) const {
  return Has(key) ? Double(key) : fallback;
}

bool HfConfig::Bool(const std::string& key, bool fallback) const {
  if (!Has(key)) return fallback;
  const nlohmann::json& v = json_.at(key);
  if (!v.is_boolean()) Fail(key, fmt::format("expected true or false, got {}", v.dump()));
  return v.get<bool>();
}

std::string HfConfig::String(const std::string& key, const std::string& fallback) const {
  if (!Has(key)) return fallback;
  const nlohmann::json& v = json_.at(key);
  if (!v.is_string()) Fail(key, fmt::format("expected a string, got {}", v.dump()));
  return v.get<std::string>();
}

WeightReader::WeightReader(const std::filesystem::path& folder, c10::ScalarType dtype)
    : folder_(folder), dtype_(dtype), store_(TensorStore::Open(folder)) {}

at::Tensor WeightReader::Get(const std::string& key, const std::vector<int64_t>& shape) {
  if (!store_.Has(key)) {
    missing_.push_back(key);
    return {};
  }
  std::vector<int64_t> actual = store_.Shape(key);
  if (actual != shape) {
    misshapen_.push_back(fmt::format("{} has shape [{}], expected [{}] (in {})", key,
                                     fmt::join(actual, ", "), fmt::join(shape, ", "),
                                     store_.FileOf(key).filename().string()));
    return {};
  }
  return store_.Get(key, dtype_);
}

void WeightReader::ThrowIfProblems() const {
  if (missing_.empty() && misshapen_.empty()) return;
  std::string message =
      fmt::format("model folder {} does not match its config.json:", folder_.string());
  if (!missing_.empty()) {
    // A wrong key prefix makes every tensor missing; the first few say enough.
    constexpr size_t kShown = 12;
    std::vector<std::string> shown(missing_.begin(),
                                   missing_.begin() + std::min(missing_.size(), kShown));
    message += fmt::format(
        "\n  missing tensors ({}): {}{}", missing_.size(), fmt::join(shown, ", "),
        missing_.size() > kShown ? fmt::format(", ... and {} more", missing_.size() - kShown) : "");
  }
  for (const std::string& m : misshapen_) message += "\n  " + m;
  throw InputError(message);
}

void AssignParameter(at::Tensor& target, const at::Tensor& value) {
  torch::NoGradGuard no_grad;
  target.set_data(value.to(target.device()));
}

}  // namespace modelgrow
