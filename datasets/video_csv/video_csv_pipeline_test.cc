// The video_csv pipeline on videos made here with the ffmpeg CLI: frame counts, sizes, frame
// rates, the crop, colours, skipped and failing files, the CSV format, the two phases.
#include <cstdlib>
#include <set>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "modelgrow/data/loader.h"
#include "modelgrow/host/plugin_registry.h"
#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/sdk/data_pipeline.h"
#include "test_paths.h"
#include "test_util.h"

namespace modelgrow {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

// The plugin under test, constructed from TOML option text as the host constructs it (options
// only: nothing is read).
std::shared_ptr<DataPipeline> Construct(const std::string& toml) {
  static const PluginRegistry* registry = [] {
    auto* r = new PluginRegistry();
    r->LoadFile(MODELGROW_TEST_PLUGIN_FILE);
    return r;
  }();
  PluginContext context;
  context.options = Options::ParseString(toml, "video_csv.toml");
  return registry->MakeDataPipeline("video_csv", context);
}

// Constructed and opened (the CSV read).
std::shared_ptr<DataPipeline> Opened(const std::string& toml) {
  std::shared_ptr<DataPipeline> pipeline = Construct(toml);
  pipeline->Open();
  return pipeline;
}

// Makes the test videos once per test program: ffmpeg's lavfi sources, several sizes, frame
// rates and containers.
class VideoCsv : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (std::system("ffmpeg -version >/dev/null 2>&1") != 0) return;
    dir_ = new TempDir();
    auto make = [](const std::string& source, int frames, const std::string& codec,
                   const std::string& file) {
      std::string command =
          fmt::format("ffmpeg -v error -y -f lavfi -i '{}' -frames:v {} {} -pix_fmt yuv420p {}/{}",
                      source, frames, codec, dir_->path().string(), file);
      ASSERT_EQ(std::system(command.c_str()), 0) << command;
    };
    make("testsrc=size=64x48:rate=10", 20, "-c:v mpeg4 -q:v 3", "landscape.mp4");
    make("testsrc=size=40x60:rate=25", 30, "-c:v mpeg4 -q:v 3", "portrait.mkv");
    make("testsrc=size=32x32:rate=8", 5, "-c:v mpeg4", "short.mp4");
    // Blue sides, a green middle third: a centre crop of a 96x32 frame to 32x32 is all green.
    make("color=c=blue:size=96x32:rate=8,drawbox=x=32:y=0:w=32:h=32:color=lime:t=fill", 8,
         "-c:v mpeg4 -q:v 1", "bands.mp4");
    // A 32x24 stream followed by one of 1280x1024: above the bound its header sets.
    make("testsrc=size=32x24:rate=8", 12, "-c:v libx264 -f h264", "small.h264");
    make("testsrc=size=1280x1024:rate=8", 4, "-c:v libx264 -f h264", "large.h264");
    WriteFileAtomic(dir_->path() / "grows.h264",
                    ReadFile(dir_->path() / "small.h264") + ReadFile(dir_->path() / "large.h264"));
    std::string junk(4000, '\0');
    for (size_t k = 0; k < junk.size(); ++k) junk[k] = static_cast<char>((k * 7919) % 251);
    WriteFileAtomic(dir_->path() / "corrupt.mp4", junk);
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!dir_) GTEST_SKIP() << "the ffmpeg CLI is not installed";
  }
  static fs::path Dir() { return dir_->path(); }
  // A CSV in the test folder; rows are (path, text, num_frames, height, width).
  static std::string Csv(const std::string& name, const std::string& body) {
    fs::path p = Dir() / name;
    WriteFileAtomic(p, "path,text,num_frames,height,width,aspect_ratio,fps\n" + body);
    return p.string();
  }

  static TempDir* dir_;
};
TempDir* VideoCsv::dir_ = nullptr;

TEST_F(VideoCsv, DecodesTheRequestedFramesAtTheRequestedSize) {
  std::string csv = Csv("ok.csv",
                        "landscape.mp4,\"a test pattern, in colour\",20,48,64,0.75,10\n"
                        "portrait.mkv,\"a \"\"tall\"\" pattern\",30,60,40,1.5,25\n");
  auto p =
      Opened(fmt::format("csv = \"{}\"\nnum_frames = 8\nframe_interval = 2\n"
                         "height = 32\nwidth = 24\nclip_start = \"center\"",
                         csv));
  ASSERT_EQ(p->size(), 2);
  Sample a = p->Get(0), b = p->Get(1);
  EXPECT_EQ(a.video.sizes(), (std::vector<int64_t>{3, 8, 32, 24}));
  EXPECT_EQ(b.video.sizes(), (std::vector<int64_t>{3, 8, 32, 24}));
  EXPECT_GE(a.video.min().item<float>(), -1.0f);
  EXPECT_LE(a.video.max().item<float>(), 1.0f);
  EXPECT_DOUBLE_EQ(a.fps, 5.0);   // 10 fps, every 2nd frame
  EXPECT_DOUBLE_EQ(b.fps, 12.5);  // 25 fps, every 2nd frame
  EXPECT_EQ(a.captions.at("short"), "a test pattern, in colour");
  EXPECT_EQ(b.captions.at("short"), "a \"tall\" pattern");
  EXPECT_FALSE(a.captions.count("detailed"));
  EXPECT_EQ(a.height, 32);
  EXPECT_EQ(a.width, 24);
  // Centre of 20 frames for a span of 15: frames 2, 4, ..., 16.
  EXPECT_EQ(a.labels["first_frame"], 2);
  EXPECT_EQ(a.labels["source_frames"], 20);
  EXPECT_EQ(b.labels["source_width"], 40);
  // testsrc moves: the frames of a clip differ.
  EXPECT_FALSE(torch::equal(a.video.select(1, 0), a.video.select(1, 7)));
  // The same sample every time.
  EXPECT_TRUE(torch::equal(p->Get(0).video, a.video));
}

TEST_F(VideoCsv, ResizesTheShorterSideAndCropsTheCentreInRgbOrder) {
  std::string csv = Csv("bands.csv", "bands.mp4,bands,8,32,96,3,8\n");
  auto p =
      Opened(fmt::format("csv = \"{}\"\nnum_frames = 4\nheight = 16\n"
                         "width = 16",
                         csv));
  at::Tensor v = p->Get(0).video;  // 96x32 -> 48x16 -> centre 16x16: the green band
  at::Tensor centre = v.narrow(2, 2, 12).narrow(3, 2, 12);
  EXPECT_GT(centre[1].mean().item<float>(), 0.9f);    // green
  EXPECT_LT(centre[0].mean().item<float>(), -0.85f);  // no red
  EXPECT_LT(centre[2].mean().item<float>(), -0.85f);  // no blue: the sides were cropped away
}

TEST_F(VideoCsv, RandomClipStartIsSeededAndStaysInRange) {
  std::string csv = Csv("random.csv", "portrait.mkv,p,30,60,40,1.5,25\nportrait.mkv,p,,,,,\n");
  std::string options = fmt::format("csv = \"{}\"\nnum_frames = 4\nheight = 16\nwidth = 16", csv);
  auto p = Opened(options);
  auto again = Opened(options);
  for (int64_t i = 0; i < 2; ++i) {
    Sample s = p->Get(i);
    EXPECT_TRUE(torch::equal(s.video, again->Get(i).video));
    EXPECT_GE(s.labels["first_frame"].get<int64_t>(), 0);
    EXPECT_LE(s.labels["first_frame"].get<int64_t>(), 26);
  }
  std::set<int64_t> starts;
  for (int seed = 0; seed < 6; ++seed) {
    auto q = Opened(options + fmt::format("\nseed = {}", seed));
    starts.insert(q->Get(0).labels["first_frame"].get<int64_t>());
  }
  EXPECT_GT(starts.size(), 2u);
}

TEST_F(VideoCsv, UnusableVideosAreSkippedCountedAndReported) {
  std::string csv = Csv("mixed.csv",
                        "landscape.mp4,one,20,48,64,0.75,10\n"
                        "short.mp4,too short,5,32,32,1,8\n"
                        "corrupt.mp4,corrupt,,,,,\n"
                        "missing.mp4,missing,,,,,\n"
                        "portrait.mkv,two,30,60,40,1.5,25\n");
  auto p =
      Opened(fmt::format("csv = \"{}\"\nnum_frames = 8\nheight = 16\n"
                         "width = 16",
                         csv));
  ASSERT_EQ(p->size(), 5);
  EXPECT_THROW_WITH(p->Get(1), SkipSample, "short.mp4", "too short", "5 frames");
  EXPECT_THROW_WITH(p->Get(2), SkipSample, "corrupt.mp4");
  EXPECT_THROW_WITH(p->Get(3), SkipSample, "missing.mp4", "cannot open");
  nlohmann::json summary = p->Summary();
  EXPECT_EQ(summary["rows"], 5);
  EXPECT_EQ(summary["skipped"], 3);
  EXPECT_EQ(summary["skipped_files"].size(), 3u);
  EXPECT_NE(summary["skipped_files"][0]["reason"].get<std::string>().find("too short"),
            std::string::npos);

  // Through the loader: every epoch yields only usable videos; the skips are counted.
  auto fresh =
      Opened(fmt::format("csv = \"{}\"\nnum_frames = 8\nheight = 16\n"
                         "width = 16",
                         csv));
  LoaderOptions o;
  o.batch_size = 5;
  o.workers = 2;
  DataLoader loader(fresh, o);
  Batch b = loader.Next();
  EXPECT_EQ(b.video.sizes(), (std::vector<int64_t>{5, 3, 8, 16, 16}));
  for (int64_t i : b.indices) EXPECT_TRUE(i == 0 || i == 4) << i;
  nlohmann::json stats = loader.Stats();
  EXPECT_EQ(stats["skipped_unique"], 3);
  EXPECT_EQ(stats["pipeline"]["skipped"], 3);

  // on_error = "error": the first unusable video stops the run, naming file and row.
  auto strict =
      Opened(fmt::format("csv = \"{}\"\nnum_frames = 8\nheight = 16\n"
                         "width = 16\non_error = \"error\"",
                         csv));
  try {
    strict->Get(2);
    ADD_FAILURE() << "expected an error";
  } catch (const SkipSample& e) {
    ADD_FAILURE() << "on_error = error must not skip: " << e.what();
  } catch (const InputError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("corrupt.mp4"), std::string::npos) << m;
    EXPECT_NE(m.find("row 2 of"), std::string::npos) << m;
    EXPECT_NE(m.find("on_error = \"skip\""), std::string::npos) << m;
  }
}

TEST_F(VideoCsv, AFrameFarLargerThanItsStreamStatesIsSkippedBeforeItIsDecoded) {
  std::string csv = Csv("grows.csv", "grows.h264,grows,24,24,32,0.75,8\n");
  auto p =
      Opened(fmt::format("csv = \"{}\"\nnum_frames = 16\nheight = 16\nwidth = 16\n"
                         "clip_start = \"start\"",
                         csv));
  EXPECT_THROW_WITH(p->Get(0), SkipSample, "grows.h264",
                    "a frame may have at most 1048576 pixels in a stream stating 32x24");
}

TEST_F(VideoCsv, NativeSizeTakesEachVideosSizeFromTheCsvAndBuckets) {
  std::string csv = Csv("native.csv",
                        "landscape.mp4,one,20,48,64,0.75,10\n"
                        "portrait.mkv,two,30,60,40,1.5,25\n"
                        "landscape.mp4,three,20,48,64,0.75,10\n");
  auto p =
      Opened(fmt::format("csv = \"{}\"\nnum_frames = 4\nheight = 0\n"
                         "width = 0\nclip_start = \"start\"",
                         csv));
  auto shape = p->ShapeOf(1);
  ASSERT_TRUE(shape.has_value());
  EXPECT_EQ(std::vector<int64_t>(shape->begin(), shape->end()),
            (std::vector<int64_t>{3, 4, 60, 40}));
  EXPECT_EQ(p->Get(0).video.sizes(), (std::vector<int64_t>{3, 4, 48, 64}));
  EXPECT_EQ(p->Get(1).video.sizes(), (std::vector<int64_t>{3, 4, 60, 40}));
  LoaderOptions o;
  o.batch_size = 2;
  o.workers = 0;
  DataLoader loader(p, o);
  EXPECT_EQ(loader.batches_per_epoch(), 1);  // the two landscape videos
  EXPECT_EQ(loader.Next().video.size(3), 48);
}

TEST_F(VideoCsv, DetailedCaptionColumnAndRoot) {
  fs::create_directories(Dir() / "meta");
  WriteFileAtomic(Dir() / "meta/rooted.csv",
                  "path,text,long_text\r\nlandscape.mp4,short one,\"a much longer caption,\n"
                  "over two lines\"\r\n");
  auto p =
      Opened(fmt::format("csv = \"{}/meta/rooted.csv\"\nroot = \"{}\"\n"
                         "detailed_column = \"long_text\"\nnum_frames = 2\n"
                         "height = 16\nwidth = 16",
                         Dir().string(), Dir().string()));
  Sample s = p->Get(0);
  EXPECT_EQ(s.captions.at("short"), "short one");
  EXPECT_EQ(s.captions.at("detailed"), "a much longer caption,\nover two lines");
}

TEST_F(VideoCsv, BadCsvFilesAndOptionsAreClearErrors) {
  std::string no_text = Dir() / "no_text.csv";
  WriteFileAtomic(no_text, "path,caption\nlandscape.mp4,x\n");
  EXPECT_THROW_WITH(Opened(fmt::format("csv = \"{}\"", no_text)), InputError, "no_text.csv",
                    "no 'text' column", "found: path, caption");
  std::string bad_number = Csv("bad_number.csv", "landscape.mp4,x,twenty,48,64,0.75,10\n");
  EXPECT_THROW_WITH(Opened(fmt::format("csv = \"{}\"", bad_number)), InputError, "bad_number.csv:2",
                    "'num_frames'", "'twenty'");
  std::string ragged = Csv("ragged.csv", "landscape.mp4,x,20\n");
  EXPECT_THROW_WITH(Opened(fmt::format("csv = \"{}\"", ragged)), InputError, "ragged.csv:2",
                    "expected 7 fields", "found 3");
  std::string open_quote = Csv("quote.csv", "landscape.mp4,\"never closed,20,48,64,1,10\n");
  EXPECT_THROW_WITH(Opened(fmt::format("csv = \"{}\"", open_quote)), InputError, "quote.csv:2",
                    "never closed");
  EXPECT_THROW_WITH(Construct("num_frames = 0\nheight = 0\nwidth = 8\nfps = 3"), ValidationError,
                    "missing required key", "csv", "num_frames", "both 0", "unknown key 'fps'");
  // Constructing reads nothing; Open names the missing file.
  auto missing = Construct("csv = \"/nonexistent/x.csv\"");
  EXPECT_THROW_WITH(missing->Open(), InputError, "/nonexistent/x.csv");
  std::string ok = Csv("ok2.csv", "landscape.mp4,x,20,48,64,0.75,10\n");
  EXPECT_THROW_WITH(Opened(fmt::format("csv = \"{}\"\ndetailed_column = \"recap\"", ok)),
                    InputError, "no 'recap' column");
}

// The key is the CSV's content: rewriting the same bytes keeps it, another byte changes it.
TEST_F(VideoCsv, CacheKeyIsTheCsvsContent) {
  std::string csv = Csv("key.csv", "landscape.mp4,one,20,48,64,0.75,10\n");
  std::string options = fmt::format("csv = \"{}\"\nnum_frames = 4", csv);
  std::string key = Opened(options)->CacheKey();
  EXPECT_EQ(key.size(), 64u);
  Csv("key.csv", "landscape.mp4,one,20,48,64,0.75,10\n");  // same bytes, a new mtime
  EXPECT_EQ(Opened(options)->CacheKey(), key);
  Csv("key.csv", "landscape.mp4,two,20,48,64,0.75,10\n");
  EXPECT_NE(Opened(options)->CacheKey(), key);
}

}  // namespace
}  // namespace modelgrow
