// safetensors headers without LibTorch: the length field, the JSON, dtypes, shapes and offsets,
// checked as SafetensorsFile::Open checks them before anything is mapped into a tensor. Every
// entry accepted must lie inside the bytes given, for any compiler's sanitizers to hold us to it.
#include <cstdlib>
#include <span>

#include "fuzz/fuzz_util.h"
#include "modelgrow/sdk/errors.h"
#include "safetensors_header.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modelgrow;
  try {
    safetensors::Header h = safetensors::ParseHeader(std::span(data, size), "model.safetensors");
    for (const auto& [key, e] : h.entries) {
      // What Get() would copy: touch its first and last byte.
      if (e.end > e.begin) {
        if (h.data_offset + e.end > size) std::abort();
        volatile uint8_t first = data[h.data_offset + e.begin];
        volatile uint8_t last = data[h.data_offset + e.end - 1];
        (void)first;
        (void)last;
      }
    }
  } catch (const InputError&) {
  }
  return 0;
}
