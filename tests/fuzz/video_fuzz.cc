// Video files through FFmpeg (any container it recognises by content: MP4, GIF, ...): the whole
// file as `modelgrow vae encode` reads it, and a clip as the video_csv pipeline samples one.
// FFmpeg itself is not instrumented (Debian's libraries); what this finds is in our decoding
// loops, the frame conversion and the size checks.
#include "fuzz/fuzz_util.h"
#include "modelgrow/io/video_reader.h"
#include "modelgrow/sdk/errors.h"
#include "video_clip_decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modelgrow;
  const auto file = fuzz::WriteInput("clip.video", fuzz::AsText(data, size));
  try {
    (void)ReadVideo(file, 8);
  } catch (const InputError&) {
  }
  try {
    video_csv::ClipRequest request;
    request.num_frames = 3;
    request.frame_interval = 2;
    request.height = 24;
    request.width = 40;
    request.clip_start = "center";
    (void)video_csv::DecodeClip(file, request);
  } catch (const video_csv::VideoDecodeError&) {
  } catch (const InputError&) {
  }
  return 0;
}
