#include "common/encoder_options.h"

#include <fmt/format.h>
#include <torch/cuda.h>

#include "modelgrow/sdk/options.h"

namespace modelgrow {

c10::ScalarType DtypeOption(const Options& options, std::string_view key) {
  std::string name = options.Choice(key, "float32", {"float32", "bfloat16"});
  return name == "bfloat16" ? c10::ScalarType::BFloat16 : c10::ScalarType::Float;
}

c10::Device DeviceOption(const Options& options, c10::Device fallback, std::string_view key) {
  // Read even when absent, so the key is listed among the known ones.
  std::string text = options.String(key, "");
  if (text.empty()) return fallback;
  try {
    c10::Device device(text);
    if (device.is_cuda() && !torch::cuda::is_available()) {
      options.Fail(key, fmt::format("'{}': CUDA is not available in this build or machine", text));
      return fallback;
    }
    return device;
  } catch (const std::exception&) {
    options.Fail(key, fmt::format("'{}' is not a device (expected cpu, cuda or cuda:N)", text));
    return fallback;
  }
}

}  // namespace modelgrow
