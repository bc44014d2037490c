// Manifest TOML as the options layer reads it, without LibTorch: any bytes parse or fail with a
// ValidationError naming the position; whatever parses can be read with every getter whatever
// its type (a wrong type is a recorded problem, not a crash), and written back as TOML that
// parses again to the same values -- what `modelgrow validate`, sweeps and stage.json rely on.
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "fuzz/fuzz_util.h"
#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/options.h"

namespace {

using modelgrow::Options;

void ReadEverything(const Options& options, int depth) {
  for (const std::string& key : options.Keys()) {
    (void)options.ValueText(key);
    (void)options.Position(key);
    (void)options.KeyPath(key);
    (void)options.Int(key, 0);
    (void)options.Double(key, 0);
    (void)options.Bool(key, false);
    (void)options.String(key, "");
    (void)options.IntList(key, {});
    (void)options.DoubleList(key, {});
    (void)options.StringList(key, {});
    (void)options.StringOrList(key, {});
    const std::string type = options.TypeOf(key);
    if (depth >= 16) continue;  // the parser bounds nesting; this bounds the walk's cost
    if (type == "table") ReadEverything(options.Table(key), depth + 1);
    if (type == "array") {
      for (const Options& element : options.ArrayElementsAsTables(key))
        ReadEverything(element, depth + 1);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::optional<Options> parsed;
  try {
    parsed = Options::ParseString(modelgrow::fuzz::AsText(data, size), "fuzz.toml");
  } catch (const modelgrow::InputError&) {
    return 0;
  }
  const Options& options = *parsed;
  ReadEverything(options, 0);
  (void)options.TakeProblems();
  const std::string json = options.ToJson();
  const std::string toml = options.ToToml();
  try {
    const std::string again = Options::ParseString(toml, "written.toml").ToJson();
    if (again != json) {
      std::fprintf(stderr, "read back differently:\n%s\nwas written as\n%s\nand read as\n%s\n",
                   json.c_str(), toml.c_str(), again.c_str());
      std::abort();
    }
  } catch (const modelgrow::InputError&) {
    std::abort();  // what we write must read back
  }
  return 0;
}
