// Animated GIFs of videos, for reports and `modelgrow sample`: no dependency beyond this file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include <ATen/core/Tensor.h>

namespace modelgrow {

struct GifOptions {
  double fps = 8;
  int scale = 4;  // nearest-neighbour upscaling, so 32-pixel videos are visible
};

// The GIF bytes of `video` [C, T, H, W] with values in [-1, 1] (C = 3, or 1 for grey). One palette
// serves the whole video: its own colours when it has at most 256, else 256 chosen by a median cut
// of its colours at 5 bits per channel (the pixels of one 5-bit cell all take the entry nearest the
// cell's mean). The animation loops.
std::string EncodeGif(const at::Tensor& video, const GifOptions& options = {});
void WriteGif(const std::filesystem::path& file, const at::Tensor& video,
              const GifOptions& options = {});

}  // namespace modelgrow
