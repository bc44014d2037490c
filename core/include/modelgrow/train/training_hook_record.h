// The training_hook.json a checkpoint carries while a growth operator still acts during training
// (sdk/training_hook.h): {"op", "options" (for people), "options_toml" (to rebuild the operator),
// "state" (the hook's State())}.
#pragma once

#include <filesystem>

#include <nlohmann/json.hpp>

namespace modelgrow {

// The checkpoint's record, or null when it has none. InputError naming the file for anything
// that is not such a record.
nlohmann::json ReadTrainingHookRecord(const std::filesystem::path& checkpoint);

}  // namespace modelgrow
