// Reads a whole video file (FFmpeg's libraries) as float RGB in [-1, 1], at its own size: for
// `modelgrow vae encode`, which checks a VAE on a user's own clip. (Data sets read clips through
// the video_csv data plugin, which samples, resizes and crops them.)
#pragma once

#include <cstdint>
#include <filesystem>

#include <ATen/core/Tensor.h>

namespace modelgrow {

struct VideoFile {
  at::Tensor video;  // [3, T, H, W] float32 in [-1, 1]
  double fps = 0;    // 0 when the file does not say
};

// At most `max_frames` frames from the start (0: all). InputError naming the file when it cannot
// be opened or decoded, or when this build has no FFmpeg.
VideoFile ReadVideo(const std::filesystem::path& file, int64_t max_frames = 0);

}  // namespace modelgrow
