// Decodes a clip from a video file with FFmpeg's libraries: num_frames frames, frame_interval
// apart, resized so the shorter side fits (the aspect ratio kept) and centre-cropped to
// height x width, as float RGB in [-1, 1].
#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>

#include <ATen/core/Tensor.h>

namespace modelgrow::video_csv {

// A file that cannot give the clip: unreadable, corrupt, too short. The message says why.
class VideoDecodeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ClipRequest {
  int64_t num_frames = 16;
  int64_t frame_interval = 1;
  int64_t height = 256;
  int64_t width = 256;
  // Where the clip starts among the frames that allow a whole clip: "start", "center", or
  // "random" (with `random_draw`, a number in [0, 1) the caller derives from its seed).
  std::string clip_start = "start";
  double random_draw = 0;
  int64_t expected_frames = 0;  // the frame count the caller believes (CSV); 0: unknown
  int decoder_threads = 1;
};

struct Clip {
  at::Tensor video;  // [3, num_frames, height, width] float32 in [-1, 1]
  double fps = 0;    // the file's frame rate
  int64_t source_frames = 0;
  int64_t source_height = 0, source_width = 0;
  int64_t first_frame = 0;
};

Clip DecodeClip(const std::filesystem::path& file, const ClipRequest& request);

}  // namespace modelgrow::video_csv
