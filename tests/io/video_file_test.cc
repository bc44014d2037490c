// Videos written through FFmpeg (io/video_writer.h) and read back (io/video_reader.h): every frame
// arrives (x264 reorders frames, and MP4 then needs each packet's duration), content survives
// H.264 at crf 18, odd sides are padded for yuv420p, and bad input is refused before anything is
// written.
#include <cstdlib>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "modelgrow/io/video_reader.h"
#include "modelgrow/io/video_writer.h"
#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/sdk/errors.h"
#include "test_paths.h"
#include "test_util.h"

namespace modelgrow {
namespace {

using testing::MaxAbsError;
using testing::TempDir;

// A smooth colour ramp that moves with time: what video codecs keep well.
torch::Tensor Ramp(int64_t channels, int64_t frames, int64_t height, int64_t width) {
  torch::Tensor t = torch::arange(frames).view({1, frames, 1, 1}).to(torch::kFloat);
  torch::Tensor y = torch::arange(height).view({1, 1, height, 1}).to(torch::kFloat) / height;
  torch::Tensor x = torch::arange(width).view({1, 1, 1, width}).to(torch::kFloat) / width;
  torch::Tensor c = torch::arange(channels).view({channels, 1, 1, 1}).to(torch::kFloat);
  return torch::sin(3 * x + 2 * y + 0.3 * t + c).expand({channels, frames, height, width}) * 0.8;
}

// Mean absolute error of each frame: H.264 with 4:2:0 chroma moves single pixels of a colour ramp
// by up to ~0.15, but the frames as a whole stay close, and each is closer to its own original
// than to the next frame's (a dropped or shifted frame fails that).
void ExpectSameFrames(const torch::Tensor& back, const torch::Tensor& video, double tolerance) {
  ASSERT_EQ(back.size(1), video.size(1));
  for (int64_t t = 0; t < video.size(1); ++t) {
    const double own = (back.select(1, t) - video.select(1, t)).abs().mean().item<double>();
    EXPECT_LT(own, tolerance) << "frame " << t;
    if (t + 1 < video.size(1)) {
      const double next = (back.select(1, t) - video.select(1, t + 1)).abs().mean().item<double>();
      EXPECT_LT(own, next) << "frame " << t;
    }
  }
  EXPECT_LT(MaxAbsError(back, video), 0.3);
}

TEST(VideoFile, Mp4KeepsEveryFrameAndItsContent) {
  TempDir dir;
  torch::Tensor video = Ramp(3, 9, 32, 48);
  EXPECT_EQ(WriteVideo(dir / "ramp.mp4", video, {.fps = 12}), "h264");
  VideoFile back = ReadVideo(dir / "ramp.mp4");
  ASSERT_EQ(back.video.sizes().vec(), video.sizes().vec());
  EXPECT_NEAR(back.fps, 12, 1e-6);
  ExpectSameFrames(back.video, video, 0.03);
  EXPECT_EQ(ReadVideo(dir / "ramp.mp4", 4).video.size(1), 4);
  EXPECT_TRUE(CanWriteVideo(".mp4"));
  EXPECT_TRUE(CanWriteVideo(".MKV"));
}

TEST(VideoFile, OddSidesArePaddedWithTheEdgeAndGreyAndScaleWork) {
  TempDir dir;
  torch::Tensor video = Ramp(3, 3, 15, 21);
  WriteVideo(dir / "odd.mkv", video);
  torch::Tensor back = ReadVideo(dir / "odd.mkv").video;
  ASSERT_EQ(back.sizes().vec(), (std::vector<int64_t>{3, 3, 16, 22}));
  ExpectSameFrames(back.slice(2, 0, 15).slice(3, 0, 21), video, 0.05);
  // The padding repeats the last row and column.
  EXPECT_LT((back.select(2, 15) - back.select(2, 14)).abs().mean().item<double>(), 0.03);

  torch::Tensor grey = Ramp(1, 2, 8, 8);
  WriteVideo(dir / "grey.mp4", grey, {.fps = 8, .scale = 2});
  back = ReadVideo(dir / "grey.mp4").video;
  ASSERT_EQ(back.sizes().vec(), (std::vector<int64_t>{3, 2, 16, 16}));
  ExpectSameFrames(back.slice(0, 0, 1), grey.repeat_interleave(2, 2).repeat_interleave(2, 3), 0.03);
}

TEST(VideoFile, GifNeedsNoFfmpeg) {
  TempDir dir;
  EXPECT_EQ(WriteVideo(dir / "ramp.gif", Ramp(3, 2, 8, 8)), "gif");
  EXPECT_EQ(ReadFile(dir / "ramp.gif").substr(0, 6), "GIF89a");
}

TEST(VideoFile, BadInputIsRefusedAndLeavesTheOldFile) {
  TempDir dir;
  WriteFileAtomic(dir / "old.mp4", "keep me");
  EXPECT_THROW_WITH(WriteVideo(dir / "old.mp4", torch::zeros({3, 8, 8})), InputError,
                    "[C, T, H, W]", "[3, 8, 8]");
  EXPECT_THROW_WITH(WriteVideo(dir / "old.mp4", torch::zeros({4, 1, 8, 8})), InputError,
                    "[4, 1, 8, 8]");
  EXPECT_EQ(ReadFile(dir / "old.mp4"), "keep me");
  EXPECT_THROW_WITH(WriteVideo(dir / "a.webp", Ramp(3, 1, 8, 8)), InputError, "'.webp'",
                    ".gif or .mp4");
  EXPECT_FALSE(CanWriteVideo(".webp"));
  EXPECT_THROW_WITH(ReadVideo(dir / "old.mp4"), InputError, "old.mp4");
  EXPECT_THROW_WITH(ReadVideo(dir / "missing.mp4"), InputError, "missing.mp4");
}

// Two raw H.264 streams one after the other, made by the ffmpeg CLI (the writer makes containers
// only): what a stream whose size changes mid-way looks like to the decoder, a new sequence header
// and then frames of the new size. Empty without the CLI.
std::filesystem::path Concatenated(const TempDir& dir, const std::string& first,
                                   const std::string& second) {
  if (std::system("ffmpeg -version >/dev/null 2>&1") != 0) return {};
  std::string joined;
  for (const std::string& size : {first, second}) {
    const std::filesystem::path part = dir.path() / (size + ".h264");
    const std::string command = fmt::format(
        "ffmpeg -v error -y -f lavfi -i testsrc=size={}:rate=8 -frames:v 3 -c:v libx264 "
        "-pix_fmt yuv420p -f h264 {}",
        size, part.string());
    EXPECT_EQ(std::system(command.c_str()), 0) << command;
    joined += ReadFile(part);
  }
  WriteFileAtomic(dir.path() / "joined.h264", joined);
  return dir.path() / "joined.h264";
}

TEST(VideoFile, AFrameOfAnotherSizeIsRefusedWhereItAppears) {
  // Found by fuzz_video: frames of 24x32, 4128x24 and 7849x4769 follow the first.
  const std::filesystem::path found =
      std::filesystem::path(MODELGROW_SOURCE_DIR) /
      "tests/fuzz/regressions/video/frame-of-37-megapixels-mid-stream";
  EXPECT_THROW_WITH(ReadVideo(found), InputError, "frame-of-37-megapixels-mid-stream",
                    "its frames change size mid-stream: frame 0 is 32x24, frame 1 is 24x32");
  TempDir dir;
  const auto file = Concatenated(dir, "32x24", "24x32");
  if (file.empty()) GTEST_SKIP() << "the ffmpeg CLI is not installed";
  EXPECT_THROW_WITH(ReadVideo(file), InputError, "joined.h264",
                    "its frames change size mid-stream: frame 0 is 32x24, frame 3 is 24x32");
}

// A frame far larger than the stream states is refused by the decoder before it allocates and
// zeroes it: in the file above, the 37-megapixel frame took 0.8 s and 210 MB to decode, 5 s under
// ASan, and the fuzzer's mutations of it filled its CI budget.
TEST(VideoFile, AFrameFarLargerThanItsStreamStatesIsRefusedBeforeItIsDecoded) {
  TempDir dir;
  const auto file = Concatenated(dir, "32x24", "1280x1024");
  if (file.empty()) GTEST_SKIP() << "the ffmpeg CLI is not installed";
  EXPECT_THROW_WITH(ReadVideo(file), InputError, "joined.h264",
                    "a frame may have at most 1048576 pixels in a stream stating 32x24");
}

}  // namespace
}  // namespace modelgrow
