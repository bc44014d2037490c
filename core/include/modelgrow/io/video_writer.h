// Writes videos as files a person opens: chosen by the file's extension, an animated GIF (no
// dependency) or, through FFmpeg's libraries, MP4 / MKV / MOV / WebM. MP4 is H.264 (yuv420p,
// what browsers play) where an H.264 encoder is present; otherwise the first lossless codec the
// container takes (FFV1, PNG). `modelgrow sample`, `modelgrow vae decode` and evaluation use it.
#pragma once

#include <filesystem>
#include <string>

#include <ATen/core/Tensor.h>

namespace modelgrow {

struct VideoWriteOptions {
  double fps = 8;
  int scale = 1;  // nearest-neighbour upscaling (small generated videos are easier to see)
};

// `video` [C, T, H, W] in [-1, 1] (clamped; C = 3, or 1 for grey). Writes atomically (temporary
// file, then rename) and returns what was written ("gif", "h264", "ffv1", ...). InputError for an
// extension it cannot write (naming the ones it can) or a video of another shape.
std::string WriteVideo(const std::filesystem::path& file, const at::Tensor& video,
                       const VideoWriteOptions& options = {});

// Whether this build can write `extension` (".gif", ".mp4", ...).
bool CanWriteVideo(const std::string& extension);

}  // namespace modelgrow
