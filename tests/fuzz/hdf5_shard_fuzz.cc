// HDF5 video shards (the bytes written to a file): the schema checks of VideoShardReader::Open and
// reading the first samples with their text embeddings. HDF5's own parser is not instrumented
// (Debian's libhdf5); what this finds is in our reader or in how it calls the library.
#include "fuzz/fuzz_util.h"
#include "modelgrow/data/video_shard_reader.h"
#include "modelgrow/sdk/errors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modelgrow;
  const auto file = fuzz::WriteInput("shard.h5", fuzz::AsText(data, size));
  try {
    auto reader = VideoShardReader::Open(file);
    (void)reader->Describe().dump();
    for (int64_t i = 0; i < std::min<int64_t>(reader->size(), 3); ++i) (void)reader->Read(i);
  } catch (const InputError&) {
  }
  return 0;
}
