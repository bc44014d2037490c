// Checkpoint folders: config.json (the input; STDiT3's fields and the "modelgrow" section) beside
// the weights of a real small STDiT3 (tests/fixtures/reference/stdit3_a), loaded whole.
#include "fuzz/fuzz_util.h"
#include "modelgrow/io/checkpoint.h"
#include "modelgrow/sdk/errors.h"

namespace {

const std::filesystem::path& Folder() {
  static const std::filesystem::path folder = [] {
    std::filesystem::path f = modelgrow::fuzz::WorkDir() / "checkpoint";
    std::filesystem::create_directories(f);
    std::filesystem::copy_file(
        std::filesystem::path(MODELGROW_TEST_FIXTURES) / "reference/stdit3_a/model.safetensors",
        f / "model.safetensors", std::filesystem::copy_options::overwrite_existing);
    return f;
  }();
  return folder;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modelgrow;
  const std::filesystem::path& folder = Folder();
  fuzz::WriteInput("checkpoint/config.json", fuzz::AsText(data, size));
  try {
    LoadedModel loaded = LoadModel(folder);
    (void)loaded.model->config().ToJson();
  } catch (const InputError&) {
  }
  return 0;
}
