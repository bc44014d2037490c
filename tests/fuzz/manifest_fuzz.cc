// Manifests: TOML -> options -> the manifest (every component's config, inheritance between
// tables, sweeps), then every run the sweep expands to, as `modelgrow validate` reads them (the
// plugin checks, which need the built plugins, aside).
#include "fuzz/fuzz_util.h"
#include "modelgrow/experiment/manifest.h"
#include "modelgrow/experiment/sweep.h"
#include "modelgrow/sdk/errors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modelgrow;
  const auto file = fuzz::WriteInput("manifest.toml", fuzz::AsText(data, size));
  try {
    Manifest manifest = Manifest::Load(file, {}, nullptr);
    for (const RunSpec& run : ExpandRuns(manifest)) {
      Manifest one = Manifest::FromOptions(run.doc, nullptr);
      (void)one.model_config();
    }
  } catch (const InputError&) {
  }
  return 0;
}
