#include "modelgrow/train/training_hook_record.h"

#include <fmt/format.h>

#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/training_hook.h"

namespace modelgrow {

namespace fs = std::filesystem;
using json = nlohmann::json;

json ReadTrainingHookRecord(const fs::path& checkpoint) {
  const fs::path file = checkpoint / kTrainingHookFile;
  std::error_code ec;
  if (!fs::exists(file, ec)) return nullptr;
  json record = json::parse(ReadFile(file), nullptr, /*allow_exceptions=*/false);
  if (!record.is_object() || !record.contains("op") || !record["op"].is_string() ||
      !record.contains("options_toml") || !record["options_toml"].is_string() ||
      !record.contains("state")) {
    throw InputError(fmt::format(
        "{}: not a training-hook record (expected a JSON object with \"op\", \"options_toml\" and "
        "\"state\")",
        file.string()));
  }
  return record;
}

}  // namespace modelgrow
