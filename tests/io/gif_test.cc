// GIFs of generated videos (io/gif.h) as a user sees them, read back through FFmpeg's GIF decoder:
// the synthetic world's grey scene comes back exactly, and with a little noise it stays grey.
// The format itself (LZW, palette, frames, bad shapes) is tested with an independent decoder in
// tests/eval/eval_test.cc.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "modelgrow/io/gif.h"
#include "modelgrow/io/video_reader.h"
#include "test_util.h"

namespace modelgrow {
namespace {

using testing::TempDir;

// [-1, 1] values of 8-bit levels, and back.
torch::Tensor FromLevels(const torch::Tensor& levels) {
  return levels.to(torch::kFloat) / 127.5 - 1;
}
torch::Tensor ToLevels(const torch::Tensor& video) {
  return ((video.clamp(-1, 1) + 1) * 127.5).round().to(torch::kInt);
}

torch::Tensor Upscaled(const torch::Tensor& video, int64_t scale) {
  return video.repeat_interleave(scale, 2).repeat_interleave(scale, 3);
}

torch::Tensor RoundTrip(const TempDir& dir, const torch::Tensor& video, int scale) {
  WriteGif(dir / "video.gif", video, {.fps = 8, .scale = scale});
  torch::Tensor back = ReadVideo(dir / "video.gif").video;
  EXPECT_EQ(back.sizes().vec(), Upscaled(video, scale).sizes().vec());
  return ToLevels(back);
}

// A grey background (level 110, between two levels of an even 6-level palette) and two squares
// that move, as the synthetic world draws them.
torch::Tensor GreyWithSquares(int64_t frames, int64_t side) {
  torch::Tensor levels = torch::full({3, frames, side, side}, 110, torch::kInt);
  for (int64_t t = 0; t < frames; ++t) {
    levels.index_put_({torch::indexing::Slice(), t, torch::indexing::Slice(2, 6),
                       torch::indexing::Slice(t, t + 4)},
                      torch::tensor({200, 30, 40}, torch::kInt).view({3, 1, 1}));
    levels.index_put_({torch::indexing::Slice(), t, torch::indexing::Slice(9, 13),
                       torch::indexing::Slice(10 - t, 14 - t)},
                      torch::tensor({20, 60, 220}, torch::kInt).view({3, 1, 1}));
  }
  return levels;
}

TEST(Gif, AVideoOfFewColoursComesBackExactly) {
  TempDir dir;
  const torch::Tensor levels = GreyWithSquares(6, 16);
  const torch::Tensor back = RoundTrip(dir, FromLevels(levels), 2);
  EXPECT_EQ((back - Upscaled(levels, 2)).abs().max().item<int>(), 0);
}

TEST(Gif, ManyColoursStayNearTheirOwnAndGreyStaysGrey) {
  TempDir dir;
  torch::manual_seed(0);
  // Left half: the grey scene with +-6 levels of noise per channel; right half: a colour ramp
  // that moves, so the video has thousands of colours.
  torch::Tensor levels = GreyWithSquares(8, 32);
  levels += torch::randint(-6, 7, levels.sizes(), torch::kInt);
  const torch::Tensor t = torch::arange(8).view({1, 8, 1, 1}).to(torch::kFloat);
  const torch::Tensor y = torch::arange(32).view({1, 1, 32, 1}).to(torch::kFloat) / 32;
  const torch::Tensor x = torch::arange(16).view({1, 1, 1, 16}).to(torch::kFloat) / 16;
  const torch::Tensor c = torch::arange(3).view({3, 1, 1, 1}).to(torch::kFloat);
  levels.slice(3, 16, 32) = ToLevels(torch::sin(4 * x + 3 * y + 0.4 * t + 2 * c) * 0.9);
  const torch::Tensor back = RoundTrip(dir, FromLevels(levels), 1);

  const torch::Tensor error = (back - levels).abs();
  EXPECT_LT(error.to(torch::kFloat).mean().item<double>(),
            3.0);  // 1.3 here; 12 for an even palette
  // The grey background (away from the squares): every channel within a 5-bit cell of its own
  // level, so no pixel turns green or purple.
  const torch::Tensor grey = back.slice(2, 16, 32).slice(3, 0, 8);
  const torch::Tensor grey_in = levels.slice(2, 16, 32).slice(3, 0, 8);
  EXPECT_LE((grey - grey_in).abs().max().item<int>(), 8);
  // The noise alone puts channels up to 12 levels apart; an even 6x7x6 palette made it 25.
  EXPECT_LE((grey.select(0, 1) - grey.select(0, 0)).abs().max().item<int>(), 14);
  EXPECT_LE((grey.select(0, 1) - grey.select(0, 2)).abs().max().item<int>(), 14);
  // The ramp: near its own colours too (an even palette is up to 25 levels off).
  EXPECT_LE((back - levels).slice(3, 16, 32).abs().max().item<int>(), 12);
}

}  // namespace
}  // namespace modelgrow
