// Hugging Face config.json of the text models: T5 and the Llama family (Llama, Qwen2).
#include <nlohmann/json.hpp>

#include "common/hf_folder.h"
#include "common/llama_decoder.h"
#include "common/t5_encoder.h"
#include "fuzz/fuzz_util.h"
#include "modelgrow/sdk/errors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modelgrow;
  const auto file = fuzz::WriteInput("hf/config.json", fuzz::AsText(data, size));
  HfConfig config = [&] {
    try {
      return HfConfig::Read(file.parent_path());
    } catch (const InputError&) {
      return HfConfig(nlohmann::json::object(), file);
    }
  }();
  try {
    (void)T5Config::FromHf(config).ToHfJson();
  } catch (const InputError&) {
  }
  try {
    (void)LlamaConfig::FromHf(config);
  } catch (const InputError&) {
  }
  return 0;
}
