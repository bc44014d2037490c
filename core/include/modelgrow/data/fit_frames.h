// Makes frame sides divisible by a VAE's spatial factor (8 for Open-Sora's): every clip the host
// encodes passes through here, so an odd size is cropped or padded, never a crash.
#pragma once

#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

namespace modelgrow {

enum class FitMode {
  kCrop,  // the largest multiple, centred (loses at most multiple - 1 rows / columns)
  kPad,   // the next multiple, the last row / column repeated (decoded videos keep the padding)
};

// "crop" or "pad"; InputError naming `what` otherwise.
FitMode ParseFitMode(const std::string& text, const std::string& what = "--fit");

// video [..., H, W] with H, W >= multiple (crop) or >= 1 (pad); returned unchanged when both
// sides are already multiples. InputError for frames smaller than one multiple when cropping.
at::Tensor FitFrames(const at::Tensor& video, int64_t multiple, FitMode mode);

}  // namespace modelgrow
