// Failing writes (a full disk, a failing one) during `dataset export` and reports, through the
// LD_PRELOAD shim write_fault_shim.cc: a clear error and exit 1, nothing half-written under a
// final name, no temporary file left, what was finished intact, and a resumed run that ends as an
// uninterrupted one.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli_util.h"
#include "modelgrow/data/video_shard_reader.h"
#include "modelgrow/sdk/atomic_file.h"
#include "test_paths.h"
#include "test_util.h"

namespace modelgrow {
namespace {

namespace fs = std::filesystem;
using testing::RunCli;
using testing::TempDir;

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Writes to files matching `glob` fail with `error` once `after` bytes have gone through.
std::string FailWrites(const std::string& glob, const char* error = "ENOSPC", int after = 0) {
  return fmt::format(
      "LD_PRELOAD={} MODELGROW_TEST_FAIL_WRITES='{}' MODELGROW_TEST_FAIL_ERRNO={} "
      "MODELGROW_TEST_FAIL_AFTER={}",
      WRITE_FAULT_SHIM, glob, error, after);
}

std::vector<std::string> TemporaryFiles(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& f : fs::recursive_directory_iterator(dir)) {
    if (Has(f.path().filename().string(), ".tmp-")) out.push_back(f.path().string());
  }
  return out;
}

const std::string kExport =
    "dataset export --plugin synthetic --set domain=continual --set size=7 --set seed=2 "
    "--samples-per-shard 3 --out ";

// A shard that cannot be written: the export stops with the error (before the fix, HDF5's exit
// handler then crashed on the failed file: exit 139), keeps the shards it finished, and resumes.
// The disk fills while HDF5 creates the file, writes a video, or flushes at the end (a shard is
// about 300 kB here).
TEST(WriteFaults, ExportOnAFullDiskFailsCleanlyAndResumes) {
  struct Fault {
    const char* error;
    int after;
    const char* says;
  };
  for (const Fault& fault :
       {Fault{"ENOSPC", 0, "cannot create an HDF5 file"}, Fault{"EIO", 0, "Input/output error"},
        Fault{"ENOSPC", 100, "dataset 'videos/0': cannot write"},
        Fault{"EIO", 150000, "can't write data"}, Fault{"ENOSPC", 300000, "cannot flush"}}) {
    SCOPED_TRACE(fmt::format("{} after {} bytes", fault.error, fault.after));
    TempDir dir;
    const fs::path out = dir / "out";
    auto failed = RunCli(kExport + out.string(),
                         FailWrites("*/shard-00001.h5.tmp-*", fault.error, fault.after));
    // A RunError, reported: not a crash in HDF5's exit handler (exit 139 before the fix), naming
    // the shard (not its temporary file) and the system's reason in one line.
    EXPECT_EQ(failed.exit_code, 1) << failed.output;
    EXPECT_TRUE(Has(failed.output, "failed: " + (out / "shard-00001.h5").string() + ": "))
        << failed.output;
    EXPECT_TRUE(Has(failed.output, fault.says)) << failed.output;
    EXPECT_FALSE(Has(failed.output, "errno =")) << failed.output;
    EXPECT_TRUE(TemporaryFiles(out).empty())
        << fmt::format("{}", fmt::join(TemporaryFiles(out), " "));
    EXPECT_FALSE(fs::exists(out / "shard-00001.h5"));
    EXPECT_FALSE(fs::exists(out / "export.json"));
    ASSERT_TRUE(fs::exists(out / "shard-00000.h5"));
    EXPECT_EQ(VideoShardReader::Open(out / "shard-00000.h5")->size(), 3);
    // An unfinished export is not data.
    auto info = RunCli("dataset info " + out.string());
    EXPECT_EQ(info.exit_code, 2) << info.output;
    EXPECT_TRUE(Has(info.output, "unfinished export")) << info.output;

    auto resumed = RunCli(kExport + out.string() + " --resume");
    ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
    auto whole = RunCli(kExport + (dir / "whole").string());
    ASSERT_EQ(whole.exit_code, 0) << whole.output;
    for (const char* shard : {"shard-00000.h5", "shard-00001.h5", "shard-00002.h5"}) {
      auto a = VideoShardReader::Open(out / shard);
      auto b = VideoShardReader::Open(dir / "whole" / shard);
      ASSERT_EQ(a->size(), b->size());
      for (int64_t i = 0; i < a->size(); ++i) {
        Sample x = a->Read(i), y = b->Read(i);
        EXPECT_TRUE(torch::equal(x.video, y.video)) << shard << " sample " << i;
        EXPECT_EQ(x.captions, y.captions);
      }
    }
  }
}

TEST(WriteFaults, AFailedCheckpointWriteNamesOutAndLeavesNothing) {
  TempDir dir;
  auto r = RunCli(fmt::format("init --preset STDiT3-T/2 --out {}", (dir / "ck").string()),
                  FailWrites("*/ck.staging/model.safetensors.tmp-*"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Has(r.output, (dir / "ck").string() + ": cannot write")) << r.output;
  EXPECT_TRUE(Has(r.output, "No space left on device")) << r.output;
  EXPECT_FALSE(fs::exists(dir / "ck"));
  EXPECT_FALSE(fs::exists(dir / "ck.staging"));
}

}  // namespace
}  // namespace modelgrow
