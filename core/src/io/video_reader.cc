#include "modelgrow/io/video_reader.h"

#include <memory>
#include <vector>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "modelgrow/sdk/errors.h"
#include "modelgrow/sdk/limits.h"

#ifdef MODELGROW_WITH_FFMPEG
#include "ffmpeg_handles.h"
#endif

namespace modelgrow {

#ifdef MODELGROW_WITH_FFMPEG

using ffmpeg::AvError;
using ffmpeg::CodecCloser;
using ffmpeg::FrameCloser;
using ffmpeg::InputCloser;
using ffmpeg::PacketCloser;
using ffmpeg::SwsCloser;

VideoFile ReadVideo(const std::filesystem::path& file, int64_t max_frames) {
  const std::string name = file.string();
  AVFormatContext* raw = nullptr;
  // Local files only: a playlist or concat script inside a downloaded "video" must not make
  // FFmpeg open URLs or other protocols.
  AVDictionary* open_options = nullptr;
  av_dict_set(&open_options, "protocol_whitelist", "file", 0);
  int rc = avformat_open_input(&raw, name.c_str(), nullptr, &open_options);
  av_dict_free(&open_options);
  if (rc < 0) throw InputError(fmt::format("{}: cannot open: {}", name, AvError(rc)));
  std::unique_ptr<AVFormatContext, InputCloser> in(raw);
  if ((rc = avformat_find_stream_info(raw, nullptr)) < 0)
    throw InputError(fmt::format("{}: cannot read stream info: {}", name, AvError(rc)));
  const int index = av_find_best_stream(raw, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  if (index < 0) throw InputError(fmt::format("{}: no video stream", name));
  AVStream* stream = raw->streams[index];
  const AVCodec* codec = avcodec_find_decoder(stream->codecpar->codec_id);
  if (!codec) throw InputError(fmt::format("{}: no decoder for its codec", name));
  std::unique_ptr<AVCodecContext, CodecCloser> dec(avcodec_alloc_context3(codec));
  avcodec_parameters_to_context(dec.get(), stream->codecpar);
  dec->max_pixels = limits::MaxDecodedPixels(stream->codecpar->width, stream->codecpar->height);
  if ((rc = avcodec_open2(dec.get(), codec, nullptr)) < 0)
    throw InputError(fmt::format("{}: cannot open the decoder: {}", name, AvError(rc)));

  VideoFile result;
  AVRational rate = stream->avg_frame_rate.num > 0 ? stream->avg_frame_rate : stream->r_frame_rate;
  result.fps = rate.num > 0 && rate.den > 0 ? av_q2d(rate) : 0;
  std::vector<at::Tensor> frames;
  std::unique_ptr<SwsContext, SwsCloser> sws;
  std::unique_ptr<AVFrame, FrameCloser> frame(av_frame_alloc());
  std::unique_ptr<AVPacket, PacketCloser> packet(av_packet_alloc());
  const std::string bound_note =
      limits::DecodedFrameBoundNote(stream->codecpar->width, stream->codecpar->height);
  auto take = [&]() {
    while (max_frames == 0 || static_cast<int64_t>(frames.size()) < max_frames) {
      int r = avcodec_receive_frame(dec.get(), frame.get());
      if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return;
      if (r < 0)
        throw InputError(fmt::format("{}: decoding failed: {}{}", name, AvError(r), bound_note));
      const int w = frame->width, h = frame->height;
      // A stream's header says its size: bounded before a frame buffer is sized by it, and the
      // whole clip before it grows past what one tensor may hold.
      if (w <= 0 || h <= 0 || w > limits::kMaxFrameSide || h > limits::kMaxFrameSide)
        throw InputError(fmt::format("{}: frame {} is {}x{}, outside 1..{} pixels a side", name,
                                     frames.size(), w, h, limits::kMaxFrameSide));
      // Refused at the first frame of another size, before it is converted: one damaged packet can
      // state a frame of 37 megapixels in a clip of 32x24 (found by fuzz_video).
      if (!frames.empty() && (h != frames[0].size(0) || w != frames[0].size(1)))
        throw InputError(fmt::format(
            "{}: its frames change size mid-stream: frame 0 is {}x{}, frame {} is {}x{}", name,
            frames[0].size(1), frames[0].size(0), frames.size(), w, h));
      if (static_cast<int64_t>(frames.size() + 1) * w * h * 3 > limits::kMaxElements)
        throw InputError(
            fmt::format("{}: more than {} frames of {}x{}, above the limit of {} "
                        "values (read fewer frames)",
                        name, frames.size(), w, h, limits::kMaxElements));
      sws.reset(sws_getCachedContext(sws.release(), w, h, static_cast<AVPixelFormat>(frame->format),
                                     w, h, AV_PIX_FMT_RGB24, SWS_BICUBIC, nullptr, nullptr,
                                     nullptr));
      if (!sws) throw InputError(fmt::format("{}: cannot convert its pixel format", name));
      // Rows padded: swscale's SIMD paths write whole blocks past the end of a row.
      const int stride = (w * 3 + 63) / 64 * 64;
      std::vector<uint8_t> rgb(static_cast<size_t>(stride) * (h + 2) + 64);
      uint8_t* dst[4] = {rgb.data(), nullptr, nullptr, nullptr};
      int dst_stride[4] = {stride, 0, 0, 0};
      sws_scale(sws.get(), frame->data, frame->linesize, 0, h, dst, dst_stride);
      at::Tensor out = at::empty({h, w, 3}, at::kByte);
      for (int y = 0; y < h; ++y)
        std::copy(rgb.data() + static_cast<size_t>(y) * stride,
                  rgb.data() + static_cast<size_t>(y) * stride + w * 3,
                  out.data_ptr<uint8_t>() + static_cast<size_t>(y) * w * 3);
      frames.push_back(out);
      av_frame_unref(frame.get());
    }
  };
  while (max_frames == 0 || static_cast<int64_t>(frames.size()) < max_frames) {
    if (av_read_frame(raw, packet.get()) < 0) break;
    if (packet->stream_index == index) {
      rc = avcodec_send_packet(dec.get(), packet.get());
      av_packet_unref(packet.get());
      if (rc < 0 && rc != AVERROR(EAGAIN))
        throw InputError(fmt::format("{}: corrupt data after frame {}: {}{}", name, frames.size(),
                                     AvError(rc), bound_note));
      take();
    } else {
      av_packet_unref(packet.get());
    }
  }
  avcodec_send_packet(dec.get(), nullptr);
  take();
  if (frames.empty()) throw InputError(fmt::format("{}: no frames could be decoded", name));
  result.video =
      at::stack(frames).permute({3, 0, 1, 2}).to(at::kFloat).div(127.5).sub(1).contiguous();
  return result;
}

#else

VideoFile ReadVideo(const std::filesystem::path& file, int64_t) {
  throw InputError(
      fmt::format("{}: this build has no FFmpeg libraries to read videos", file.string()));
}

#endif

}  // namespace modelgrow
