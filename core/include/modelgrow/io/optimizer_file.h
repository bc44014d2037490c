// AdamW state on disk, beside a checkpoint's weights: `optimizer.safetensors` with tensors
// `exp_avg.<parameter>` and `exp_avg_sq.<parameter>` (fp32, the parameter's shape) and metadata
// "steps", a JSON object {parameter: number of updates its moments accumulated}. Training,
// growth (`modelgrow grow` and grow stages) and resuming all read and write it through here.
#pragma once

#include <filesystem>

#include "modelgrow/io/checkpoint.h"
#include "modelgrow/sdk/optimizer_state.h"

namespace modelgrow {

inline constexpr const char* kOptimizerStateFile = "optimizer.safetensors";

// Reads the file. InputError naming the file for a tensor of another form, an unpaired moment,
// moments of different shapes, and a missing, malformed or incomplete "steps" record.
OptimizerState ReadOptimizerState(const std::filesystem::path& file);

// Adds optimizer.safetensors to a checkpoint being written (inside its atomic commit).
void WriteOptimizerStateTo(CheckpointWriter& writer, const OptimizerState& state);

}  // namespace modelgrow
