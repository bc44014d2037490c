// Checkpoint folders: atomic replacement and the config.json Open-Sora reads.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "modelgrow/io/checkpoint.h"
#include "modelgrow/sdk/atomic_file.h"
#include "test_util.h"

namespace modelgrow {
namespace {

using testing::TempDir;

TEST(Checkpoint, ConfigJsonIsOpenSorasWithModelgrowExtras) {
  TempDir dir;
  STDiT3Config c = PresetConfig("STDiT3-T/2");
  STDiT3 model(c);
  CheckpointMeta meta = DescribeModel(*model);
  meta.provenance = {{"manifest_hash", "abc"}};
  SaveModel(dir / "m", *model, meta);
  auto j = nlohmann::json::parse(ReadFile(dir / "m" / "config.json"));
  EXPECT_EQ(j["model_type"], "STDiT3");
  EXPECT_EQ(j["hidden_size"], 64);
  EXPECT_EQ(j["patch_size"], nlohmann::json::array({1, 2, 2}));
  EXPECT_EQ(j["modelgrow"]["provenance"]["manifest_hash"], "abc");
  EXPECT_FALSE(j.contains("modelgrow_block_order"));  // default order: Open-Sora can read it
}

TEST(Checkpoint, WriterReplacesAFolderWholeOrNotAtAll) {
  TempDir dir;
  STDiT3 model(PresetConfig("STDiT3-T/2"));
  SaveModel(dir / "ckpt", *model, {});
  {
    CheckpointWriter writer(dir / "ckpt");
    writer.AddJson("partial.json", {{"x", 1}});
    // Destroyed without Commit: as if the process died here.
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "ckpt" / "partial.json"));
  EXPECT_NO_THROW(LoadModel(dir / "ckpt"));
  {
    CheckpointWriter writer(dir / "ckpt");
    writer.AddModel(*model, {});
    writer.AddJson("trainer_state.json", {{"step", 5}});
    writer.Commit();
  }
  EXPECT_TRUE(std::filesystem::exists(dir / "ckpt" / "trainer_state.json"));
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) ++entries, (void)e;
  EXPECT_EQ(entries, 1);  // no staging or old folders left behind
}

TEST(Checkpoint, UnknownModelgrowFieldsAndWrongModelTypesAreRejected) {
  TempDir dir;
  STDiT3 model(PresetConfig("STDiT3-T/2"));
  SaveModel(dir / "m", *model, {});
  auto j = nlohmann::json::parse(ReadFile(dir / "m" / "config.json"));
  j["modelgrow_frobnicate"] = 1;
  WriteFileAtomic(dir / "m" / "config.json", j.dump());
  EXPECT_THROW_WITH(LoadModel(dir / "m"), InputError, "config.json", "modelgrow_frobnicate");
  j.erase("modelgrow_frobnicate");
  j["model_type"] = "llama";
  WriteFileAtomic(dir / "m" / "config.json", j.dump());
  EXPECT_THROW_WITH(LoadModel(dir / "m"), InputError, "model_type is 'llama'");
}

}  // namespace
}  // namespace modelgrow
