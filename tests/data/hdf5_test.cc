// The HDF5 layer (sdk/hdf5.h) and the video shards built on it: the layer's reads, writes, errors
// and its one lock under threads; shard export and reading back bit-exact with text embeddings,
// label schemas and targets; files written the way h5py writes them; damaged or foreign files.
// The `hdf5` data plugin's own tests are in datasets/hdf5/.
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <span>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <hdf5.h>
#include <torch/torch.h>

#include "data_test_util.h"
#include "hdf5_heap_check.h"
#include "modelgrow/data/export.h"
#include "modelgrow/data/shard_paths.h"
#include "modelgrow/data/video_shard_reader.h"
#include "modelgrow/data/video_shard_writer.h"
#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/sdk/hdf5.h"
#include "test_paths.h"
#include "test_util.h"

namespace modelgrow {
namespace {

namespace fs = std::filesystem;
using testing::LabelledPixels;
using testing::MakePipeline;
using testing::MixedLatents;
using testing::TempDir;

void ExpectSameSample(const Sample& a, const Sample& b, const std::string& what) {
  EXPECT_TRUE(torch::equal(a.video, b.video)) << what;
  EXPECT_EQ(a.captions, b.captions) << what;
  EXPECT_EQ(a.fps, b.fps) << what;
  EXPECT_EQ(a.height, b.height) << what;
  EXPECT_EQ(a.width, b.width) << what;
  EXPECT_EQ(a.labels, b.labels) << what;
  EXPECT_EQ(a.targets, b.targets) << what;
}

// The samples of every shard in `dir`, in order.
std::vector<Sample> ReadAll(const fs::path& dir) {
  std::vector<Sample> out;
  for (const fs::path& file : ResolveShardPaths({dir.string()})) {
    auto reader = VideoShardReader::Open(file);
    for (int64_t i = 0; i < reader->size(); ++i) out.push_back(reader->Read(i));
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// The HDF5 layer

TEST(Hdf5Layer, WritesAndReadsNumbersStringsRowsAndAttributes) {
  TempDir dir;
  fs::path path = dir / "layer.h5";
  {
    hdf5::File f = hdf5::File::Create(path);
    std::vector<double> values = {0.5, -1.25, 3};
    f.CreateDataset("numbers/double", hdf5::Type::kFloat64, {3})
        .Write(std::span<const double>(values));
    std::vector<int64_t> grid(2 * 3 * 4);
    for (size_t k = 0; k < grid.size(); ++k) grid[k] = static_cast<int64_t>(k) * 7 - 40;
    f.CreateDataset("grid", hdf5::Type::kInt64, {2, 3, 4}, {.chunk = {1, 3, 4}, .gzip = 4})
        .Write(std::span<const int64_t>(grid));
    hdf5::Dataset grown =
        f.CreateDataset("rows", hdf5::Type::kFloat32, {0, 2}, {.chunk = {1, 2}, .growable = true});
    for (int r = 0; r < 3; ++r) {
      std::vector<float> row = {r * 1.5f, -r * 1.0f};
      grown.AppendRows(1, std::span<const float>(row));
    }
    f.WriteStrings("text/words", {"ünïcode", "", "a longer string"});
    f.SetAttribute("name", "layer test");
    f.SetAttribute("count", int64_t{3});
    f.SetAttribute("count", int64_t{4});  // replaces
    f.OpenGroup("text").SetAttribute("kind", "words");
    grown.SetAttribute("unit", "px");
    f.Flush();
    f.Close();
  }
  hdf5::File f = hdf5::File::Open(path);
  EXPECT_TRUE(f.Exists("numbers/double"));
  EXPECT_TRUE(f.Exists("/text/words"));
  EXPECT_FALSE(f.Exists("text/nothing"));
  EXPECT_FALSE(f.Exists("grid/below_a_dataset"));
  EXPECT_EQ(f.Children(), (std::vector<std::string>{"grid", "numbers", "rows", "text"}));
  EXPECT_EQ(f.Children("text"), (std::vector<std::string>{"words"}));
  EXPECT_EQ(f.Attributes(), (nlohmann::json{{"count", 4}, {"name", "layer test"}}));
  EXPECT_EQ(f.OpenGroup("/text").Attributes()["kind"], "words");

  hdf5::Dataset d = f.OpenDataset("numbers/double");
  EXPECT_EQ(d.type_class(), hdf5::Class::kFloat);
  std::vector<double> doubles(3);
  d.Read(std::span<double>(doubles));
  EXPECT_EQ(doubles, (std::vector<double>{0.5, -1.25, 3}));
  std::vector<int64_t> as_integers(3);
  d.Read(std::span<int64_t>(as_integers));  // HDF5 converts
  EXPECT_EQ(as_integers[2], 3);

  hdf5::Dataset grid = f.OpenDataset("grid");
  EXPECT_EQ(grid.dims(), (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(grid.type_class(), hdf5::Class::kInteger);
  std::vector<int64_t> second(12);
  grid.ReadRows(1, 1, std::span<int64_t>(second));
  EXPECT_EQ(second.front(), 12 * 7 - 40);
  EXPECT_EQ(second.back(), 23 * 7 - 40);
  std::vector<float> as_floats(24);
  grid.Read(std::span<float>(as_floats));
  EXPECT_EQ(as_floats[5], 5 * 7 - 40);

  hdf5::Dataset rows = f.OpenDataset("rows");
  EXPECT_EQ(rows.dims(), (std::vector<int64_t>{3, 2}));
  std::vector<float> last_two(4);
  rows.ReadRows(1, 2, std::span<float>(last_two));
  EXPECT_EQ(last_two, (std::vector<float>{1.5f, -1.0f, 3.0f, -2.0f}));
  EXPECT_EQ(rows.Attributes()["unit"], "px");

  hdf5::Dataset words = f.OpenDataset("text/words");
  EXPECT_EQ(words.type_class(), hdf5::Class::kString);
  EXPECT_TRUE(words.variable_length_strings());
  EXPECT_EQ(words.ReadStrings(), (std::vector<std::string>{"ünïcode", "", "a longer string"}));
  EXPECT_EQ(words.path(), "text/words");
  EXPECT_EQ(words.file(), path);
}

TEST(Hdf5Layer, ReportsCorruptAndForeignFilesWithTheirPathAndHdf5sReason) {
  TempDir dir;
  fs::path good = dir / "good.h5";
  {
    hdf5::File f = hdf5::File::Create(good);
    std::vector<float> values(4096, 1.0f);
    f.CreateDataset("values", hdf5::Type::kFloat32, {4096}).Write(std::span<const float>(values));
    f.WriteStrings("names", {"a", "b"});
  }
  fs::path truncated = dir / "truncated.h5";
  fs::copy_file(good, truncated);
  fs::resize_file(truncated, fs::file_size(good) / 3);
  EXPECT_THROW_WITH(hdf5::File::Open(truncated), InputError, truncated.string().c_str(),
                    "cannot open as HDF5", "truncated");

  WriteFileAtomic(dir / "text.h5", "plain text, not HDF5");
  EXPECT_THROW_WITH(hdf5::File::Open(dir / "text.h5"), InputError, "text.h5", "not an HDF5 file");
  EXPECT_THROW_WITH(hdf5::File::Open(dir / "absent.h5"), InputError, "absent.h5", "does not exist");

  hdf5::File f = hdf5::File::Open(good);
  EXPECT_THROW_WITH(f.OpenDataset("/nothing"), InputError, "good.h5", "dataset '/nothing'",
                    "missing");
  EXPECT_THROW_WITH(f.OpenGroup("values"), InputError, "good.h5", "group 'values'", "not a group");
  std::vector<float> two(2);
  EXPECT_THROW_WITH(f.OpenDataset("names").Read(std::span<float>(two)), InputError,
                    "dataset 'names'", "expected numbers");
  EXPECT_THROW_WITH(f.OpenDataset("values").ReadStrings(), InputError, "dataset 'values'",
                    "expected strings");
  std::vector<float> one(1);
  EXPECT_THROW_WITH(f.OpenDataset("values").ReadRows(4096, 1, std::span<float>(one)), InputError,
                    "rows [4096, 4097) outside its 4096 rows");
  EXPECT_THROW_WITH(f.OpenDataset("values").Fail("is not what we wanted"), InputError,
                    "good.h5: dataset 'values': is not what we wanted");
  // Creating where a file cannot be is a RunError naming it.
  EXPECT_THROW_WITH(hdf5::File::Create(dir / "no/such/folder/x.h5"), RunError, "x.h5",
                    "cannot create");
}

// Two files read at once from many threads: every read, of either file, holds the one lock, so
// an HDF5 built without thread safety (Debian's) returns every value right.
TEST(Hdf5Layer, ConcurrentReadsOfTwoFilesFromManyThreadsAreCorrect) {
  TempDir dir;
  constexpr int64_t kRows = 64, kWidth = 257;
  auto value = [](int file, int64_t row, int64_t column) {
    return static_cast<float>(file * 100000 + row * 1000 + column);
  };
  for (int file = 0; file < 2; ++file) {
    hdf5::File f = hdf5::File::Create(dir / fmt::format("f{}.h5", file));
    std::vector<float> values(kRows * kWidth);
    for (int64_t r = 0; r < kRows; ++r)
      for (int64_t c = 0; c < kWidth; ++c) values[r * kWidth + c] = value(file, r, c);
    f.CreateDataset("values", hdf5::Type::kFloat32, {kRows, kWidth},
                    {.chunk = {1, kWidth}, .gzip = file == 1 ? 3 : 0})
        .Write(std::span<const float>(values));
    std::vector<std::string> names;
    for (int64_t r = 0; r < kRows; ++r) names.push_back(fmt::format("file {} row {}", file, r));
    f.WriteStrings("names", names);
    f.SetAttribute("file", int64_t{file});
  }
  hdf5::File shared[2] = {hdf5::File::Open(dir / "f0.h5"), hdf5::File::Open(dir / "f1.h5")};
  hdf5::Dataset shared_values[2] = {shared[0].OpenDataset("values"),
                                    shared[1].OpenDataset("values")};
  std::atomic<int64_t> wrong{0}, reads{0};
  std::atomic<bool> failed{false};
  std::string failure;
  std::mutex failure_mutex;
  auto work = [&](int thread) {
    std::mt19937 rng(thread);
    try {
      for (int k = 0; k < 300; ++k) {
        int file = (thread + k) % 2;
        int64_t row = static_cast<int64_t>(rng() % kRows);
        std::vector<float> out(2 * kWidth);
        int64_t count = row + 1 < kRows ? 2 : 1;
        std::span<float> rows(out.data(), count * kWidth);
        if (k % 3 == 0) {
          // A file and dataset of this thread's own, opened and closed right here.
          hdf5::File own = hdf5::File::Open(dir / fmt::format("f{}.h5", file));
          own.OpenDataset("values").ReadRows(row, count, rows);
          if (own.Attributes()["file"] != file) ++wrong;
          if (own.OpenDataset("names").ReadStrings()[row] !=
              fmt::format("file {} row {}", file, row))
            ++wrong;
        } else {
          shared_values[file].ReadRows(row, count, rows);
        }
        for (int64_t r = 0; r < count; ++r)
          for (int64_t c = 0; c < kWidth; ++c)
            if (out[r * kWidth + c] != value(file, row + r, c)) ++wrong;
        ++reads;
      }
    } catch (const std::exception& e) {
      std::lock_guard lock(failure_mutex);
      failed = true;
      failure = e.what();
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) threads.emplace_back(work, t);
  for (std::thread& t : threads) t.join();
  EXPECT_FALSE(failed) << failure;
  EXPECT_EQ(reads, 8 * 300);
  EXPECT_EQ(wrong, 0);
}

// ------------------------------------------------------------------------------------------------
// Shards: export, writer and reader

TEST(VideoShards, ExportThenReadIsBitExactAcrossShards) {
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

    std::vector<Sample> back = ReadAll(out);
    ASSERT_EQ(back.size(), 10u);
    EXPECT_FALSE(VideoShardReader::Open(out / "shard-00000.h5")->latent());
    for (int64_t i = 0; i < 10; ++i) {
      Sample a = source->Get(i);
      ExpectSameSample(a, back[i], fmt::format("sample {} (compression {})", i, compression));
      EXPECT_EQ(back[i].captions.at("detailed"), a.captions.at("detailed"));
    }
  }
  // Compression makes the (very regular) synthetic videos far smaller.
  EXPECT_LT(fs::file_size(dir / "c6/shard-00000.h5") * 3, fs::file_size(dir / "c0/shard-00000.h5"));
}

TEST(VideoShards, KeepShapesLatentsMissingCaptionsAndSkips) {
  TempDir dir;
  MixedLatents source;
  ExportResult r = ExportDataset(source, dir.path(), 3);
  EXPECT_EQ(r.written, 8);
  EXPECT_EQ(r.skipped, 1);
  EXPECT_EQ(r.skipped_indices, (std::vector<int64_t>{4}));
  std::vector<int64_t> kept = {0, 1, 2, 3, 5, 6, 7, 8};
  std::vector<Sample> back = ReadAll(dir.path());
  ASSERT_EQ(back.size(), 8u);
  for (int64_t i = 0; i < 8; ++i)
    ExpectSameSample(source.Get(kept[i]), back[i], fmt::format("{}", i));
  auto reader = VideoShardReader::Open(dir / "shard-00000.h5");
  EXPECT_TRUE(reader->latent());
  EXPECT_EQ(reader->Shape(0), (std::array<int64_t, 4>{4, 2, 3, 5}));
  EXPECT_EQ(reader->Shape(1), (std::array<int64_t, 4>{4, 3, 2, 2}));
  EXPECT_FALSE(reader->label_schema().has_value());
  EXPECT_EQ(reader->caption_kinds(), (std::vector<std::string>{"detailed", "short"}));
}

TEST(VideoShards, StoreTextEmbeddingsOfTheCaptionAsked) {
  TempDir dir;
  auto source = MakePipeline("synthetic", "domain = \"continual\"\nsize = 6");
  ExportOptions options;
  auto encoder = std::make_shared<testing::HashedWords>(3, 5, "toy-encoder");
  options.text_encoders.push_back({"toy", encoder, "detailed"});
  options.text_encoders.push_back({"toy_short", encoder, "short"});
  options.encode_batch = 4;
  ExportDataset(*source, dir.path(), 4, options);

  std::vector<Sample> back = ReadAll(dir.path());
  ASSERT_EQ(back.size(), 6u);
  for (int64_t i = 0; i < 6; ++i) {
    Sample& s = back[i];
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
  EXPECT_TRUE(reader->Read(1, false).text_embeddings.empty());
}

TEST(VideoShards, StoreTheLabelSchemaAndEveryTarget) {
  TempDir dir;
  LabelledPixels source;
  ExportDataset(source, dir.path(), 3);
  std::vector<Sample> back = ReadAll(dir.path());
  ASSERT_EQ(back.size(), 7u);
  for (int64_t i = 0; i < 7; ++i) ExpectSameSample(source.Get(i), back[i], fmt::format("{}", i));
  EXPECT_EQ(back[1].targets, (std::map<std::string, int64_t>{{"color", 1}}));  // no count shown
  EXPECT_EQ(back[2].targets, (std::map<std::string, int64_t>{{"color", 2}, {"count", 1}}));
  auto reader = VideoShardReader::Open(dir / "shard-00002.h5");
  ASSERT_TRUE(reader->label_schema().has_value());
  EXPECT_EQ(*reader->label_schema(), LabelledPixels::Schema());
  EXPECT_EQ(reader->Describe()["label_categories"], (nlohmann::json{"color", "count"}));
  nlohmann::json manifest = nlohmann::json::parse(ReadFile(dir / "export.json"));
  EXPECT_EQ(LabelSchema::FromJson(manifest["label_schema"]), LabelledPixels::Schema());

  // As stored: an int64 matrix with -1 where a category is not shown, its columns named.
  std::string python = fmt::format(
      "/usr/bin/python3 -c 'import h5py, json; f = h5py.File(\"{}/shard-00000.h5\", \"r\"); "
      "assert f[\"targets\"][()].tolist() == [[0, 0], [1, -1], [2, 1]]; "
      "assert json.loads(f[\"targets\"].attrs[\"categories\"]) == [\"color\", \"count\"]; "
      "assert json.loads(f.attrs[\"label_schema\"])[\"classes\"][\"count\"] == [\"one\", \"two\"]'"
      " 2>&1",
      dir.path().string());
  if (std::system("/usr/bin/python3 -c 'import h5py' >/dev/null 2>&1") == 0) {
    EXPECT_EQ(std::system(python.c_str()), 0) << python;
  }
}

TEST(VideoShards, WriterRejectsTargetsOutsideTheSchema) {
  TempDir dir;
  Sample s;
  s.video = torch::zeros({3, 1, 2, 2});
  s.captions["short"] = "x";
  s.targets["color"] = 0;
  {
    VideoShardWriter none(dir / "none.h5", {});
    EXPECT_THROW_WITH(none.Add(s), InputError, "carries targets", "no label schema");
  }
  VideoShardWriterOptions options;
  options.label_schema = LabelledPixels::Schema();
  VideoShardWriter w(dir / "w.h5", options);
  s.targets = {{"colour", 0}};
  EXPECT_THROW_WITH(w.Add(s), InputError, "target category 'colour' is not in the label schema",
                    "color, count");
  s.targets = {{"count", 2}};
  EXPECT_THROW_WITH(w.Add(s), InputError, "target 'count' = 2; expected a class index in [0, 2)");
  s.targets = {};
  w.Add(s);  // shows nothing: every target -1
  w.Commit();
  auto reader = VideoShardReader::Open(dir / "w.h5");
  EXPECT_TRUE(reader->Read(0).targets.empty());
  EXPECT_EQ(*reader->label_schema(), LabelledPixels::Schema());
  EXPECT_FALSE(fs::exists(dir / "none.h5"));
}

// A multi-label category's targets (bit sets of classes) are stored as they are and checked
// against the set's classes on both sides; the continual synthetic world has one (colors).
TEST(VideoShards, StoreMultiLabelTargetsAsBitSets) {
  TempDir dir;
  LabelSchema schema;
  schema.classes = {{"colors", {"red", "green", "blue"}}};
  schema.multi_label = {"colors"};
  VideoShardWriterOptions options;
  options.label_schema = schema;
  VideoShardWriter w(dir / "w.h5", options);
  Sample s;
  s.video = torch::zeros({3, 1, 2, 2});
  s.captions["short"] = "x";
  s.targets = {{"colors", 0}};
  EXPECT_THROW_WITH(w.Add(s), InputError,
                    "target 'colors' = 0; expected a non-empty set of its 3 classes");
  s.targets = {{"colors", 0b1000}};
  EXPECT_THROW_WITH(w.Add(s), InputError, "target 'colors' = 8", "[1, 2^3)");
  s.targets = {{"colors", 0b101}};
  w.Add(s);
  w.Commit();
  auto reader = VideoShardReader::Open(dir / "w.h5");
  EXPECT_EQ(reader->Read(0).targets, (std::map<std::string, int64_t>{{"colors", 0b101}}));
  EXPECT_EQ(*reader->label_schema(), schema);

  auto continual = MakePipeline("synthetic", "domain = \"continual\"\nsize = 12");
  ExportDataset(*continual, dir / "continual", 4);
  std::vector<Sample> back = ReadAll(dir / "continual");
  ASSERT_EQ(back.size(), 12u);
  int with_colors = 0;
  for (int64_t i = 0; i < 12; ++i) {
    EXPECT_EQ(back[i].targets, continual->Get(i).targets) << i;
    with_colors += back[i].targets.count("colors");
  }
  EXPECT_GT(with_colors, 0);
}

TEST(VideoShards, RefuseToOverwriteAnExportUnlessAsked) {
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
  EXPECT_EQ(ReadAll(dir.path()).size(), 1u);
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
  // A dataset of `type` and `dims`, filled with `fill` bytes.
  void Create(const char* path, hid_t type, std::vector<hsize_t> dims, char fill = 0) {
    hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t ds = H5Dcreate2(id_, path, type, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    EXPECT_GE(ds, 0) << path;
    size_t n = 1;
    for (hsize_t d : dims) n *= d;
    std::vector<char> bytes(n * H5Tget_size(type), fill);
    H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes.data());
    H5Dclose(ds);
    H5Pclose(lcpl);
    H5Sclose(space);
  }
  void SetString(const char* object, const char* name, const char* value) {
    hid_t o = H5Oopen(id_, object, H5P_DEFAULT);
    if (H5Aexists(o, name) > 0) H5Adelete(o, name);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(o, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, t, &value);
    H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
    H5Oclose(o);
  }
  void SetInt(const char* name, int64_t v) {
    H5Adelete(id_, name);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(id_, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_INT64, &v);
    H5Aclose(a);
    H5Sclose(space);
  }

 private:
  hid_t id_;
};

fs::path GoodShard(const TempDir& dir, const std::string& name, bool labelled = false,
                   bool masked = false) {
  VideoShardWriterOptions options;
  if (labelled) options.label_schema = LabelledPixels::Schema();
  VideoShardWriter w(dir / name, options);
  for (int i = 0; i < 3; ++i) {
    Sample s;
    s.video = torch::full({3, 2, 4, 4}, 0.25f * i);
    s.captions["short"] = "clip";
    s.fps = 8;
    s.height = s.width = 4;
    TextEncoding t;
    t.embedding = torch::ones({1, 4, 2});
    if (masked) t.mask = torch::tensor({{true, true, true, false}});
    s.text_embeddings["enc"] = t;
    if (labelled) s.targets["color"] = i;
    w.Add(s);
  }
  w.Commit();
  return dir / name;
}

TEST(VideoShards, DamagedAndForeignFilesAreClearErrorsNamingFileAndDataset) {
  TempDir dir;
  fs::path good = GoodShard(dir, "good.h5");
  EXPECT_EQ(VideoShardReader::Open(good)->size(), 3);
  fs::path labelled = GoodShard(dir, "labelled.h5", true);
  EXPECT_EQ(VideoShardReader::Open(labelled)->Read(2).targets.at("color"), 2);

  fs::path truncated = dir / "truncated.h5";
  fs::copy_file(good, truncated);
  fs::resize_file(truncated, fs::file_size(good) / 2);
  EXPECT_THROW_WITH(VideoShardReader::Open(truncated), InputError, "truncated.h5", "truncated");

  WriteFileAtomic(dir / "text.h5", "not an HDF5 file at all");
  EXPECT_THROW_WITH(VideoShardReader::Open(dir / "text.h5"), InputError, "text.h5",
                    "cannot open as HDF5");
  EXPECT_THROW_WITH(VideoShardReader::Open(dir / "none.h5"), InputError, "none.h5",
                    "does not exist");

  struct Case {
    const char* name;
    fs::path from;
    std::function<void(RawFile&)> damage;
    std::vector<const char*> message;
  };
  std::vector<Case> cases = {
      {"no_fps.h5", good, [](RawFile& f) { f.Delete("/fps"); }, {"dataset '/fps'", "missing"}},
      {"no_video.h5",
       good,
       [](RawFile& f) { f.Delete("/videos/2"); },
       {"dataset '/videos/2'", "missing"}},
      {"flat_video.h5",
       good,
       [](RawFile& f) {
         f.Delete("/videos/1");
         f.Create("/videos/1", H5T_NATIVE_FLOAT, {3, 4, 4});
       },
       {"dataset '/videos/1'", "expected [C, T, H, W], found shape [3, 4, 4]"}},
      {"int_video.h5",
       good,
       [](RawFile& f) {
         f.Delete("/videos/0");
         f.Create("/videos/0", H5T_NATIVE_INT32, {3, 2, 4, 4});
       },
       {"dataset '/videos/0'", "floating-point"}},
      {"short_captions.h5",
       good,
       [](RawFile& f) {
         f.Delete("/height");
         f.Create("/height", H5T_NATIVE_INT64, {2});
       },
       {"dataset '/height'", "expected 3 values (one per sample), found shape [2]"}},
      {"string_fps.h5",
       good,
       [](RawFile& f) {
         f.Delete("/fps");
         hid_t t = H5Tcopy(H5T_C_S1);
         H5Tset_size(t, 4);
         f.Create("/fps", t, {3});
         H5Tclose(t);
       },
       {"dataset '/fps'", "expected numbers"}},
      {"bad_text.h5",
       good,
       [](RawFile& f) {
         f.Delete("/text/enc/embedding");
         f.Create("/text/enc/embedding", H5T_NATIVE_FLOAT, {2, 4, 2});
       },
       {"dataset '/text/enc/embedding'", "expected [N=3, L, D], found shape [2, 4, 2]"}},
      {"no_format.h5",
       good,
       [](RawFile& f) { H5Adelete(f.id(), "format"); },
       {"not a ModelGrow video shard", "'format' is missing", "docs/formats.md"}},
      {"future.h5",
       good,
       [](RawFile& f) { f.SetInt("format_version", 99); },
       {"'format_version' is 99", "reads versions 1 to 1"}},
      {"targets_without_schema.h5",
       labelled,
       [](RawFile& f) { H5Adelete(f.id(), "label_schema"); },
       {"dataset '/targets'", "'label_schema' it indexes into is missing"}},
      {"schema_without_targets.h5",
       labelled,
       [](RawFile& f) { f.Delete("/targets"); },
       {"dataset '/targets'", "missing"}},
      {"bad_schema.h5",
       labelled,
       [](RawFile& f) { f.SetString(".", "label_schema", "{\"classes\": 3}"); },
       {"root attribute 'label_schema' is not a label schema"}},
      {"target_out_of_range.h5",
       labelled,
       [](RawFile& f) {
         f.Delete("/targets");
         f.Create("/targets", H5T_NATIVE_INT8, {3, 2}, 7);
       },
       {"dataset '/targets'", "'color' = 7; expected a class index in [0, 3)"}},
      {"targets_shape.h5",
       labelled,
       [](RawFile& f) {
         f.Delete("/targets");
         f.Create("/targets", H5T_NATIVE_INT64, {3, 3});
       },
       {"dataset '/targets'", "expected [N=3, K=2]", "found shape [3, 3]"}},
      {"targets_columns.h5",
       labelled,
       [](RawFile& f) { f.SetString("/targets", "categories", "[\"count\", \"color\"]"); },
       {"dataset '/targets'", "attribute 'categories' is [\"count\", \"color\"]"}},
  };
  for (const Case& c : cases) {
    fs::path p = dir / c.name;
    fs::copy_file(c.from, p);
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

// The little-endian number of 8 bytes at `at` in `bytes` (HDF5 stores sizes and addresses so).
uint64_t Little64(const std::string& bytes, size_t at) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(bytes[at + i]);
  return v;
}

// `value` as 8 little-endian bytes.
std::string Little64Bytes(uint64_t value) {
  std::string bytes;
  for (int i = 0; i < 8; ++i) bytes += static_cast<char>((value >> (8 * i)) & 0xff);
  return bytes;
}

// The descriptions on HDF5's current error stack, one per line.
std::string Hdf5ErrorStack() {
  std::string messages;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_DOWNWARD,
      [](unsigned, const H5E_error2_t* e, void* out) -> herr_t {
        *static_cast<std::string*>(out) += std::string(e->desc ? e->desc : "") + "\n";
        return 0;
      },
      &messages);
  return messages;
}

// HDF5's error stack after the first of `paths` whose lookup fails in `file`, opened through the
// checking file driver, or "" when every lookup succeeds. The reader takes a failed lookup for
// absence ("missing"), so the driver's reason is read here.
std::string FirstLookupErrors(const fs::path& file, std::initializer_list<const char*> paths) {
  hid_t h5 = H5Fopen(file.c_str(), H5F_ACC_RDONLY, hdf5::HeapCheckingFileAccess());
  EXPECT_GE(h5, 0) << file;
  std::string messages;
  H5E_BEGIN_TRY {
    for (const char* path : paths) {
      if (H5Lexists(h5, path, H5P_DEFAULT) < 0) {
        messages = Hdf5ErrorStack();
        break;
      }
    }
  }
  H5E_END_TRY;
  H5Fclose(h5);
  return messages;
}

// Replaces the dataset at `path` in `file` (opened with `fapl`) by one of `type` and `dims` laid
// out as `dcpl` says, holding `values` (given as `memory_type`), or nothing written when `values`
// is null.
void ReplaceDataset(const fs::path& file, const char* path, hid_t type, std::vector<hsize_t> dims,
                    hid_t dcpl, hid_t memory_type = -1, const void* values = nullptr,
                    hid_t fapl = H5P_DEFAULT) {
  hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDWR, fapl);
  EXPECT_GE(f, 0) << file;
  H5Ldelete(f, path, H5P_DEFAULT);
  hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  hid_t d = H5Dcreate2(f, path, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  EXPECT_GE(d, 0) << path;
  if (values != nullptr)
    EXPECT_GE(H5Dwrite(d, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values), 0) << path;
  H5Dclose(d);
  H5Sclose(space);
  H5Fclose(f);
}

// A dataset creation property list of compact layout (data kept in the object header).
hid_t CompactLayout() {
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_layout(dcpl, H5D_COMPACT);
  return dcpl;
}

// Where variable-length strings live (global heap collections): HDF5 1.10 parses a collection
// whose free space has size 0 forever, allocates whatever length a string's descriptor states,
// and lists attributes through a table that crashes on a corrupt attribute message. All were
// found by fuzz_hdf5_shard; all are clear errors now.
TEST(VideoShards, CorruptStringStorageIsAnErrorNotAHang) {
  TempDir dir;
  fs::path good = GoodShard(dir, "good.h5");
  std::string bytes = ReadFile(good);
  // Each collection: "GCOL", version 1, 3 reserved bytes, its size (8 bytes); then objects of an
  // index (2), a reference count (2), 4 reserved bytes, a size (8) and the data padded to 8.
  size_t collection = bytes.find("GCOL\x01");
  ASSERT_NE(collection, std::string::npos);
  const uint64_t size = Little64(bytes, collection + 8);
  size_t object = collection + 16, free_space = std::string::npos;
  while (object + 16 <= collection + size) {
    const unsigned index = static_cast<unsigned char>(bytes[object]) |
                           static_cast<unsigned char>(bytes[object + 1]) << 8;
    if (index == 0) {
      free_space = object;
      break;
    }
    object += 16 + (Little64(bytes, object + 8) + 7) / 8 * 8;
  }
  ASSERT_NE(free_space, std::string::npos) << "the shard's first collection has no free space";
  for (int i = 0; i < 8; ++i) bytes[free_space + 8 + i] = 0;
  WriteFileAtomic(dir / "looping_heap.h5", bytes);
  EXPECT_THROW_WITH(
      {
        auto reader = VideoShardReader::Open(dir / "looping_heap.h5");
        for (int64_t i = 0; i < reader->size(); ++i) reader->Read(i);
      },
      InputError, "looping_heap.h5", "global heap collection at byte", "is corrupt",
      "the free space at", "has size 0");
  // The reader checks strings' descriptors before HDF5 reads them; the file driver under it
  // checks each collection as HDF5 reads it, whoever asks (here HDF5's own API).
  {
    hid_t h5 =
        H5Fopen((dir / "looping_heap.h5").c_str(), H5F_ACC_RDONLY, hdf5::HeapCheckingFileAccess());
    ASSERT_GE(h5, 0);
    hid_t format = H5Aopen(h5, "format", H5P_DEFAULT);
    hid_t type = H5Aget_type(format);
    char* value = nullptr;
    H5E_BEGIN_TRY { EXPECT_LT(H5Aread(format, type, &value), 0); }
    H5E_END_TRY;
    const std::string messages = Hdf5ErrorStack();
    EXPECT_NE(messages.find("corrupt global heap collection at byte"), std::string::npos)
        << messages;
    H5Tclose(type);
    H5Aclose(format);
    H5Fclose(h5);
  }

  // A string whose stored length is 4 GB: HDF5 would allocate that before reading it.
  hid_t h5 = H5Fopen(good.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t captions = H5Dopen2(h5, "/captions/short", H5P_DEFAULT);
  const haddr_t descriptors = H5Dget_offset(captions);
  const hsize_t descriptor_bytes = H5Dget_storage_size(captions);
  H5Dclose(captions);
  H5Fclose(h5);
  ASSERT_NE(descriptors, HADDR_UNDEF);
  std::string long_string = ReadFile(good);
  for (int i = 0; i < 4; ++i) long_string[descriptors + 16 + i] = '\xf0';  // string 1
  WriteFileAtomic(dir / "long_string.h5", long_string);
  EXPECT_THROW_WITH(VideoShardReader::Open(dir / "long_string.h5"), InputError,
                    "long_string.h5: dataset '/captions/short'", "string 1 claims 4042322160 bytes",
                    "more than the whole file");

  // A string naming a heap object its collection lacks: HDF5 would index past its table.
  std::string missing_object = ReadFile(good);
  missing_object[descriptors + 16 + 12] = '\x77';
  WriteFileAtomic(dir / "missing_object.h5", missing_object);
  EXPECT_THROW_WITH(VideoShardReader::Open(dir / "missing_object.h5"), InputError,
                    "dataset '/captions/short'", "string 1 names object 119",
                    "which has no such object");
  // An empty string names an object too (of 0 bytes), which HDF5 reads whatever the length says:
  // a length of 0 left the descriptor unchecked, and HDF5 indexed past the table with it.
  std::string empty_missing_object = missing_object;
  for (int i = 0; i < 4; ++i) empty_missing_object[descriptors + 16 + i] = '\0';
  WriteFileAtomic(dir / "empty_missing_object.h5", empty_missing_object);
  EXPECT_THROW_WITH(VideoShardReader::Open(dir / "empty_missing_object.h5"), InputError,
                    "dataset '/captions/short'", "string 1 names object 119",
                    "which has no such object");

  // HDF5 reads the descriptors the dataspace states, whatever size the layout states for their
  // storage: one byte more left them unchecked (and HDF5 indexed past the heap's table with one),
  // one byte less is refused. A contiguous layout message (version 3): 3, 1, the address, the size.
  auto with_stated_storage = [&](const std::string& name, const std::string& from, hsize_t stated) {
    std::string b = ReadFile(dir / from);
    const std::string layout = std::string("\x03\x01", 2) + Little64Bytes(descriptors);
    const size_t at = b.find(layout + Little64Bytes(descriptor_bytes));
    if (at == std::string::npos) {
      ADD_FAILURE() << "no layout message for the descriptors at byte " << descriptors;
      return dir / name;
    }
    b.replace(at + layout.size(), 8, Little64Bytes(stated));
    WriteFileAtomic(dir / name, b);
    return dir / name;
  };
  EXPECT_THROW_WITH(VideoShardReader::Open(with_stated_storage(
                        "larger_storage.h5", "missing_object.h5", descriptor_bytes + 1)),
                    InputError, "dataset '/captions/short'", "string 1 names object 119",
                    "which has no such object");
  EXPECT_THROW_WITH(VideoShardReader::Open(
                        with_stated_storage("smaller_storage.h5", "good.h5", descriptor_bytes - 1)),
                    InputError, "smaller_storage.h5: dataset '/captions/short'",
                    fmt::format("descriptors need {} bytes but its storage states {}",
                                descriptor_bytes, descriptor_bytes - 1));

  // Strings whose characters are 16 MB each: HDF5 allocates a string's length times its
  // characters' size, which it takes from the file (a 20 KB shard asked for 21 GB). Characters of
  // 16 MB now meet the datatype walk first (numbers of at most 8 KB); 2-byte ones reach the reader.
  // `after_format`: the type of attribute 'format', which follows its name; else the type of every
  // string dataset, in a datatype message (of a version 1 object header: type 3 in 2 bytes).
  const std::string good_bytes = ReadFile(good);
  auto with_wide_characters = [&](const std::string& name, bool after_format,
                                  uint32_t size = (1u << 24) + 1) {
    // A variable-length string type (version 1, class 9, string variant) of 16 bytes whose base
    // type (a fixed-point number) is 1 byte; that size is made `size`.
    std::string b = good_bytes;
    const std::string base("\x10\x00\x00\x00\x10\x00\x00\x00\x01\x00\x00\x00", 12);
    int patched = 0;
    for (size_t at = 8; at + 16 <= b.size(); ++at) {
      if (b[at] != '\x19' || (b[at + 1] & 0x0F) != 1 || b.compare(at + 4, 12, base) != 0) continue;
      if (after_format ? b.compare(at - 8, 8, std::string("format\0\0", 8)) == 0
                       : b.compare(at - 8, 2, std::string("\x03\x00", 2)) == 0) {
        for (int k = 0; k < 4; ++k) b[at + 12 + k] = static_cast<char>(size >> (8 * k));
        ++patched;
      }
    }
    EXPECT_GT(patched, 0) << name;
    WriteFileAtomic(dir / name, b);
    return dir / name;
  };
  EXPECT_THROW_WITH(VideoShardReader::Open(with_wide_characters("wide_attribute.h5", true)),
                    InputError, "wide_attribute.h5",
                    "attribute 'format': a fixed-point datatype of 16777217 bytes (1 to 8,192)");
  EXPECT_THROW_WITH(VideoShardReader::Open(with_wide_characters("wide_captions.h5", false)),
                    InputError, "wide_captions.h5: dataset '/captions/",
                    "a fixed-point datatype of 16777217 bytes (1 to 8,192)");
  // Characters that a number could be but a string's are not: refused where the strings are read.
  EXPECT_THROW_WITH(VideoShardReader::Open(with_wide_characters("two_byte_captions.h5", false, 2)),
                    InputError, "two_byte_captions.h5: dataset '/captions/",
                    "its characters are 2 bytes each (expected 1)");

  // An attribute's value is copied by its type's size times its element count, whatever its
  // message holds: a string type of 13-byte descriptors (HDF5 read past its buffer), and a number
  // of 64 bytes in a message holding 8.
  auto with_size_after = [&](const std::string& name, const std::string& attribute_name, char from,
                             char to) {
    std::string b = good_bytes;
    // In a version 1 attribute message the datatype follows the name, padded to 8 bytes; its
    // size is bytes 4 to 7.
    const size_t type_at = b.find(attribute_name + std::string(1, '\0'));
    if (type_at == std::string::npos) {
      ADD_FAILURE() << "no attribute message named " << attribute_name;
      return dir / name;
    }
    const size_t size_at = type_at + (attribute_name.size() + 1 + 7) / 8 * 8 + 4;
    EXPECT_EQ(b[size_at], from) << attribute_name;
    b[size_at] = to;
    WriteFileAtomic(dir / name, b);
    return dir / name;
  };
  EXPECT_THROW_WITH(
      VideoShardReader::Open(with_size_after("short_descriptor.h5", "format", 16, 13)), InputError,
      "short_descriptor.h5", "attribute 'format' stores each string in 13 bytes (expected 16");
  EXPECT_THROW_WITH(
      VideoShardReader::Open(with_size_after("wide_number.h5", "format_version", 8, 64)),
      InputError, "wide_number.h5",
      "attribute 'format_version' needs 64 bytes of data (1 of 64 bytes) but holds 8");

  // HDF5 decodes a datatype by what it states, whatever its message holds: a string type whose
  // class byte turned into an enumeration's (members named past the message: a heap-buffer
  // overflow in strdup), and likewise a dataset's float64 type (decoded when it is opened).
  {
    std::string b = good_bytes;
    const size_t type_at = b.find(std::string("format\0\0", 8));
    ASSERT_NE(type_at, std::string::npos);
    EXPECT_EQ(b[type_at + 8], '\x19');  // version 1, class 9: variable-length
    b[type_at + 8] = '\x18';            // class 8: enumeration
    WriteFileAtomic(dir / "enum_attribute.h5", b);
  }
  EXPECT_THROW_WITH(VideoShardReader::Open(dir / "enum_attribute.h5"), InputError,
                    "enum_attribute.h5", "attribute 'format': an enumeration datatype",
                    "whose description overruns its");
  {
    // Version 1 attribute messages have a reserved byte where later versions have flags; HDF5
    // ignores it, so a reserved byte saying "shared datatype" must not skip the check.
    std::string b = ReadFile(dir / "enum_attribute.h5");
    const size_t name_at = b.find(std::string("format\0\0", 8));
    EXPECT_EQ(b[name_at - 8], '\x01');  // version 1
    b[name_at - 7] = '\x31';
    WriteFileAtomic(dir / "enum_attribute_reserved_byte.h5", b);
  }
  EXPECT_THROW_WITH(VideoShardReader::Open(dir / "enum_attribute_reserved_byte.h5"), InputError,
                    "enum_attribute_reserved_byte.h5",
                    "attribute 'format': an enumeration datatype",
                    "whose description overruns its");
  // IEEE float64, little-endian, as HDF5 1.10 encodes it (version 1, class 1).
  const std::string float64("\x11\x20\x3f\x00\x08\x00\x00\x00\x00\x00\x40\x00\x34\x0b\x00\x34", 16);
  {
    std::string b = good_bytes;
    const size_t at = b.find(float64);
    ASSERT_NE(at, std::string::npos) << "no float64 datatype message (the fps dataset's)";
    b[at] = '\x18';
    WriteFileAtomic(dir / "enum_dataset.h5", b);
  }
  EXPECT_THROW_WITH(VideoShardReader::Open(dir / "enum_dataset.h5"), InputError,
                    "enum_dataset.h5: dataset '/fps'",
                    "its datatype: a fixed-point datatype of 872418100 bytes");

  // HDF5 converts numbers by the bit positions their datatype states: a mask's 1-byte values whose
  // bits started at bit 65,280 (in an h5py mask's enumeration, H5T__conv_i_i read 8 KB past them;
  // found by fuzz_hdf5_shard), a float64 whose exponent lay past its 64 bits.
  {
    std::string b = ReadFile(GoodShard(dir, "masked.h5", false, true));
    // The mask's datatype message (type 3 of a version 1 header): an unsigned 8-bit integer.
    const std::string uint8("\x10\x00\x00\x00\x01\x00\x00\x00\x00\x00\x08\x00", 12);
    size_t at = b.find(uint8);
    while (at != std::string::npos && b.compare(at - 8, 2, std::string("\x03\x00", 2)) != 0)
      at = b.find(uint8, at + 1);
    ASSERT_NE(at, std::string::npos) << "no 8-bit integer dataset (the mask)";
    b[at + 9] = '\xff';
    WriteFileAtomic(dir / "mask_bits_outside.h5", b);
  }
  EXPECT_THROW_WITH(VideoShardReader::Open(dir / "mask_bits_outside.h5")->Read(0), InputError,
                    "mask_bits_outside.h5: object '/text/enc/mask'",
                    "a fixed-point datatype whose 8 bits from bit 65280 do not fit its 1 byte");
  {
    std::string b = good_bytes;
    const size_t at = b.find(float64);
    ASSERT_NE(at, std::string::npos);
    b[at + 12] = '\x3c';  // the exponent at bit 60, 11 bits long
    WriteFileAtomic(dir / "float_bits_outside.h5", b);
  }
  EXPECT_THROW_WITH(VideoShardReader::Open(dir / "float_bits_outside.h5"), InputError,
                    "float_bits_outside.h5: dataset '/fps'",
                    "a floating-point datatype whose sign (bit 63), exponent (bits 60 to 71)");

  // Strings stored compact (in the object header): HDF5 copies what the dataspace states from it,
  // whatever it holds, and the descriptors cannot be checked there.
  {
    fs::path compact = GoodShard(dir, "compact_strings.h5");
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    hid_t dcpl = CompactLayout();
    const char* values[3] = {"a", "b", "c"};
    ReplaceDataset(compact, "/captions/short", type, {3}, dcpl, type, values);
    H5Pclose(dcpl);
    H5Tclose(type);
    EXPECT_THROW_WITH(VideoShardReader::Open(compact), InputError,
                      "compact_strings.h5: dataset '/captions/short'",
                      "its strings are stored compact");
  }
  {
    // Numbers stored compact that hold what their dataspace states are read.
    fs::path compact = GoodShard(dir, "compact_numbers.h5");
    hid_t dcpl = CompactLayout();
    const double fps[3] = {12, 24, 30};
    ReplaceDataset(compact, "/fps", H5T_IEEE_F64LE, {3}, dcpl, H5T_NATIVE_DOUBLE, fps);
    H5Pclose(dcpl);
    EXPECT_EQ(VideoShardReader::Open(compact)->Read(2).fps, 30);
  }

  // Strings end up in JSON (dataset info, reports), which only holds UTF-8.
  fs::path latin1 = GoodShard(dir, "latin1.h5");
  {
    hid_t f = H5Fopen(latin1.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    H5Adelete(f, "source");
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    hid_t scalar = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, "source", type, scalar, H5P_DEFAULT, H5P_DEFAULT);
    const char* value = "caf\xe9";
    H5Awrite(a, type, &value);
    H5Aclose(a);
    H5Sclose(scalar);
    H5Tclose(type);
    H5Fclose(f);
  }
  EXPECT_THROW_WITH(VideoShardReader::Open(latin1), InputError, "latin1.h5",
                    "attribute 'source' is not valid UTF-8");

  // Names of members end up in JSON too: a caption kind whose name is not UTF-8 (HDF5 takes any
  // bytes but '/' and NUL).
  fs::path foreign_name = GoodShard(dir, "foreign_name.h5");
  {
    hid_t f = H5Fopen(foreign_name.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(
        H5Lcreate_hard(f, "/captions/short", f, "/captions/d\x9b\x8bled", H5P_DEFAULT, H5P_DEFAULT),
        0);
    H5Fclose(f);
  }
  EXPECT_THROW_WITH(VideoShardReader::Open(foreign_name), InputError,
                    "foreign_name.h5: group '/captions'", "has a name that is not valid UTF-8");

  // A local heap (where a group keeps its members' names) whose first free block names itself as
  // the next: HDF5 walks the list forever, allocating as it goes (24 GB before the kernel stopped
  // it). The file driver refuses the heap as HDF5 reads it.
  {
    std::string looping = good_bytes;
    const size_t heap = looping.find(std::string("HEAP\0", 5));
    ASSERT_NE(heap, std::string::npos);
    const uint64_t first_free = Little64(looping, heap + 16), data = Little64(looping, heap + 24);
    ASSERT_NE(first_free, 1u) << "the shard's first local heap has no free block";
    for (int i = 0; i < 8; ++i)
      looping[data + first_free + i] = static_cast<char>(first_free >> (8 * i));
    WriteFileAtomic(dir / "looping_local_heap.h5", looping);
    EXPECT_THROW_WITH(VideoShardReader::Open(dir / "looping_local_heap.h5"), InputError,
                      "looping_local_heap.h5");
    const std::string messages = FirstLookupErrors(dir / "looping_local_heap.h5", {"/captions"});
    EXPECT_NE(messages.find("corrupt local heap at byte"), std::string::npos) << messages;
    EXPECT_NE(messages.find("its list of free blocks loops"), std::string::npos) << messages;
  }

  // Local heaps naming the same data: HDF5 caches a heap's data by its address, and a lookup
  // through the second dereferenced a null pointer (SEGV in H5HL_unprotect). Every group's heap
  // here names the root group's data.
  {
    std::string shared = good_bytes;
    const std::string signature("HEAP\0", 5);
    const size_t first = shared.find(signature);
    int patched = 0;
    for (size_t at = shared.find(signature, first + 1); at != std::string::npos;
         at = shared.find(signature, at + 1), ++patched)
      shared.replace(at + 8, 24, shared.substr(first + 8, 24));  // size, free list, data
    ASSERT_GT(patched, 0) << "the shard has one local heap";
    WriteFileAtomic(dir / "shared_local_heap_data.h5", shared);
    EXPECT_THROW_WITH(VideoShardReader::Open(dir / "shared_local_heap_data.h5"), InputError,
                      "shared_local_heap_data.h5");
    const std::string messages = FirstLookupErrors(
        dir / "shared_local_heap_data.h5", {"/captions/short", "/text/enc/embedding", "/videos/0"});
    EXPECT_NE(messages.find(fmt::format("is the data of the local heap at byte {} too", first)),
              std::string::npos)
        << messages;
  }

  // An attribute the format does not name is neither read nor shown.
  fs::path extra = GoodShard(dir, "extra.h5");
  hid_t file = H5Fopen(extra.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(file, 0);
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t attribute = H5Acreate2(file, "my_note", H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
  int64_t note = 7;
  H5Awrite(attribute, H5T_NATIVE_INT64, &note);
  H5Aclose(attribute);
  H5Sclose(space);
  H5Fclose(file);
  nlohmann::json shown = VideoShardReader::Open(extra)->Describe()["attributes"];
  EXPECT_EQ(shown.value("format", ""), kVideoShardFormat);
  EXPECT_FALSE(shown.contains("my_note"));
}

// HDF5 1.10 decodes a filter's client data by the count it states and copies a fill value by the
// size it states, bounded by nothing else; both are checked when the header is walked, in the
// formats HDF5 writes by default (pipeline version 1, fill value version 2) and in its latest
// (pipeline version 2, whose reserved filters have no name; fill value version 3).
TEST(VideoShards, FiltersAndFillValuesThatOverrunTheirMessagesAreRefused) {
  TempDir dir;
  const double fill = 12345.5;
  for (const bool latest : {false, true}) {
    SCOPED_TRACE(latest ? "latest format" : "default format");
    const std::string prefix = latest ? "latest_" : "default_";
    fs::path good = GoodShard(dir, prefix + "deflated.h5");
    {
      hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
      if (latest) H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
      hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
      const hsize_t chunk[1] = {3};
      H5Pset_chunk(dcpl, 1, chunk);
      H5Pset_deflate(dcpl, 6);
      H5Pset_fill_value(dcpl, H5T_NATIVE_DOUBLE, &fill);
      const double fps[3] = {8, 8, 8};
      ReplaceDataset(good, "/fps", H5T_IEEE_F64LE, {3}, dcpl, H5T_NATIVE_DOUBLE, fps, fapl);
      H5Pclose(dcpl);
      H5Pclose(fapl);
    }
    EXPECT_EQ(VideoShardReader::Open(good)->Read(2).fps, 8);
    const std::string good_bytes = ReadFile(good);
    auto refused = [&](const std::string& name, const std::string& bytes, const char* problem) {
      WriteFileAtomic(dir / (prefix + name), bytes);
      EXPECT_THROW_WITH(VideoShardReader::Open(dir / (prefix + name)), InputError,
                        prefix + name + ": dataset '/fps'", problem);
    };

    // The deflate filter's description: an id (1), a name length and a name ("deflate") in
    // version 1 only, flags, a count of client data values, then the values (the level, 6).
    size_t count_at = std::string::npos;
    if (latest) {
      const std::string head("\x02\x01\x01\x00", 4), tail("\x01\x00\x06\x00\x00\x00", 6);
      for (size_t at = good_bytes.find(head); at != std::string::npos;
           at = good_bytes.find(head, at + 1)) {
        if (good_bytes.compare(at + 6, 6, tail) == 0) {
          count_at = at + 6;
          break;
        }
      }
    } else {
      const size_t name_at = good_bytes.find(std::string("deflate\0", 8));
      ASSERT_NE(name_at, std::string::npos);
      count_at = name_at - 2;
      std::string b = good_bytes;
      for (size_t k = 0; k < 8; ++k) b[name_at + k] = 'x';
      refused("unterminated_name.h5", b,
              "its filters: filter 1's name does not end within its 8 bytes");
    }
    ASSERT_NE(count_at, std::string::npos) << "no deflate filter";
    ASSERT_EQ(good_bytes[count_at], '\x01');  // one value: the level
    std::string b = good_bytes;
    b[count_at] = b[count_at + 1] = '\xff';
    refused("many_values.h5", b,
            "its filters: filter 1 states 65535 client data values, more than its message");

    // The fill value follows its size (4 bytes).
    std::string value(sizeof fill, '\0');
    std::memcpy(value.data(), &fill, sizeof fill);
    const size_t value_at = good_bytes.find(value);
    ASSERT_NE(value_at, std::string::npos);
    ASSERT_EQ(good_bytes.substr(value_at - 4, 4), std::string("\x08\0\0\0", 4));
    b = good_bytes;
    b[value_at - 1] = '\x7f';
    refused("large_fill.h5", b, "its fill value: a fill value of 2130706440 bytes in a message of");
  }
}

// A sample's tensors are allocated before HDF5 reads (or fills) them: a text embedding stating
// far more values than the file could hold, even compressed, is refused when the shard is opened
// (one stating [4, 4294967289] floats per sample made Read allocate 68 GB; found by
// fuzz_hdf5_shard). So is a video.
TEST(VideoShards, SamplesLargerThanTheFileCouldHoldAreRefusedBeforeTheyAreAllocated) {
  TempDir dir;
  auto replace_with_unwritten = [&](const std::string& name, const char* path,
                                    std::vector<hsize_t> dims) {
    fs::path file = GoodShard(dir, name);
    const std::vector<hsize_t> chunk(dims.size(), 1);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, static_cast<int>(chunk.size()), chunk.data());
    ReplaceDataset(file, path, H5T_IEEE_F32LE, dims, dcpl);
    H5Pclose(dcpl);
    return file;
  };
  EXPECT_THROW_WITH(VideoShardReader::Open(replace_with_unwritten(
                        "embedding.h5", "/text/enc/embedding", {3, 4, 4294967289})),
                    InputError, "embedding.h5: dataset '/text/enc/embedding'",
                    "one sample states 17179869156 values (68719476624 bytes), more than the",
                    "file can hold even compressed");
  EXPECT_THROW_WITH(
      VideoShardReader::Open(replace_with_unwritten("video.h5", "/videos/1", {3, 2, 8192, 8192})),
      InputError, "video.h5: dataset '/videos/1'", "one sample states");
  // What a file this size can hold compressed is read.
  EXPECT_EQ(VideoShardReader::Open(replace_with_unwritten("small.h5", "/videos/1", {3, 2, 8, 8}))
                ->Read(1)
                .video.sizes(),
            (std::vector<int64_t>{3, 2, 8, 8}));
}

// Where the length of the first continuation message in the version 1 object header at
// `header` (an address in `bytes`) is, or npos when its first block of messages has none. A
// version 1 header: 16 bytes of prefix (its first block's size at 8), then messages of a type (2
// bytes), a size (2), flags and 3 reserved bytes; a continuation (type 0x10) holds an address and
// a length of 8 bytes.
size_t ContinuationLengthAt(const std::string& bytes, uint64_t header) {
  if (header + 16 > bytes.size() || bytes[header] != '\x01') return std::string::npos;
  uint64_t size = 0;
  for (int i = 3; i >= 0; --i)
    size = (size << 8) | static_cast<unsigned char>(bytes[header + 8 + i]);
  for (uint64_t at = header + 16; at + 8 <= header + 16 + size && at + 8 <= bytes.size();) {
    const unsigned type =
        static_cast<unsigned char>(bytes[at]) | static_cast<unsigned char>(bytes[at + 1]) << 8;
    const unsigned message =
        static_cast<unsigned char>(bytes[at + 2]) | static_cast<unsigned char>(bytes[at + 3]) << 8;
    if (type == 0x10 && message >= 16) return at + 8 + 8;
    at += 8 + message;
  }
  return std::string::npos;
}

// The address of the object header `path` links to in `file`.
uint64_t HeaderAddress(const fs::path& file, const char* path) {
  hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  H5O_info_t info;
  info.addr = HADDR_UNDEF;
  if (f >= 0) H5Oget_info_by_name2(f, path, &info, H5O_INFO_BASIC, H5P_DEFAULT);
  H5Fclose(f);
  return info.addr;
}

// Adds `count` integer attributes to the object at `path`, so that its header outgrows its first
// block and continues in another.
void GrowHeader(const fs::path& file, const char* path, int count) {
  hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  hid_t o = H5Oopen(f, path, H5P_DEFAULT);
  hid_t space = H5Screate(H5S_SCALAR);
  for (int i = 0; i < count; ++i) {
    const std::string name = fmt::format("padding_attribute_{}", i);
    hid_t a = H5Acreate2(o, name.c_str(), H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    const int64_t v = i;
    H5Awrite(a, H5T_NATIVE_INT64, &v);
    H5Aclose(a);
  }
  H5Sclose(space);
  H5Oclose(o);
  H5Fclose(f);
}

// HDF5 1.10 allocates the size a continuation message states for the block of messages it names
// before reading it, checked against nothing: a 20 KB shard whose root group's header continued
// in a block of 4 GB made H5Fopen allocate 4 GB (found by fuzz_hdf5_shard). Every header is
// walked before HDF5 loads it: the root group's before the file is opened (from the superblock),
// a group's or dataset's before its name is looked up below it or it is opened.
TEST(VideoShards, ObjectHeaderBlocksBeyondTheFilesEndAreRefusedBeforeHdf5LoadsThem) {
  TempDir dir;
  fs::path good = GoodShard(dir, "good.h5");
  GrowHeader(good, "/fps", 12);
  GrowHeader(good, "/captions", 12);
  ASSERT_EQ(VideoShardReader::Open(good)->size(), 3);
  const std::string bytes = ReadFile(good);
  // 4 GB and 46 KB, as in the input found; the file is about 30 KB.
  const uint64_t stated = (uint64_t{1} << 32) + 47104;
  auto with_block_beyond_end = [&](const std::string& name, const char* path) {
    std::string b = bytes;
    const uint64_t header = HeaderAddress(good, path);
    const size_t length_at = ContinuationLengthAt(b, header);
    if (length_at == std::string::npos) {
      ADD_FAILURE() << path << "'s header (at byte " << header << ") has no continuation";
      return dir / name;
    }
    b.replace(length_at, 8, Little64Bytes(stated));
    WriteFileAtomic(dir / name, b);
    return dir / name;
  };
  const std::string beyond = fmt::format("a continuation block ({} bytes at byte", stated);
  const std::string end = fmt::format("lies beyond the file's end (byte {})", bytes.size());
  EXPECT_THROW_WITH(VideoShardReader::Open(with_block_beyond_end("root.h5", "/")), InputError,
                    "root.h5: cannot open as HDF5: the root group's object header cannot be read "
                    "safely",
                    beyond, end);
  EXPECT_THROW_WITH(VideoShardReader::Open(with_block_beyond_end("dataset.h5", "/fps")), InputError,
                    "dataset.h5: dataset '/fps': ", beyond, end);
  {
    // While the file stays open, good headers keep being read and a refused one is refused
    // every time (only headers walked clean are remembered).
    hdf5::File file = hdf5::File::Open(dir / "dataset.h5");
    for (int i = 0; i < 2; ++i) {
      EXPECT_EQ(file.OpenDataset("/captions/short").dims(), std::vector<int64_t>{3});
      EXPECT_THROW_WITH(file.OpenDataset("/fps"), InputError, "dataset '/fps'", beyond);
    }
  }
  // "/captions/short" is looked up in /captions, whose header is loaded for it.
  EXPECT_THROW_WITH(VideoShardReader::Open(with_block_beyond_end("group.h5", "/captions")),
                    InputError, "group.h5: group '/captions': ", beyond, end);
  // Asking whether it exists looks it up there too.
  EXPECT_THROW_WITH(hdf5::File::Open(dir / "group.h5").Exists("/captions/short"), InputError,
                    "group.h5: group '/captions': ", beyond);
  EXPECT_TRUE(hdf5::File::Open(dir / "group.h5").Exists("/fps"));

  // A file may start with a user block: its addresses count from the superblock after it, where
  // HDF5 finds it (byte 512 here). The same shard reads the same, and the same damage is found.
  const std::string user_block(512, '\0');
  WriteFileAtomic(dir / "user_block.h5", user_block + bytes);
  auto expected = VideoShardReader::Open(good);
  auto read = VideoShardReader::Open(dir / "user_block.h5");
  ASSERT_EQ(read->size(), expected->size());
  for (int64_t i = 0; i < read->size(); ++i)
    ExpectSameSample(read->Read(i), expected->Read(i), "user block");
  WriteFileAtomic(dir / "user_block_damaged.h5", user_block + ReadFile(dir / "dataset.h5"));
  EXPECT_THROW_WITH(VideoShardReader::Open(dir / "user_block_damaged.h5"), InputError,
                    "user_block_damaged.h5: dataset '/fps': ", beyond,
                    fmt::format("lies beyond the file's end (byte {})", bytes.size() + 512));
}

TEST(VideoShards, ReadTheTypesH5pyWrites) {
  // h5py stores numpy bool as an 8-bit enum, may write fixed-length strings, float64 or float16
  // arrays and int32 sizes; all of them read. Such a file of version 1 without a label schema
  // reads with no targets.
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
  EXPECT_TRUE(s0.targets.empty());
  EXPECT_FALSE(reader->label_schema().has_value());
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

// The h5py snippet in docs/formats.md, run as written: its shard must read, labels and targets
// included.
TEST(VideoShards, TheDocumentedH5pySnippetWritesAReadableShard) {
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
  auto reader = VideoShardReader::Open(dir / "my_shard.h5");
  ASSERT_GT(reader->size(), 1);
  Sample s = reader->Read(0);
  EXPECT_EQ(s.video.dim(), 4);
  EXPECT_FALSE(s.captions.at("short").empty());
  EXPECT_FALSE(s.captions.at("detailed").empty());
  EXPECT_TRUE(s.text_embeddings.count("t5"));
  EXPECT_FALSE(s.labels.is_null());
  ASSERT_TRUE(reader->label_schema().has_value());
  EXPECT_EQ(reader->label_schema()->classes.at("color"),
            (std::vector<std::string>{"red", "green", "blue"}));
  EXPECT_EQ(s.targets, (std::map<std::string, int64_t>{{"color", 0}, {"shape", 0}}));
  EXPECT_EQ(reader->Read(1).targets, (std::map<std::string, int64_t>{{"shape", 1}}));

  // And h5py reads what the exporter writes.
  auto source = MakePipeline("synthetic", "size = 2");
  ExportDataset(*source, dir / "export", 2);
  std::string check = fmt::format(
      "{} -c 'import h5py, json; f = h5py.File(\"{}/export/shard-00000.h5\", \"r\"); "
      "assert f.attrs[\"format\"] == \"modelgrow.video_shard\"; "
      "assert f[\"videos/1\"].shape == (3, 8, 32, 32); "
      "assert f[\"captions/short\"].asstr()[0].startswith(\"a \"); "
      "assert json.loads(f[\"labels\"].asstr()[1])[\"count\"] == 1'",
      python, dir.path().string());
  EXPECT_EQ(std::system(check.c_str()), 0) << check;
}

TEST(VideoShards, StandardHdf5ToolsReadExportedShards) {
  if (std::system("h5dump --version >/dev/null 2>&1") != 0) GTEST_SKIP() << "h5dump not installed";
  TempDir dir;
  ExportDataset(*MakePipeline("synthetic", "size = 2"), dir.path(), 2);
  std::string command = fmt::format("h5dump -H {}/shard-00000.h5 > {}/dump.txt 2>&1",
                                    dir.path().string(), dir.path().string());
  ASSERT_EQ(std::system(command.c_str()), 0) << command << "\n" << ReadFile(dir / "dump.txt");
  std::string dump = ReadFile(dir / "dump.txt");
  EXPECT_NE(dump.find("DATASET \"short\""), std::string::npos);
  EXPECT_NE(dump.find("H5T_CSET_UTF8"), std::string::npos);
  EXPECT_NE(dump.find("DATASPACE  SIMPLE { ( 3, 8, 32, 32 )"), std::string::npos);
}

TEST(VideoShards, ShardPathsResolveFromFoldersGlobsAndLists) {
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
}

TEST(VideoShards, WriterRejectsSamplesThatDoNotFit) {
  TempDir dir;
  {
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
  }
  // Not committed: nothing is left behind.
  EXPECT_TRUE(fs::is_empty(dir.path()));
}

}  // namespace
}  // namespace modelgrow
