// Sizes read from files are bounded and overflow-checked before anything is allocated
// (sdk/limits.h): each hostile size is an InputError naming the file and the field.
#include <cstring>
#include <fstream>

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "modelgrow/data/video_shard_reader.h"
#include "modelgrow/experiment/manifest.h"
#include "modelgrow/io/checkpoint.h"
#include "modelgrow/model/config.h"
#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/sdk/hdf5.h"
#include "modelgrow/sdk/limits.h"
#include "modelgrow/sdk/options.h"
#include "modelgrow/sdk/safetensors.h"
#include "test_util.h"

namespace modelgrow {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using testing::Fixture;
using testing::TempDir;

// A safetensors file with `header` as its JSON and `data_bytes` zero bytes of data.
fs::path WriteRawSafetensors(const fs::path& file, const json& header, size_t data_bytes) {
  std::string text = header.dump();
  uint64_t n = text.size();
  std::ofstream out(file, std::ios::binary);
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
  out << text << std::string(data_bytes, '\0');
  return file;
}

TEST(Limits, CheckedProductRefusesOverflowNegativesAndHugeProducts) {
  EXPECT_EQ(limits::CheckedProduct({2, 3, 4}), 24);
  EXPECT_EQ(limits::CheckedProduct({}), 1);
  EXPECT_EQ(limits::CheckedProduct({0, limits::kMaxDimension}), 0);
  // 2^32 * 2^32 wraps int64 to 0: refused, not taken as an empty tensor.
  EXPECT_FALSE(limits::CheckedProduct({int64_t{1} << 32, int64_t{1} << 32}));
  EXPECT_FALSE(limits::CheckedProduct({-1, 4}));
  EXPECT_FALSE(limits::CheckedProduct({limits::kMaxElements, 2}));
  EXPECT_FALSE(limits::CheckedMultiply(int64_t{1} << 62, 4));
  EXPECT_THROW_WITH(limits::CheckLimit(int64_t{1} << 40, 100, "f.json", "hidden_size"), InputError,
                    "f.json: hidden_size is 1099511627776, above the limit of 100");
}

TEST(Limits, DecodedFramesAreBoundedByTheSizeTheirStreamStates) {
  // Four times the area with both sides padded to 64, at least a megapixel, at most 16384 squared.
  EXPECT_EQ(limits::MaxDecodedPixels(1920, 1080), 4 * 1920 * 1088);
  EXPECT_EQ(limits::MaxDecodedPixels(32, 24), int64_t{1} << 20);
  EXPECT_EQ(limits::MaxDecodedPixels(16000, 9000), int64_t{16384} * 16384);
  // A stream that states no size, or an impossible one, gets the ceiling only.
  EXPECT_EQ(limits::MaxDecodedPixels(0, 24), int64_t{16384} * 16384);
  EXPECT_EQ(limits::MaxDecodedPixels(32, 1 << 20), int64_t{16384} * 16384);
  EXPECT_EQ(limits::DecodedFrameBoundNote(1920, 1080),
            " (a frame may have at most 8355840 pixels in a stream stating 1920x1080)");
  EXPECT_EQ(limits::DecodedFrameBoundNote(0, 0), "");
}

TEST(Limits, SafetensorsShapeProductsAreOverflowChecked) {
  TempDir dir;
  // [2^32, 2^32] wraps to 0 elements: 0 bytes would "match" and Get() would allocate 2^64 values.
  auto file = WriteRawSafetensors(dir / "wrap.safetensors",
                                  {{"w",
                                    {{"dtype", "F32"},
                                     {"shape", {int64_t{1} << 32, int64_t{1} << 32}},
                                     {"data_offsets", {0, 0}}}}},
                                  0);
  EXPECT_THROW_WITH(SafetensorsFile::Open(file), InputError, "wrap.safetensors", "tensor 'w'",
                    "[4294967296, 4294967296]");
  file = WriteRawSafetensors(
      dir / "negative.safetensors",
      {{"w", {{"dtype", "F32"}, {"shape", {-2, -2}}, {"data_offsets", {0, 16}}}}}, 16);
  EXPECT_THROW_WITH(SafetensorsFile::Open(file), InputError, "negative.safetensors",
                    "a negative dimension");
  file = WriteRawSafetensors(
      dir / "float_shape.safetensors",
      {{"w", {{"dtype", "F32"}, {"shape", {1.5}}, {"data_offsets", {0, 4}}}}}, 4);
  EXPECT_THROW_WITH(SafetensorsFile::Open(file), InputError, "float_shape.safetensors",
                    "not an integer");
}

TEST(Limits, SafetensorsTensorsMayNotOverlap) {
  TempDir dir;
  auto file =
      WriteRawSafetensors(dir / "overlap.safetensors",
                          {{"a", {{"dtype", "F32"}, {"shape", {2}}, {"data_offsets", {0, 8}}}},
                           {"b", {{"dtype", "F32"}, {"shape", {2}}, {"data_offsets", {4, 12}}}}},
                          12);
  EXPECT_THROW_WITH(SafetensorsFile::Open(file), InputError, "overlap.safetensors",
                    "tensors 'a' and 'b' overlap");
  file = WriteRawSafetensors(dir / "offsets.safetensors",
                             {{"a", {{"dtype", "F32"}, {"shape", {2}}, {"data_offsets", {-8, 0}}}}},
                             8);
  EXPECT_THROW_WITH(SafetensorsFile::Open(file), InputError, "offsets.safetensors",
                    "malformed data_offsets");
  EXPECT_THROW_WITH(SafetensorsFile::Open(dir.path()), InputError, "is a folder");
}

TEST(Limits, ShardIndexNamesOnlyFilesOfItsFolder) {
  TempDir dir;
  fs::create_directories(dir / "model");
  WriteSafetensors(dir / "outside.safetensors", {{"w", torch::ones({2})}});
  for (const json& name :
       {json("../outside.safetensors"), json("/etc/passwd"), json(""), json(7)}) {
    SCOPED_TRACE(name.dump());
    WriteFileAtomic(dir / "model" / "model.safetensors.index.json",
                    json{{"weight_map", {{"w", name}}}}.dump());
    EXPECT_THROW_WITH(TensorStore::Open(dir / "model"), InputError, "model.safetensors.index.json",
                      "weight_map['w']");
  }
}

TEST(Limits, ModelConfigSizesAreBoundedBeforeAnythingIsBuilt) {
  json base = PresetConfig("STDiT3-T/2").ToJson();
  const struct {
    const char* key;
    json value;
    const char* message;
  } cases[] = {
      {"depth", 1000000000, "depth is 1000000000, above the limit of 1024"},
      {"hidden_size", int64_t{1} << 40, "hidden_size is 1099511627776, above the limit"},
      {"depth", 1e9, "field 'depth' must be an integer"},
      {"mlp_ratio", 1e300, "mlp_ratio 1e+300 gives an MLP hidden size outside"},
      {"modelgrow_num_spatial_blocks", int64_t{1} << 50, "modelgrow_num_spatial_blocks is"},
      {"modelgrow_block_order", json::array({"s99999999999999999999"}),
       "block order entry 's99999999999999999999' is not s<i> or t<i>"},
      {"modelgrow_block_order", json::array({"sx"}), "block order entry 'sx' is not"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.key);
    json j = base;
    j[c.key] = c.value;
    EXPECT_THROW_WITH(STDiT3Config::FromJson(j, "ckpt/config.json"), InputError, "ckpt/config.json",
                      c.message);
  }
  // Within each field's limit, but together about 2^42 parameters.
  json j = base;
  j["hidden_size"] = 65536;
  j["num_heads"] = 512;
  j["depth"] = 1000;
  EXPECT_THROW_WITH(STDiT3Config::FromJson(j, "ckpt/config.json"), InputError, "parameters",
                    "above the limit");
}

TEST(Limits, ACheckpointWhoseConfigClaimsMoreThanItsWeightsIsRefusedUnbuilt) {
  TempDir dir;
  fs::copy(Fixture("reference/stdit3_a"), dir / "ckpt");
  json config = json::parse(ReadFile(dir / "ckpt" / "config.json"));
  config["depth"] = 1000;  // the weights hold a few blocks; building 1000 first would be wasted
  WriteFileAtomic(dir / "ckpt" / "config.json", config.dump());
  EXPECT_THROW_WITH(LoadModel(dir / "ckpt"), InputError, "weights do not match", "missing");
}

TEST(Limits, ManifestNestingIsBounded) {
  std::string deep = "x = " + std::string(200, '[') + std::string(200, ']') + "\n";
  // toml++ stops arrays itself; dotted keys and table headers are ours to bound.
  std::string key;
  for (int i = 0; i < 100; ++i) key += (i ? ".k" : "k") + std::to_string(i);
  EXPECT_THROW_WITH(Options::ParseString(key + " = 1\n", "deep.toml"), InputError, "deep.toml",
                    "nested more than 64 deep");
  EXPECT_THROW(Options::ParseString(deep, "deep.toml"), InputError);
}

TEST(Limits, HdfShardSizesAreBoundedWhenOpened) {
  TempDir dir;
  const fs::path file = dir / "huge.h5";
  {
    hdf5::File h5 = hdf5::File::Create(file);
    h5.SetAttribute("format", kVideoShardFormat);
    h5.SetAttribute("format_version", kVideoShardVersion);
    h5.WriteStrings("captions/short", {"a red circle"});
    const double fps[] = {8.0};
    const int64_t side[] = {4};
    h5.CreateDataset("fps", hdf5::Type::kFloat64, {1}).Write(std::span<const double>(fps));
    h5.CreateDataset("height", hdf5::Type::kInt64, {1}).Write(std::span<const int64_t>(side));
    h5.CreateDataset("width", hdf5::Type::kInt64, {1}).Write(std::span<const int64_t>(side));
    // Claims 3 x 2^20 x 2^20 x 2^20 values and stores none (chunks are allocated when written).
    h5.CreateDataset("videos/0", hdf5::Type::kFloat32,
                     {3, int64_t{1} << 20, int64_t{1} << 20, int64_t{1} << 20},
                     {.chunk = {1, 1, 64, 64}});
  }
  EXPECT_THROW_WITH(VideoShardReader::Open(file), InputError, "huge.h5", "dataset '/videos/0'",
                    "above the limit of 17179869184 values");
}

}  // namespace
}  // namespace modelgrow
