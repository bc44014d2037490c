// AdamW state on disk, beside a checkpoint: `optimizer.safetensors` with tensors
// `exp_avg.<parameter>` and `exp_avg_sq.<parameter>` and metadata "step" (the step count every
// parameter's moments were accumulated over).
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "modelgrow/io/safetensors.h"
#include "modelgrow/train/optimizer_state.h"

namespace modelgrow {

inline constexpr const char* kOptimizerStateFile = "optimizer.safetensors";

// Reads the file. InputError naming the file for an unpaired moment, a shape mismatch between
// the two moments, a key of another form or a missing / malformed "step".
OptimizerState ReadOptimizerState(const std::filesystem::path& file);

// The tensors and metadata to write (keys sorted by parameter name).
NamedTensors OptimizerStateTensors(const OptimizerState& state,
                                   std::map<std::string, std::string>* metadata);

}  // namespace modelgrow
