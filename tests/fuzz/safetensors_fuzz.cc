// safetensors files: the header's JSON, shapes, offsets, and reading every tensor it lists.
#include <ATen/ATen.h>

#include "fuzz/fuzz_util.h"
#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modelgrow;
  const auto file = fuzz::WriteInput("model.safetensors", fuzz::AsText(data, size));
  try {
    SafetensorsFile f = SafetensorsFile::Open(file);
    for (const std::string& key : f.Keys()) {
      at::Tensor t = f.Get(key);
      if (t.numel() > 0 && t.is_floating_point()) (void)f.Get(key, at::kFloat).sum();
      (void)f.Shape(key);
      (void)f.Dtype(key);
    }
  } catch (const InputError&) {
  }
  return 0;
}
