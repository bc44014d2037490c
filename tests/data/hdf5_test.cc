// HDF5 video shards: export from a pipeline and read back bit-exact through the `hdf5` plugin,
// text embeddings, files written the way h5py writes them, and damaged or foreign files.
#include <cstdlib>
#include <fstream>
#include <set>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <hdf5.h>
#include <torch/torch.h>

#include "data_test_util.h"
#include "modelgrow/data/export.h"
#include "modelgrow/data/loader.h"
#include "modelgrow/data/video_shard.h"
#include "modelgrow/io/atomic_file.h"
#include "test_util.h"

namespace modelgrow {
namespace {

namespace fs = std::filesystem;
using testing::MakePipeline;
using testing::TempDir;

void ExpectSameSample(const Sample& a, const Sample& b, const std::string& what) {
  EXPECT_TRUE(torch::equal(a.video, b.video)) << what;
  EXPECT_EQ(a.captions, b.captions) << what;
  EXPECT_EQ(a.fps, b.fps) << what;
  EXPECT_EQ(a.height, b.height) << what;
  EXPECT_EQ(a.width, b.width) << what;
  EXPECT_EQ(a.labels, b.labels) << what;
}

// A deterministic text encoder: token j of a prompt of n characters embeds as (n + j) * 0.5 + d,
// and its mask covers min(n, L) tokens.
class ToyEncoder : public TextEncoder {
 public:
  int64_t dim() const override { return 3; }
  int64_t max_length() const override { return 5; }
  TextEncoding Encode(const std::vector<std::string>& prompts) override {
    int64_t b = static_cast<int64_t>(prompts.size());
    TextEncoding out;
    out.embedding = torch::zeros({b, 5, 3});
    out.mask = torch::zeros({b, 5}, torch::kBool);
    for (int64_t i = 0; i < b; ++i) {
      int64_t n = static_cast<int64_t>(prompts[i].size());
      for (int64_t j = 0; j < 5; ++j) {
        for (int64_t d = 0; d < 3; ++d) out.embedding[i][j][d] = (n % 97 + j) * 0.5 + d;
        out.mask[i][j] = j < std::min<int64_t>(n % 7, 5);
      }
    }
    return out;
  }
  std::string CacheKey() const override { return "toy-encoder"; }
};

// Samples of two shapes, some unusable.
class MixedPipeline : public DataPipeline {
 public:
  int64_t size() const override { return 9; }
  Sample Get(int64_t index) override {
    if (index == 4) throw SkipSample("corrupt");
    Sample s;
    auto shape = *ShapeOf(index);
    int64_t numel = shape[0] * shape[1] * shape[2] * shape[3];
    s.video = torch::arange(numel, torch::kFloat)
                  .reshape({shape[0], shape[1], shape[2], shape[3]})
                  .mul(0.37f * (index + 1))
                  .sin();
    s.captions["short"] = fmt::format("clip {}", index);
    if (index % 2) s.captions["detailed"] = fmt::format("the detailed caption of clip {}", index);
    s.fps = 24;
    s.height = shape[2] * 8;
    s.width = shape[3] * 8;
    if (index != 0) s.labels = {{"n", index}};
    return s;
  }
  std::optional<std::array<int64_t, 4>> ShapeOf(int64_t index) const override {
    return index % 3 == 0 ? std::array<int64_t, 4>{4, 2, 3, 5} : std::array<int64_t, 4>{4, 3, 2, 2};
  }
  bool latent() const override { return true; }
  std::string CacheKey() const override { return "mixed"; }
};

TEST(Hdf5Shards, ExportThenReadIsBitExactAcrossShards) {
  TempDir dir;
  auto source = MakePipeline("synthetic", "domain = \"continual\"\nsize = 10\nseed = 5");
  for (int compression : {0, 6}) {
    fs::path out = dir / fmt::format("c{}", compression);
    ExportOptions options;
    options.compression = compression;
    options.source = {{"plugin", "synthetic"}};
    std::vector<ExportProgress> progress;
    options.progress = [&](const ExportProgress& p) { progress.push_back(p); };
    ExportResult r = ExportDataset(*source, out, 4, options);
    EXPECT_EQ(r.written, 10);
    EXPECT_EQ(r.skipped, 0);
    ASSERT_EQ(r.shards.size(), 3u);
    EXPECT_TRUE(fs::exists(out / "shard-00002.h5"));
    ASSERT_GE(progress.size(), 3u);
    EXPECT_EQ(progress.back().shards, 3);
    EXPECT_EQ(progress.back().written, 10);
    nlohmann::json manifest = nlohmann::json::parse(ReadFile(out / "export.json"));
    EXPECT_EQ(manifest["samples"], 10);
    EXPECT_EQ(manifest["shards"].size(), 3u);
    EXPECT_EQ(manifest["shards"][2]["samples"], 2);
    EXPECT_EQ(manifest["source"]["plugin"], "synthetic");
    EXPECT_EQ(manifest["pipeline_cache_key"], source->CacheKey());

    auto back = MakePipeline("hdf5", fmt::format("path = \"{}\"", out.string()));
    ASSERT_EQ(back->size(), 10);
    EXPECT_FALSE(back->latent());
    EXPECT_EQ(back->Summary()["shards"], 3);
    for (int64_t i = 0; i < 10; ++i) {
      Sample a = source->Get(i), b = back->Get(i);
      ExpectSameSample(a, b, fmt::format("sample {} (compression {})", i, compression));
      EXPECT_EQ(b.index, i);
      EXPECT_EQ(b.captions.at("detailed"), a.captions.at("detailed"));
    }
  }
  // Compression makes the (very regular) synthetic videos far smaller.
  EXPECT_LT(fs::file_size(dir / "c6/shard-00000.h5") * 3, fs::file_size(dir / "c0/shard-00000.h5"));
}

TEST(Hdf5Shards, KeepsShapesLatentsMissingCaptionsAndSkips) {
  TempDir dir;
  MixedPipeline source;
  ExportResult r = ExportDataset(source, dir.path(), 3);
  EXPECT_EQ(r.written, 8);
  EXPECT_EQ(r.skipped, 1);
  EXPECT_EQ(r.skipped_indices, (std::vector<int64_t>{4}));
  auto back = MakePipeline("hdf5", fmt::format("path = \"{}/*.h5\"", dir.path().string()));
  ASSERT_EQ(back->size(), 8);
  EXPECT_TRUE(back->latent());
  std::vector<int64_t> kept = {0, 1, 2, 3, 5, 6, 7, 8};
  for (int64_t i = 0; i < 8; ++i) {
    Sample a = source.Get(kept[i]), b = back->Get(i);
    ExpectSameSample(a, b, fmt::format("sample {}", i));
    auto shape = back->ShapeOf(i);
    ASSERT_TRUE(shape.has_value());
    EXPECT_EQ(std::vector<int64_t>(shape->begin(), shape->end()), b.video.sizes().vec());
  }
  // The loader buckets the two shapes the shards report.
  LoaderOptions o;
  o.batch_size = 2;
  o.workers = 2;
  DataLoader loader(back, o);
  EXPECT_EQ(loader.batches_per_epoch(), 3);  // 3 of one shape (1 batch), 5 of the other (2)
  std::multiset<int64_t> frames;
  for (int k = 0; k < 3; ++k) frames.insert(loader.Next().video.size(2));
  EXPECT_EQ(frames, (std::multiset<int64_t>{2, 3, 3}));
}

TEST(Hdf5Shards, StoresTextEmbeddingsAndTheLoaderStacksThem) {
  TempDir dir;
  auto source = MakePipeline("synthetic", "domain = \"continual\"\nsize = 6");
  ExportOptions options;
  auto encoder = std::make_shared<ToyEncoder>();
  options.text_encoders.push_back({"toy", encoder, "detailed"});
  options.text_encoders.push_back({"toy_short", encoder, "short"});
  options.encode_batch = 4;
  ExportDataset(*source, dir.path(), 4, options);

  auto back = MakePipeline(
      "hdf5",
      fmt::format("path = [\"{0}/shard-00000.h5\", \"{0}/shard-00001.h5\"]", dir.path().string()));
  ASSERT_EQ(back->size(), 6);
  for (int64_t i = 0; i < 6; ++i) {
    Sample s = back->Get(i);
    TextEncoding expected = encoder->Encode({source->Get(i).captions.at("detailed")});
    ASSERT_TRUE(s.text_embeddings.count("toy"));
    EXPECT_TRUE(torch::equal(s.text_embeddings["toy"].embedding, expected.embedding)) << i;
    EXPECT_TRUE(torch::equal(s.text_embeddings["toy"].mask, expected.mask)) << i;
    EXPECT_TRUE(s.text_embeddings.count("toy_short"));
  }
  auto reader = VideoShardReader::Open(dir / "shard-00000.h5");
  nlohmann::json d = reader->Describe();
  EXPECT_EQ(d["text"]["toy"]["caption"], "detailed");
  EXPECT_EQ(d["text"]["toy"]["encoder"], "toy-encoder");
  EXPECT_EQ(d["text"]["toy"]["length"], 5);
  EXPECT_EQ(d["attributes"]["format"], kVideoShardFormat);
  EXPECT_EQ(reader->text_names(), (std::vector<std::string>{"toy", "toy_short"}));

  LoaderOptions o;
  o.batch_size = 3;
  o.shuffle = false;
  DataLoader loader(back, o);
  Batch b = loader.Next();
  EXPECT_EQ(b.text_embeddings["toy"].embedding.sizes(), (std::vector<int64_t>{3, 5, 3}));
  EXPECT_EQ(b.text_embeddings["toy"].mask.sizes(), (std::vector<int64_t>{3, 5}));

  auto without = MakePipeline(
      "hdf5",
      fmt::format("path = \"{}\"\ntext_embeddings = false\nlabels = false", dir.path().string()));
  EXPECT_TRUE(without->Get(0).text_embeddings.empty());
  EXPECT_TRUE(without->Get(0).labels.is_null());
}

TEST(Hdf5Shards, RefusesToOverwriteAnExportUnlessAsked) {
  TempDir dir;
  auto source = MakePipeline("synthetic", "size = 3");
  ExportDataset(*source, dir.path(), 2);
  std::string folder = dir.path().string();
  EXPECT_THROW_WITH(ExportDataset(*source, dir.path(), 2), InputError, folder.c_str(),
                    "already holds an export", "--overwrite");
  ExportOptions options;
  options.overwrite = true;
  options.limit = 1;
  ExportResult r = ExportDataset(*source, dir.path(), 2, options);
  EXPECT_EQ(r.written, 1);
  EXPECT_FALSE(fs::exists(dir / "shard-00001.h5"));
  EXPECT_EQ(MakePipeline("hdf5", fmt::format("path = \"{}\"", dir.path().string()))->size(), 1);
  EXPECT_THROW_WITH(ExportDataset(*source, dir / "x", 0), InputError,
                    "samples per shard must be >= 1");
  options.begin = 7;
  EXPECT_THROW_WITH(ExportDataset(*source, dir / "y", 2, options), InputError, "first index 7");
}

// Opens a shard for editing with the HDF5 C API, the way another tool would.
class RawFile {
 public:
  explicit RawFile(const fs::path& p) : id_(H5Fopen(p.c_str(), H5F_ACC_RDWR, H5P_DEFAULT)) {
    EXPECT_GE(id_, 0) << p;
  }
  ~RawFile() { H5Fclose(id_); }
  hid_t id() const { return id_; }
  void Delete(const char* path) { EXPECT_GE(H5Ldelete(id_, path, H5P_DEFAULT), 0) << path; }
  // A dataset of `type` and `dims`, filled with zeros.
  void Create(const char* path, hid_t type, std::vector<hsize_t> dims) {
    hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t ds = H5Dcreate2(id_, path, type, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    EXPECT_GE(ds, 0) << path;
    size_t n = 1;
    for (hsize_t d : dims) n *= d;
    std::vector<char> zeros(n * H5Tget_size(type), 0);
    H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, zeros.data());
    H5Dclose(ds);
    H5Pclose(lcpl);
    H5Sclose(space);
  }

 private:
  hid_t id_;
};

fs::path GoodShard(const TempDir& dir, const std::string& name) {
  VideoShardWriter w(dir / name, {});
  for (int i = 0; i < 3; ++i) {
    Sample s;
    s.video = torch::full({3, 2, 4, 4}, 0.25f * i);
    s.captions["short"] = "clip";
    s.fps = 8;
    s.height = s.width = 4;
    TextEncoding t;
    t.embedding = torch::ones({1, 4, 2});
    s.text_embeddings["enc"] = t;
    w.Add(s);
  }
  w.Commit();
  return dir / name;
}

TEST(Hdf5Shards, DamagedAndForeignFilesAreClearErrorsNamingFileAndDataset) {
  TempDir dir;
  fs::path good = GoodShard(dir, "good.h5");
  EXPECT_EQ(VideoShardReader::Open(good)->size(), 3);

  fs::path truncated = dir / "truncated.h5";
  fs::copy_file(good, truncated);
  fs::resize_file(truncated, fs::file_size(good) / 2);
  EXPECT_THROW_WITH(VideoShardReader::Open(truncated), InputError, "truncated.h5", "truncated");
  EXPECT_THROW_WITH(MakePipeline("hdf5", fmt::format("path = \"{}\"", truncated.string())),
                    InputError, "data pipeline 'hdf5'", "truncated.h5");

  WriteFileAtomic(dir / "text.h5", "not an HDF5 file at all");
  EXPECT_THROW_WITH(VideoShardReader::Open(dir / "text.h5"), InputError, "text.h5",
                    "cannot open as HDF5");

  struct Case {
    const char* name;
    std::function<void(RawFile&)> damage;
    std::vector<const char*> message;
  };
  std::vector<Case> cases = {
      {"no_fps.h5", [](RawFile& f) { f.Delete("/fps"); }, {"dataset '/fps'", "missing"}},
      {"no_video.h5",
       [](RawFile& f) { f.Delete("/videos/2"); },
       {"dataset '/videos/2'", "missing"}},
      {"flat_video.h5",
       [](RawFile& f) {
         f.Delete("/videos/1");
         f.Create("/videos/1", H5T_NATIVE_FLOAT, {3, 4, 4});
       },
       {"dataset '/videos/1'", "expected [C, T, H, W], found shape [3, 4, 4]"}},
      {"int_video.h5",
       [](RawFile& f) {
         f.Delete("/videos/0");
         f.Create("/videos/0", H5T_NATIVE_INT32, {3, 2, 4, 4});
       },
       {"dataset '/videos/0'", "floating-point"}},
      {"short_captions.h5",
       [](RawFile& f) {
         f.Delete("/height");
         f.Create("/height", H5T_NATIVE_INT64, {2});
       },
       {"dataset '/height'", "expected 3 values (one per sample), found shape [2]"}},
      {"string_fps.h5",
       [](RawFile& f) {
         f.Delete("/fps");
         hid_t t = H5Tcopy(H5T_C_S1);
         H5Tset_size(t, 4);
         f.Create("/fps", t, {3});
         H5Tclose(t);
       },
       {"dataset '/fps'", "expected numbers"}},
      {"bad_text.h5",
       [](RawFile& f) {
         f.Delete("/text/enc/embedding");
         f.Create("/text/enc/embedding", H5T_NATIVE_FLOAT, {2, 4, 2});
       },
       {"dataset '/text/enc/embedding'", "expected [N=3, L, D], found shape [2, 4, 2]"}},
      {"no_format.h5",
       [](RawFile& f) { H5Adelete(f.id(), "format"); },
       {"not a ModelGrow video shard", "'format' is missing", "docs/formats.md"}},
      {"future.h5",
       [](RawFile& f) {
         H5Adelete(f.id(), "format_version");
         hid_t space = H5Screate(H5S_SCALAR);
         hid_t a =
             H5Acreate2(f.id(), "format_version", H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
         int64_t v = 99;
         H5Awrite(a, H5T_NATIVE_INT64, &v);
         H5Aclose(a);
         H5Sclose(space);
       },
       {"'format_version' is 99", "reads versions 1 to 1"}},
  };
  for (const Case& c : cases) {
    fs::path p = dir / c.name;
    fs::copy_file(good, p);
    {
      RawFile f(p);
      c.damage(f);
    }
    SCOPED_TRACE(c.name);
    try {
      VideoShardReader::Open(p);
      ADD_FAILURE() << "no error for " << c.name;
    } catch (const InputError& e) {
      std::string m = e.what();
      EXPECT_NE(m.find(c.name), std::string::npos) << m;
      for (const char* part : c.message) EXPECT_NE(m.find(part), std::string::npos) << m;
    }
  }
}

TEST(Hdf5Shards, ReadsTheTypesH5pyWrites) {
  // h5py stores numpy bool as an 8-bit enum, may write fixed-length strings, float64 or float16
  // arrays and int32 sizes; all of them read.
  TempDir dir;
  fs::path p = dir / "h5py_like.h5";
  hid_t file = H5Fcreate(p.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  auto attr_string = [&](const char* name, const char* value) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(file, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, t, &value);
    H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
  };
  attr_string("format", kVideoShardFormat);
  {
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(file, "format_version", H5T_STD_I64LE, s, H5P_DEFAULT, H5P_DEFAULT);
    int64_t v = 1;
    H5Awrite(a, H5T_NATIVE_INT64, &v);
    H5Aclose(a);
    H5Sclose(s);
  }
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  auto dataset = [&](const char* name, hid_t type, std::vector<hsize_t> dims, const void* data) {
    hid_t s = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
    hid_t d = H5Dcreate2(file, name, type, s, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    EXPECT_GE(H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), 0) << name;
    H5Dclose(d);
    H5Sclose(s);
  };
  hid_t fixed = H5Tcopy(H5T_C_S1);
  H5Tset_size(fixed, 8);
  H5Tset_strpad(fixed, H5T_STR_NULLPAD);
  dataset("/captions/short", fixed, {2}, "a cat\0\0\0two dogs");
  H5Tclose(fixed);
  std::vector<double> video0(3 * 2 * 2 * 2), video1(3 * 2 * 2 * 2);
  for (size_t k = 0; k < video0.size(); ++k) video0[k] = k * 0.125, video1[k] = -0.5;
  dataset("/videos/0", H5T_IEEE_F64LE, {3, 2, 2, 2}, video0.data());
  dataset("/videos/1", H5T_IEEE_F64LE, {3, 2, 2, 2}, video1.data());
  std::vector<float> fps = {24, 30};
  dataset("/fps", H5T_IEEE_F32LE, {2}, fps.data());
  std::vector<int32_t> size = {16, 16};
  dataset("/height", H5T_STD_I32LE, {2}, size.data());
  dataset("/width", H5T_STD_I32LE, {2}, size.data());
  std::vector<float> embedding(2 * 3 * 2, 1.5f);
  dataset("/text/t5/embedding", H5T_IEEE_F32LE, {2, 3, 2}, embedding.data());
  hid_t boolean = H5Tenum_create(H5T_NATIVE_INT8);
  int8_t no = 0, yes = 1;
  H5Tenum_insert(boolean, "FALSE", &no);
  H5Tenum_insert(boolean, "TRUE", &yes);
  std::vector<int8_t> mask = {1, 1, 0, 1, 0, 0};
  dataset("/text/t5/mask", boolean, {2, 3}, mask.data());
  H5Tclose(boolean);
  H5Pclose(lcpl);
  H5Fclose(file);

  auto reader = VideoShardReader::Open(p);
  ASSERT_EQ(reader->size(), 2);
  Sample s0 = reader->Read(0), s1 = reader->Read(1);
  EXPECT_EQ(s0.captions.at("short"), "a cat");
  EXPECT_EQ(s1.captions.at("short"), "two dogs");
  EXPECT_FLOAT_EQ(s0.video[2][1][1][1].item<float>(), 23 * 0.125f);
  EXPECT_EQ(s1.fps, 30);
  EXPECT_EQ(s1.height, 16);
  EXPECT_TRUE(torch::equal(s0.text_embeddings["t5"].mask, torch::tensor({{true, true, false}})));
  EXPECT_TRUE(torch::equal(s1.text_embeddings["t5"].mask, torch::tensor({{true, false, false}})));
  EXPECT_TRUE(s0.labels.is_null());
  EXPECT_FALSE(reader->latent());
}

// A Python interpreter that has `module` ("" when none has): the one on PATH, or the system's
// (where Debian's python3-h5py installs).
std::string PythonWith(const char* module) {
  for (const char* python : {"python3", "/usr/bin/python3"}) {
    if (std::system(fmt::format("{} -c 'import {}' >/dev/null 2>&1", python, module).c_str()) == 0)
      return python;
  }
  return "";
}

// The h5py snippet in docs/formats.md, run as written: its shard must read.
TEST(Hdf5Shards, TheDocumentedH5pySnippetWritesAReadableShard) {
  std::string python = PythonWith("h5py");
  if (python.empty()) GTEST_SKIP() << "python3 with h5py is not installed";
  TempDir dir;
  std::string doc = ReadFile(fs::path(MODELGROW_SOURCE_DIR) / "docs/formats.md");
  std::string begin = "```python\n# modelgrow-shard-writer\n";
  size_t start = doc.find(begin);
  ASSERT_NE(start, std::string::npos) << "docs/formats.md lacks the h5py writer snippet";
  start += std::string("```python\n").size();
  size_t end = doc.find("```", start);
  WriteFileAtomic(dir / "writer.py", doc.substr(start, end - start));
  std::string command = fmt::format("cd {} && {} writer.py", dir.path().string(), python);
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  auto back = MakePipeline("hdf5", fmt::format("path = \"{}/my_shard.h5\"", dir.path().string()));
  ASSERT_GT(back->size(), 0);
  Sample s = back->Get(0);
  EXPECT_EQ(s.video.dim(), 4);
  EXPECT_FALSE(s.captions.at("short").empty());
  EXPECT_FALSE(s.captions.at("detailed").empty());
  EXPECT_TRUE(s.text_embeddings.count("t5"));
  EXPECT_FALSE(s.labels.is_null());

  // And h5py reads what the exporter writes.
  auto source = MakePipeline("synthetic", "size = 2");
  ExportDataset(*source, dir / "export", 2);
  std::string reader = fmt::format(
      "{} -c 'import h5py, json; f = h5py.File(\"{}/export/shard-00000.h5\", \"r\"); "
      "assert f.attrs[\"format\"] == \"modelgrow.video_shard\"; "
      "assert f[\"videos/1\"].shape == (3, 8, 32, 32); "
      "assert f[\"captions/short\"].asstr()[0].startswith(\"a \"); "
      "assert json.loads(f[\"labels\"].asstr()[1])[\"count\"] == 1'",
      python, dir.path().string());
  EXPECT_EQ(std::system(reader.c_str()), 0) << reader;
}

TEST(Hdf5Shards, StandardHdf5ToolsReadExportedShards) {
  if (std::system("h5dump --version >/dev/null 2>&1") != 0) GTEST_SKIP() << "h5dump not installed";
  TempDir dir;
  ExportDataset(*MakePipeline("synthetic", "size = 2"), dir.path(), 2);
  std::string command = fmt::format("h5dump -H {}/shard-00000.h5 > {}/dump.txt",
                                    dir.path().string(), dir.path().string());
  ASSERT_EQ(std::system(command.c_str()), 0);
  std::string dump = ReadFile(dir / "dump.txt");
  EXPECT_NE(dump.find("DATASET \"short\""), std::string::npos);
  EXPECT_NE(dump.find("H5T_CSET_UTF8"), std::string::npos);
  EXPECT_NE(dump.find("DATASPACE  SIMPLE { ( 3, 8, 32, 32 )"), std::string::npos);
}

TEST(Hdf5Shards, ShardPathsResolveFromFoldersGlobsAndLists) {
  TempDir dir;
  GoodShard(dir, "b.h5");
  GoodShard(dir, "a.h5");
  fs::create_directories(dir / "empty");
  auto names = [](const std::vector<fs::path>& paths) {
    std::vector<std::string> out;
    for (const auto& p : paths) out.push_back(p.filename().string());
    return out;
  };
  EXPECT_EQ(names(ResolveShardPaths({dir.path().string()})),
            (std::vector<std::string>{"a.h5", "b.h5"}));
  EXPECT_EQ(names(ResolveShardPaths({(dir / "b*.h5").string(), (dir / "a.h5").string()})),
            (std::vector<std::string>{"b.h5", "a.h5"}));
  EXPECT_THROW_WITH(ResolveShardPaths({(dir / "c*.h5").string()}), InputError,
                    "no shard file matches");
  EXPECT_THROW_WITH(ResolveShardPaths({(dir / "empty").string()}), InputError,
                    "holds no .h5 shard files");
  EXPECT_THROW_WITH(ResolveShardPaths({(dir / "nope.h5").string()}), InputError, "nope.h5",
                    "does not exist");
  EXPECT_THROW_WITH(MakePipeline("hdf5", ""), ValidationError, "path", "missing required key");
  EXPECT_THROW_WITH(
      MakePipeline("hdf5", fmt::format("path = \"{}\"\nshuffle = true", dir.path().string())),
      ValidationError, "unknown key 'shuffle'");
  auto two = MakePipeline("hdf5", fmt::format("path = \"{}\"", dir.path().string()));
  EXPECT_EQ(two->size(), 6);
  EXPECT_FLOAT_EQ(two->Get(5).video.max().item<float>(), 0.5f);
  EXPECT_THROW_WITH(two->Get(6), InputError, "index 6 out of range [0, 6)");
}

TEST(Hdf5Shards, WriterRejectsSamplesThatDoNotFit) {
  TempDir dir;
  VideoShardWriter w(dir / "w.h5", {});
  Sample s;
  s.video = torch::zeros({3, 1, 2, 2});
  EXPECT_THROW_WITH(w.Add(s), InputError, "no \"short\" caption");
  s.captions["short"] = "x";
  s.video = torch::zeros({3, 2, 2});
  EXPECT_THROW_WITH(w.Add(s), InputError, "[C, T, H, W]");
  s.video = torch::zeros({3, 1, 2, 2});
  w.Add(s);
  TextEncoding t;
  t.embedding = torch::zeros({1, 4, 2});
  s.text_embeddings["enc"] = t;
  EXPECT_THROW_WITH(w.Add(s), InputError, "carries text embeddings [enc]",
                    "first sample carried []");
  EXPECT_THROW_WITH(VideoShardWriter(dir / "z.h5", {.compression = 12}), InputError,
                    "gzip level 0-9");
  // Not committed: nothing is left behind.
}

}  // namespace
}  // namespace modelgrow
