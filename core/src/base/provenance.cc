#include "modelgrow/base/provenance.h"

#include <unistd.h>

#include <ctime>

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <torch/cuda.h>
#include <torch/version.h>
#include <nlohmann/json.hpp>

#include "modelgrow/base/version.h"

namespace modelgrow {

nlohmann::json BuildProvenance() {
  char host[256] = {0};
  ::gethostname(host, sizeof(host) - 1);
  nlohmann::json j;
  j["toolkit_version"] = MODELGROW_VERSION;
  j["git_commit"] = std::string(kGitCommit);
  j["code_version"] = std::string(kCodeVersion);
  j["libtorch_version"] = TORCH_VERSION;
  j["cuda_available"] = torch::cuda::is_available();
  j["threads"] = at::get_num_threads();
  j["host"] = std::string(host);
  return j;
}

std::string UtcTimestamp() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

std::string HashText(const std::string& text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return fmt::format("{:016x}", h);
}

}  // namespace modelgrow
