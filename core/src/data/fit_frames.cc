#include "modelgrow/data/fit_frames.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "modelgrow/sdk/errors.h"

namespace modelgrow {

FitMode ParseFitMode(const std::string& text, const std::string& what) {
  if (text == "crop") return FitMode::kCrop;
  if (text == "pad") return FitMode::kPad;
  throw InputError(fmt::format("{}: expected \"crop\" or \"pad\", got \"{}\"", what, text));
}

at::Tensor FitFrames(const at::Tensor& video, int64_t multiple, FitMode mode) {
  const int64_t d = video.dim();
  const int64_t h = video.size(d - 2), w = video.size(d - 1);
  if (multiple <= 1 || (h % multiple == 0 && w % multiple == 0)) return video;
  if (mode == FitMode::kCrop) {
    const int64_t fh = h / multiple * multiple, fw = w / multiple * multiple;
    if (fh == 0 || fw == 0)
      throw InputError(fmt::format(
          "frames of {}x{} (HxW) are smaller than the VAE's {}-pixel latent cell; pad them "
          "(--fit pad) or use larger frames",
          h, w, multiple));
    return video.narrow(d - 2, (h - fh) / 2, fh).narrow(d - 1, (w - fw) / 2, fw).contiguous();
  }
  const int64_t ph = (multiple - h % multiple) % multiple,
                pw = (multiple - w % multiple) % multiple;
  at::Tensor out = video;
  if (ph > 0) out = at::cat({out, out.narrow(d - 2, h - 1, 1).repeat_interleave(ph, d - 2)}, d - 2);
  if (pw > 0) out = at::cat({out, out.narrow(d - 1, w - 1, 1).repeat_interleave(pw, d - 1)}, d - 1);
  return out.contiguous();
}

}  // namespace modelgrow
