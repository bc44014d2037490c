// Open-Sora CSV tables (pandas.to_csv): quoting, line ends, field counts, every field read.
#include "csv_table.h"
#include "fuzz/fuzz_util.h"
#include "modelgrow/sdk/errors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modelgrow;
  try {
    auto table = video_csv::CsvTable::Parse(std::string(fuzz::AsText(data, size)), "clips.csv");
    for (size_t r = 0; r < table.rows(); ++r) {
      for (const std::string& column : table.header()) (void)table.Field(r, column);
      (void)table.Line(r);
      (void)table.Field(r, "no such column");
    }
  } catch (const InputError&) {
  }
  return 0;
}
