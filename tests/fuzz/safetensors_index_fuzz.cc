// Sharded tensor sets: model.safetensors.index.json (the input) over two real shards.
#include <ATen/ATen.h>

#include "fuzz/fuzz_util.h"
#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/safetensors.h"

namespace {

// Two shards the index may name ("a" in the first, "b" and "c" in the second), written once.
const std::filesystem::path& Folder() {
  static const std::filesystem::path folder = [] {
    std::filesystem::path f = modelgrow::fuzz::WorkDir() / "sharded";
    std::filesystem::create_directories(f);
    modelgrow::WriteSafetensors(f / "model-00001-of-00002.safetensors",
                                {{"a", at::arange(6, at::kFloat).reshape({2, 3})}});
    modelgrow::WriteSafetensors(f / "model-00002-of-00002.safetensors",
                                {{"b", at::ones({4}, at::kLong)}, {"c", at::zeros({0})}});
    return f;
  }();
  return folder;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modelgrow;
  const std::filesystem::path& folder = Folder();
  fuzz::WriteInput("sharded/model.safetensors.index.json", fuzz::AsText(data, size));
  try {
    TensorStore store = TensorStore::Open(folder);
    for (const std::string& key : store.Keys()) {
      (void)store.Get(key);
      (void)store.FileOf(key);
    }
  } catch (const InputError&) {
  }
  return 0;
}
