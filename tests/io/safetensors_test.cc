// safetensors reading and writing, including files Hugging Face wrote and damaged files.
#include <fstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "modelgrow/sdk/safetensors.h"
#include "test_util.h"

namespace modelgrow {
namespace {

using testing::Fixture;
using testing::TempDir;

TEST(Safetensors, RoundTripKeepsDtypesShapesValuesAndMetadata) {
  TempDir dir;
  NamedTensors tensors = {{"f32", torch::randn({3, 4})},
                          {"bf16", torch::randn({5}).to(torch::kBFloat16)},
                          {"f16", torch::randn({2, 2}).to(torch::kHalf)},
                          {"i64", torch::arange(7)},
                          {"mask", torch::tensor({true, false, true})},
                          {"empty", torch::zeros({0, 3})}};
  WriteSafetensors(dir / "t.safetensors", tensors, {{"note", "hi"}});
  SafetensorsFile f = SafetensorsFile::Open(dir / "t.safetensors");
  EXPECT_EQ(f.metadata().at("note"), "hi");
  EXPECT_EQ(f.Keys().size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    at::Tensor back = f.Get(name);
    EXPECT_EQ(back.scalar_type(), t.scalar_type()) << name;
    EXPECT_TRUE(torch::equal(back, t)) << name;
  }
  EXPECT_EQ(f.Dtype("bf16"), "BF16");
}

TEST(Safetensors, ConvertsOnWriteAndOnRead) {
  TempDir dir;
  torch::Tensor x = torch::randn({8});
  WriteSafetensors(dir / "h.safetensors", {{"x", x}}, {}, torch::kHalf);
  SafetensorsFile f = SafetensorsFile::Open(dir / "h.safetensors");
  EXPECT_EQ(f.Dtype("x"), "F16");
  EXPECT_TRUE(torch::equal(f.Get("x", torch::kFloat), x.to(torch::kHalf).to(torch::kFloat)));
}

TEST(Safetensors, ReadsShardedFoldersHuggingFaceWrote) {
  TensorStore sharded = TensorStore::Open(Fixture("reference/t5_sharded"));
  TensorStore single = TensorStore::Open(Fixture("reference/t5"));
  EXPECT_EQ(sharded.Keys(), single.Keys());
  for (const std::string& k : single.Keys()) {
    EXPECT_TRUE(torch::equal(sharded.Get(k), single.Get(k))) << k;
  }
}

TEST(Safetensors, WritesShardsWithAnIndex) {
  TempDir dir;
  NamedTensors tensors;
  for (int i = 0; i < 10; ++i) tensors.emplace_back("t" + std::to_string(i), torch::randn({100}));
  WriteTensorStore(dir.path(), tensors, "model", 1000);
  EXPECT_TRUE(std::filesystem::exists(dir / "model.safetensors.index.json"));
  EXPECT_TRUE(std::filesystem::exists(dir / "model-00001-of-00005.safetensors"));
  TensorStore store = TensorStore::Open(dir.path());
  for (const auto& [k, t] : tensors) EXPECT_TRUE(torch::equal(store.Get(k), t));
}

void WriteBytes(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}

TEST(Safetensors, DamagedFilesAreClearErrors) {
  TempDir dir;
  WriteBytes(dir / "short.safetensors", "abc");
  EXPECT_THROW_WITH(SafetensorsFile::Open(dir / "short.safetensors"), InputError,
                    "short.safetensors", "too short");
  WriteBytes(dir / "huge.safetensors", std::string("\xff\xff\xff\x00\x00\x00\x00\x00{}", 10));
  EXPECT_THROW_WITH(SafetensorsFile::Open(dir / "huge.safetensors"), InputError, "header length");
  WriteBytes(dir / "json.safetensors", std::string("\x04\x00\x00\x00\x00\x00\x00\x00{x:1", 12));
  EXPECT_THROW_WITH(SafetensorsFile::Open(dir / "json.safetensors"), InputError, "not JSON");

  WriteSafetensors(dir / "ok.safetensors", {{"w", torch::randn({64})}});
  std::filesystem::resize_file(dir / "ok.safetensors",
                               std::filesystem::file_size(dir / "ok.safetensors") - 8);
  EXPECT_THROW_WITH(SafetensorsFile::Open(dir / "ok.safetensors"), InputError, "tensor 'w'",
                    "truncated");
  EXPECT_THROW_WITH(SafetensorsFile::Open(dir / "none.safetensors"), InputError, "cannot open");
}

TEST(Safetensors, AFailedWriteLeavesTheOldFile) {
  TempDir dir;
  WriteSafetensors(dir / "m.safetensors", {{"a", torch::ones({2})}});
  // A tensor safetensors cannot hold fails the write before anything replaces the file.
  EXPECT_ANY_THROW(
      WriteSafetensors(dir / "m.safetensors", {{"c", torch::ones({2}, torch::kComplexFloat)}}));
  EXPECT_TRUE(SafetensorsFile::Open(dir / "m.safetensors").Has("a"));
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) ++files, (void)e;
  EXPECT_EQ(files, 1);  // no temporary left behind
}

}  // namespace
}  // namespace modelgrow
