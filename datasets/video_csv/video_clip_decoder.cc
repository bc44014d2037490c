#include "video_clip_decoder.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "modelgrow/sdk/limits.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/log.h>
#include <libswscale/swscale.h>
}

namespace modelgrow::video_csv {

namespace {

std::string AvError(int code) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(code, text, sizeof(text));
  return text;
}

struct FormatCloser {
  void operator()(AVFormatContext* c) const { avformat_close_input(&c); }
};
struct CodecCloser {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct FrameCloser {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct PacketCloser {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct SwsCloser {
  void operator()(SwsContext* s) const { sws_freeContext(s); }
};
using FormatPtr = std::unique_ptr<AVFormatContext, FormatCloser>;

// An opened file and its best video stream.
struct Input {
  FormatPtr format;
  int stream = -1;
};

Input OpenInput(const std::filesystem::path& file) {
  std::string name = file.string();
  AVFormatContext* raw = nullptr;
  // Local files only: a playlist or concat script inside a downloaded "video" must not make
  // FFmpeg open URLs or other protocols.
  AVDictionary* open_options = nullptr;
  av_dict_set(&open_options, "protocol_whitelist", "file", 0);
  int rc = avformat_open_input(&raw, name.c_str(), nullptr, &open_options);
  av_dict_free(&open_options);
  if (rc < 0) throw VideoDecodeError(fmt::format("{}: cannot open: {}", name, AvError(rc)));
  Input in;
  in.format.reset(raw);
  rc = avformat_find_stream_info(raw, nullptr);
  if (rc < 0)
    throw VideoDecodeError(fmt::format("{}: cannot read stream info: {}", name, AvError(rc)));
  in.stream = av_find_best_stream(raw, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  if (in.stream < 0) throw VideoDecodeError(fmt::format("{}: no video stream", name));
  return in;
}

// Frames of the video stream, counted from its packets (one packet per frame for video codecs).
int64_t CountFrames(const std::filesystem::path& file) {
  Input in = OpenInput(file);
  std::unique_ptr<AVPacket, PacketCloser> packet(av_packet_alloc());
  int64_t count = 0;
  while (av_read_frame(in.format.get(), packet.get()) >= 0) {
    count += packet->stream_index == in.stream;
    av_packet_unref(packet.get());
  }
  return count;
}

double RateOf(const AVRational& r) { return r.num > 0 && r.den > 0 ? av_q2d(r) : 0.0; }

}  // namespace

Clip DecodeClip(const std::filesystem::path& file, const ClipRequest& request) {
  std::string name = file.string();
  Input in = OpenInput(file);
  AVStream* stream = in.format->streams[in.stream];
  const AVCodec* codec = avcodec_find_decoder(stream->codecpar->codec_id);
  if (!codec)
    throw VideoDecodeError(fmt::format("{}: no decoder for codec '{}'", name,
                                       avcodec_get_name(stream->codecpar->codec_id)));
  std::unique_ptr<AVCodecContext, CodecCloser> decoder(avcodec_alloc_context3(codec));
  avcodec_parameters_to_context(decoder.get(), stream->codecpar);
  decoder->thread_count = std::max(1, request.decoder_threads);
  decoder->max_pixels = limits::MaxDecodedPixels(stream->codecpar->width, stream->codecpar->height);
  int rc = avcodec_open2(decoder.get(), codec, nullptr);
  if (rc < 0) throw VideoDecodeError(fmt::format("{}: cannot open decoder: {}", name, AvError(rc)));

  Clip clip;
  clip.fps = RateOf(stream->avg_frame_rate);
  if (clip.fps == 0) clip.fps = RateOf(stream->r_frame_rate);
  clip.source_width = stream->codecpar->width;
  clip.source_height = stream->codecpar->height;

  const int64_t span = (request.num_frames - 1) * request.frame_interval + 1;
  int64_t total = stream->nb_frames > 0 ? stream->nb_frames : request.expected_frames;
  if (request.clip_start != "start" && total <= 0) total = CountFrames(file);
  if (total > 0 && total < span)
    throw VideoDecodeError(
        fmt::format("{}: too short: {} frames, a clip of {} frames every {} needs {}", name, total,
                    request.num_frames, request.frame_interval, span));
  int64_t latest = std::max<int64_t>(0, total - span);
  if (request.clip_start == "center") {
    clip.first_frame = latest / 2;
  } else if (request.clip_start == "random") {
    clip.first_frame =
        std::min<int64_t>(latest, static_cast<int64_t>(request.random_draw * (latest + 1)));
  }
  clip.source_frames = total;

  const int64_t out_h = request.height, out_w = request.width;
  clip.video = torch::empty({3, request.num_frames, out_h, out_w}, torch::kFloat);
  float* out = clip.video.data_ptr<float>();
  const int64_t plane = request.num_frames * out_h * out_w;

  std::unique_ptr<SwsContext, SwsCloser> sws;
  int sws_w = 0, sws_h = 0, sws_format = -1;
  int64_t resized_w = 0, resized_h = 0, rgb_stride = 0;
  std::vector<uint8_t> rgb;
  int64_t frame_number = 0, taken = 0;

  auto take = [&](const AVFrame* frame) {
    if (taken >= request.num_frames) return;
    int64_t wanted = clip.first_frame + taken * request.frame_interval;
    int64_t current = frame_number++;
    if (current != wanted) return;
    if (frame->width <= 0 || frame->height <= 0)
      throw VideoDecodeError(fmt::format("{}: frame {} has no size", name, current));
    if (frame->width > limits::kMaxFrameSide || frame->height > limits::kMaxFrameSide)
      throw VideoDecodeError(
          fmt::format("{}: frame {} is {}x{}, above the limit of {} pixels a "
                      "side",
                      name, current, frame->width, frame->height, limits::kMaxFrameSide));
    if (!sws || frame->width != sws_w || frame->height != sws_h || frame->format != sws_format) {
      // Scale so the shorter side fills the target, keeping the aspect ratio, then crop.
      double scale = std::max(static_cast<double>(out_w) / frame->width,
                              static_cast<double>(out_h) / frame->height);
      resized_w = std::max<int64_t>(out_w, std::llround(frame->width * scale));
      resized_h = std::max<int64_t>(out_h, std::llround(frame->height * scale));
      // A frame of 1x8192 filling a 256x256 clip would be scaled to 256x2M before the crop.
      if (resized_w > 4 * limits::kMaxFrameSide || resized_h > 4 * limits::kMaxFrameSide)
        throw VideoDecodeError(fmt::format(
            "{}: frame {} is {}x{}: filling {}x{} would scale it to {}x{} (aspect ratio too "
            "extreme)",
            name, current, frame->width, frame->height, out_w, out_h, resized_w, resized_h));
      int flags = scale < 1.0 ? SWS_AREA : SWS_BICUBIC;
      sws.reset(sws_getContext(frame->width, frame->height,
                               static_cast<AVPixelFormat>(frame->format),
                               static_cast<int>(resized_w), static_cast<int>(resized_h),
                               AV_PIX_FMT_RGB24, flags, nullptr, nullptr, nullptr));
      if (!sws) throw VideoDecodeError(fmt::format("{}: cannot convert its pixel format", name));
      sws_w = frame->width;
      sws_h = frame->height;
      sws_format = frame->format;
      // swscale's SIMD paths write whole blocks past the end of a row: pad rows and the buffer.
      rgb_stride = (resized_w * 3 + 63) / 64 * 64;
      rgb.assign(static_cast<size_t>(rgb_stride * (resized_h + 2) + 64), 0);
    }
    uint8_t* dst[4] = {rgb.data(), nullptr, nullptr, nullptr};
    int dst_stride[4] = {static_cast<int>(rgb_stride), 0, 0, 0};
    sws_scale(sws.get(), frame->data, frame->linesize, 0, frame->height, dst, dst_stride);
    int64_t x0 = (resized_w - out_w) / 2, y0 = (resized_h - out_h) / 2;
    for (int64_t y = 0; y < out_h; ++y) {
      const uint8_t* row = rgb.data() + (y0 + y) * rgb_stride + x0 * 3;
      int64_t base = (taken * out_h + y) * out_w;
      for (int64_t x = 0; x < out_w; ++x) {
        for (int c = 0; c < 3; ++c) out[c * plane + base + x] = row[x * 3 + c] / 127.5f - 1.0f;
      }
    }
    ++taken;
  };

  std::unique_ptr<AVPacket, PacketCloser> packet(av_packet_alloc());
  std::unique_ptr<AVFrame, FrameCloser> frame(av_frame_alloc());
  const std::string bound_note =
      limits::DecodedFrameBoundNote(clip.source_width, clip.source_height);
  auto drain = [&]() {
    while (true) {
      int r = avcodec_receive_frame(decoder.get(), frame.get());
      if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return;
      if (r < 0)
        throw VideoDecodeError(
            fmt::format("{}: decoding failed: {}{}", name, AvError(r), bound_note));
      take(frame.get());
      av_frame_unref(frame.get());
    }
  };
  while (taken < request.num_frames) {
    int r = av_read_frame(in.format.get(), packet.get());
    if (r < 0) break;
    if (packet->stream_index == in.stream) {
      int s = avcodec_send_packet(decoder.get(), packet.get());
      av_packet_unref(packet.get());
      if (s < 0 && s != AVERROR(EAGAIN))
        throw VideoDecodeError(fmt::format("{}: corrupt data at frame {}: {}{}", name, frame_number,
                                           AvError(s), bound_note));
      drain();
    } else {
      av_packet_unref(packet.get());
    }
  }
  if (taken < request.num_frames) {
    avcodec_send_packet(decoder.get(), nullptr);  // flush the frames the decoder holds back
    drain();
  }
  if (taken < request.num_frames)
    throw VideoDecodeError(fmt::format(
        "{}: too short: decoding ended after {} frames, a clip of {} frames every {} from frame "
        "{} needs {}",
        name, frame_number, request.num_frames, request.frame_interval, clip.first_frame,
        clip.first_frame + span));
  if (clip.source_frames <= 0) clip.source_frames = frame_number;
  return clip;
}

}  // namespace modelgrow::video_csv
