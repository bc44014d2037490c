// Options every model-backed text encoder reads the same way.
#pragma once

#include <string_view>

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

namespace modelgrow {

class Options;

// "float32" (default) or "bfloat16"; a problem is recorded for anything else.
c10::ScalarType DtypeOption(const Options& options, std::string_view key = "dtype");
// "cpu", "cuda", "cuda:1", ...; `fallback` (the run's device) when absent. A problem is recorded
// for a string LibTorch does not parse, and for CUDA when this build has none.
c10::Device DeviceOption(const Options& options, c10::Device fallback,
                         std::string_view key = "device");

}  // namespace modelgrow
