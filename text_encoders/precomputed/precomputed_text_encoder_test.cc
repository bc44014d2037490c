// The precomputed plugin through the host's registry, as a manifest table reaches it: the HDF5
// schema of docs/text-encoders.md read by prompt hash and by sample index, options read at
// construction (nothing opened), file problems reported by Load().
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <hdf5.h>
#include <torch/torch.h>

#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/sdk/content_hash.h"
#include "modelgrow/sdk/options.h"
#include "modelgrow/sdk/text_encoder.h"
#include "test_util.h"
#include "text/text_plugin_util.h"

namespace modelgrow {
namespace {

using testing::TempDir;

class PrecomputedPlugin : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { plugin_ = new testing::TextPluginUnderTest(); }
  static void TearDownTestSuite() { delete plugin_; }
  static std::shared_ptr<TextEncoder> Construct(const std::string& toml) {
    return plugin_->Construct(toml);
  }

  static testing::TextPluginUnderTest* plugin_;
};
testing::TextPluginUnderTest* PrecomputedPlugin::plugin_ = nullptr;

TEST_F(PrecomputedPlugin, ConstructionReadsOptionsAndOpensNothing) {
  EXPECT_EQ(plugin_->name(), "precomputed");
  auto encoder = Construct("path = \"/no/such/embeddings.h5\"\nkey = \"index\"\n");
  EXPECT_THROW_WITH(encoder->Load(), InputError, "/no/such/embeddings.h5", "does not exist");
  EXPECT_THROW_WITH(Construct("key = \"row\"\nname = \"a/b\"\n"), ValidationError, "path", "key",
                    "name");
}

// Writes a file as the h5py snippet in docs/text-encoders.md does: float32 embeddings, masks as
// uint8 (or numpy bool, which h5py stores as an 8-bit enum), prompt_sha256 as numpy "S64", and
// the optional prompts as variable-length UTF-8 strings.
void WriteH5pyStyle(const std::filesystem::path& file, const std::vector<std::string>& prompts,
                    const at::Tensor& embeddings, const at::Tensor& masks, bool bool_masks,
                    bool with_hashes, bool with_prompts) {
  hid_t f = H5Fcreate(file.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  auto write = [&](const char* name, hid_t file_type, hid_t mem_type, std::vector<hsize_t> dims,
                   const void* data) {
    hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
    hid_t d = H5Dcreate2(f, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ASSERT_GE(H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), 0);
    H5Dclose(d);
    H5Sclose(space);
  };
  at::Tensor e = embeddings.contiguous();
  write("embeddings", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT,
        {hsize_t(e.size(0)), hsize_t(e.size(1)), hsize_t(e.size(2))}, e.data_ptr());
  at::Tensor m = masks.to(at::kByte).contiguous();
  std::vector<hsize_t> mdims = {hsize_t(m.size(0)), hsize_t(m.size(1))};
  if (bool_masks) {
    hid_t type = H5Tenum_create(H5T_NATIVE_INT8);
    int8_t no = 0, yes = 1;
    H5Tenum_insert(type, "FALSE", &no);
    H5Tenum_insert(type, "TRUE", &yes);
    write("masks", type, type, mdims, m.data_ptr());
    H5Tclose(type);
  } else {
    write("masks", H5T_STD_U8LE, H5T_NATIVE_UINT8, mdims, m.data_ptr());
  }
  hsize_t n = prompts.size();
  if (with_hashes) {
    std::string packed;
    for (const std::string& p : prompts) packed += Sha256Hex(p);
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, 64);
    H5Tset_strpad(type, H5T_STR_NULLPAD);
    write("prompt_sha256", type, type, {n}, packed.data());
    H5Tclose(type);
  }
  if (with_prompts) {
    std::vector<const char*> ptrs;
    for (const std::string& p : prompts) ptrs.push_back(p.c_str());
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    write("prompts", type, type, {n}, ptrs.data());
    H5Tclose(type);
  }
  H5Fclose(f);
}

TEST_F(PrecomputedPlugin, ReadsTheDocumentedSchemaByPromptHash) {
  TempDir dir;
  std::vector<std::string> prompts = {"a red cube", "un cube rouge à gauche", "a blue cone"};
  at::Tensor embeddings = torch::randn({3, 5, 8});
  at::Tensor masks =
      torch::tensor({{1, 1, 0, 0, 0}, {1, 1, 1, 1, 0}, {1, 0, 0, 0, 0}}, torch::kByte)
          .to(torch::kBool);
  for (bool bool_masks : {false, true}) {
    WriteH5pyStyle(dir / "t5_embeddings.h5", prompts, embeddings, masks, bool_masks, true, false);
    // `path` may name the file, or the folder holding <name>.h5.
    for (const std::string& table :
         {fmt::format("path = \"{}\"\n", (dir / "t5_embeddings.h5").string()),
          fmt::format("path = \"{}\"\nname = \"t5_embeddings\"\n", dir.path().string())}) {
      auto encoder = plugin_->Load(table);
      EXPECT_EQ(encoder->dim(), 8);
      EXPECT_EQ(encoder->max_length(), 5);
      TextEncoding e = encoder->Encode({"a blue cone", "un cube rouge à gauche"});
      EXPECT_TRUE(torch::equal(e.embedding[0], embeddings[2]));
      EXPECT_TRUE(torch::equal(e.embedding[1], embeddings[1]));
      EXPECT_TRUE(torch::equal(e.mask[1], masks[1]));
      std::string hash = Sha256Hex("never encoded");
      EXPECT_THROW_WITH(encoder->Encode({"a red cube", "never encoded"}), InputError,
                        "1 prompt(s) have no precomputed embedding", "\"never encoded\"",
                        hash.c_str());
    }
  }
}

TEST_F(PrecomputedPlugin, BySampleIndex) {
  TempDir dir;
  std::vector<std::string> prompts = {"first", "second"};
  at::Tensor embeddings = torch::randn({2, 3, 4});
  at::Tensor masks = torch::ones({2, 3}, torch::kBool);
  WriteH5pyStyle(dir / "e.h5", prompts, embeddings, masks, false, false, true);
  auto encoder =
      plugin_->Load(fmt::format("path = \"{}\"\nkey = \"index\"\n", (dir / "e.h5").string()));
  auto* indexed = dynamic_cast<SampleIndexedTextEncoder*>(encoder.get());
  ASSERT_NE(indexed, nullptr);
  TextEncoding e = indexed->EncodeSamples({1, 0, 1});
  EXPECT_TRUE(torch::equal(e.embedding[0], embeddings[1]));
  EXPECT_TRUE(torch::equal(e.embedding[1], embeddings[0]));
  EXPECT_THROW_WITH(indexed->EncodeSamples({2}), InputError, "sample index 2", "2 rows");
  // With the prompts stored too, prompts find their rows.
  EXPECT_TRUE(torch::equal(encoder->Encode({"second"}).embedding[0], embeddings[1]));

  WriteH5pyStyle(dir / "bare.h5", prompts, embeddings, masks, false, false, false);
  auto bare =
      plugin_->Load(fmt::format("path = \"{}\"\nkey = \"index\"\n", (dir / "bare.h5").string()));
  EXPECT_THROW_WITH(bare->Encode({"first"}), InputError, "by sample", "no `prompts` dataset");
}

TEST_F(PrecomputedPlugin, FileErrorsAreLoadErrors) {
  TempDir dir;
  EXPECT_THROW_WITH(Construct(fmt::format("path = \"{}\"\n", (dir / "x.h5").string()))->Load(),
                    InputError, "x.h5", "does not exist");
  WriteFileAtomic(dir / "text.h5", "not hdf5");
  EXPECT_THROW_WITH(Construct(fmt::format("path = \"{}\"\n", (dir / "text.h5").string()))->Load(),
                    InputError, "text.h5", "not an HDF5 file");
  WriteH5pyStyle(dir / "nohash.h5", {"a"}, torch::randn({1, 2, 2}), torch::ones({1, 2}), false,
                 false, false);
  EXPECT_THROW_WITH(Construct(fmt::format("path = \"{}\"\n", (dir / "nohash.h5").string()))->Load(),
                    InputError, "nohash.h5", "no dataset 'prompt_sha256'");
  hid_t f = H5Fcreate((dir / "shape.h5").c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hsize_t e[3] = {2, 3, 4}, m[2] = {2, 5};
  hid_t es = H5Screate_simple(3, e, nullptr), ms = H5Screate_simple(2, m, nullptr);
  H5Dclose(H5Dcreate2(f, "embeddings", H5T_IEEE_F32LE, es, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  H5Dclose(H5Dcreate2(f, "masks", H5T_STD_U8LE, ms, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  H5Sclose(es);
  H5Sclose(ms);
  H5Fclose(f);
  EXPECT_THROW_WITH(
      Construct(fmt::format("path = \"{}\"\nkey = \"index\"\n", (dir / "shape.h5").string()))
          ->Load(),
      InputError, "'masks' must be [N, L] = [2, 3]");
}

}  // namespace
}  // namespace modelgrow
