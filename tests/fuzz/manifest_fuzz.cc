// Manifests: TOML -> options -> the manifest (every component's config, inheritance between
// tables, sweeps), then every run the sweep expands to, as `modelgrow validate` reads them (the
// plugin checks, which need the built plugins, aside).
#include "fuzz/fuzz_util.h"
#include "modelgrow/experiment/manifest.h"
#include "modelgrow/experiment/sweep.h"
#include "modelgrow/sdk/errors.h"

namespace {

// A 4 KB manifest can ask for kMaxRuns runs, and reading 8,000 of them takes 15 s under ASan:
// once libFuzzer keeps such inputs, every mutation of them is that slow, and a fixed-count CI run
// drifted into hours. A large sweep repeats, run after run, the code a small one reaches, so runs
// are read only up to this many.
constexpr double kMaxRunsRead = 64;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modelgrow;
  const auto file = fuzz::WriteInput("manifest.toml", fuzz::AsText(data, size));
  try {
    Manifest manifest = Manifest::Load(file, {}, nullptr);
    if (manifest.RunCount() > kMaxRunsRead) return 0;
    for (const RunSpec& run : ExpandRuns(manifest)) {
      Manifest one = Manifest::FromOptions(run.doc, nullptr);
      (void)one.model_config();
    }
  } catch (const InputError&) {
  }
  return 0;
}
