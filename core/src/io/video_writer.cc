#include "modelgrow/io/video_writer.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "modelgrow/io/gif.h"
#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/sdk/errors.h"

#ifdef MODELGROW_WITH_FFMPEG
extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
}

#include "ffmpeg_handles.h"
#endif

namespace modelgrow {

namespace fs = std::filesystem;

namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

const char* const kFfmpegExtensions[] = {".mp4", ".mkv", ".mov", ".webm", ".avi"};

bool IsFfmpegExtension(const std::string& ext) {
  return std::find(std::begin(kFfmpegExtensions), std::end(kFfmpegExtensions), ext) !=
         std::end(kFfmpegExtensions);
}

// [C, T, H, W] in [-1, 1] -> [T, H, W, 3] uint8 RGB, upscaled.
at::Tensor ToRgbFrames(const at::Tensor& video, int scale) {
  at::Tensor v = video.detach().to(at::kCPU, at::kFloat).clamp(-1, 1);
  if (v.size(0) == 1) v = v.expand({3, v.size(1), v.size(2), v.size(3)});
  at::Tensor rgb = ((v + 1) * 127.5).round().to(at::kByte).permute({1, 2, 3, 0});
  if (scale > 1) rgb = rgb.repeat_interleave(scale, 1).repeat_interleave(scale, 2);
  return rgb.contiguous();
}

#ifdef MODELGROW_WITH_FFMPEG

using ffmpeg::AvError;
using ffmpeg::CodecCloser;
using ffmpeg::FrameCloser;
using ffmpeg::OutputCloser;
using ffmpeg::PacketCloser;
using ffmpeg::SwsCloser;

// H.264 where the container takes it and an encoder exists; else a lossless codec it takes.
const AVCodec* ChooseCodec(const AVOutputFormat* format, bool& h264) {
  h264 = false;
  if (avformat_query_codec(format, AV_CODEC_ID_H264, FF_COMPLIANCE_NORMAL) == 1) {
    if (const AVCodec* c = avcodec_find_encoder(AV_CODEC_ID_H264)) {
      h264 = true;
      return c;
    }
  }
  for (AVCodecID id : {AV_CODEC_ID_FFV1, AV_CODEC_ID_PNG, AV_CODEC_ID_HUFFYUV, AV_CODEC_ID_VP9}) {
    if (avformat_query_codec(format, id, FF_COMPLIANCE_NORMAL) != 1) continue;
    if (const AVCodec* c = avcodec_find_encoder(id)) return c;
  }
  return nullptr;
}

std::string EncodeWithFfmpeg(const fs::path& file, const fs::path& temp, const at::Tensor& rgb,
                             double fps) {
  const std::string name = file.string();
  // x264 reports its settings and statistics at the info level on every file; errors still show.
  if (av_log_get_level() > AV_LOG_ERROR) av_log_set_level(AV_LOG_ERROR);
  const int t = static_cast<int>(rgb.size(0));
  int h = static_cast<int>(rgb.size(1)), w = static_cast<int>(rgb.size(2));
  AVFormatContext* raw = nullptr;
  // The format comes from the real name; the bytes go to the temporary one.
  int rc = avformat_alloc_output_context2(&raw, nullptr, nullptr, name.c_str());
  if (rc < 0 || !raw)
    throw InputError(
        fmt::format("{}: FFmpeg knows no container for this name: {}", name, AvError(rc)));
  std::unique_ptr<AVFormatContext, OutputCloser> out(raw);
  bool h264 = false;
  const AVCodec* codec = ChooseCodec(out->oformat, h264);
  if (!codec)
    throw InputError(fmt::format(
        "{}: this FFmpeg has no H.264 encoder and no lossless codec the {} container takes; "
        "write .mkv or .gif",
        name, out->oformat->name));
  AVPixelFormat pix =
      h264 ? AV_PIX_FMT_YUV420P
           : avcodec_find_best_pix_fmt_of_list(codec->pix_fmts, AV_PIX_FMT_RGB24, 0, nullptr);
  // yuv420p needs even sides: the last row / column is repeated.
  const int enc_h = pix == AV_PIX_FMT_YUV420P ? (h + 1) / 2 * 2 : h;
  const int enc_w = pix == AV_PIX_FMT_YUV420P ? (w + 1) / 2 * 2 : w;

  AVStream* stream = avformat_new_stream(out.get(), nullptr);
  std::unique_ptr<AVCodecContext, CodecCloser> enc(avcodec_alloc_context3(codec));
  AVRational rate = av_d2q(fps > 0 ? fps : 8, 100000);
  enc->width = enc_w;
  enc->height = enc_h;
  enc->pix_fmt = pix;
  enc->time_base = av_inv_q(rate);
  enc->framerate = rate;
  enc->gop_size = 12;
  if (out->oformat->flags & AVFMT_GLOBALHEADER) enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  if (h264) {
    av_opt_set(enc->priv_data, "crf", "18", 0);
    av_opt_set(enc->priv_data, "preset", "medium", 0);
  }
  rc = avcodec_open2(enc.get(), codec, nullptr);
  if (rc < 0)
    throw RunError(
        fmt::format("{}: cannot open the {} encoder: {}", name, codec->name, AvError(rc)));
  avcodec_parameters_from_context(stream->codecpar, enc.get());
  stream->time_base = enc->time_base;
  rc = avio_open(&out->pb, temp.c_str(), AVIO_FLAG_WRITE);
  if (rc < 0) throw InputError(fmt::format("{}: cannot write: {}", temp.string(), AvError(rc)));
  rc = avformat_write_header(out.get(), nullptr);
  if (rc < 0) throw RunError(fmt::format("{}: cannot write the header: {}", name, AvError(rc)));

  std::unique_ptr<SwsContext, SwsCloser> sws(sws_getContext(
      enc_w, enc_h, AV_PIX_FMT_RGB24, enc_w, enc_h, pix, SWS_BICUBIC, nullptr, nullptr, nullptr));
  std::unique_ptr<AVFrame, FrameCloser> frame(av_frame_alloc());
  frame->format = pix;
  frame->width = enc_w;
  frame->height = enc_h;
  av_frame_get_buffer(frame.get(), 0);
  std::unique_ptr<AVPacket, PacketCloser> packet(av_packet_alloc());
  auto drain = [&] {
    while (true) {
      int r = avcodec_receive_packet(enc.get(), packet.get());
      if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return;
      if (r < 0) throw RunError(fmt::format("{}: encoding failed: {}", name, AvError(r)));
      // Encoders that reorder frames (x264's B-frames) may leave the duration unset, and MP4's
      // muxer then gives the last frame none: players and decoders drop it.
      if (packet->duration == 0) packet->duration = 1;
      av_packet_rescale_ts(packet.get(), enc->time_base, stream->time_base);
      packet->stream_index = stream->index;
      r = av_interleaved_write_frame(out.get(), packet.get());
      if (r < 0) throw RunError(fmt::format("{}: writing failed: {}", name, AvError(r)));
    }
  };
  std::vector<uint8_t> padded(static_cast<size_t>(enc_w) * enc_h * 3 + 64);
  for (int i = 0; i < t; ++i) {
    const uint8_t* src = rgb[i].data_ptr<uint8_t>();
    for (int y = 0; y < enc_h; ++y) {
      const uint8_t* row = src + static_cast<size_t>(std::min(y, h - 1)) * w * 3;
      uint8_t* dst = padded.data() + static_cast<size_t>(y) * enc_w * 3;
      std::copy(row, row + w * 3, dst);
      for (int x = w; x < enc_w; ++x) std::copy(row + (w - 1) * 3, row + w * 3, dst + x * 3);
    }
    av_frame_make_writable(frame.get());
    const uint8_t* planes[1] = {padded.data()};
    int strides[1] = {enc_w * 3};
    sws_scale(sws.get(), planes, strides, 0, enc_h, frame->data, frame->linesize);
    frame->pts = i;
    rc = avcodec_send_frame(enc.get(), frame.get());
    if (rc < 0) throw RunError(fmt::format("{}: encoding failed: {}", name, AvError(rc)));
    drain();
  }
  avcodec_send_frame(enc.get(), nullptr);
  drain();
  rc = av_write_trailer(out.get());
  if (rc < 0) throw RunError(fmt::format("{}: cannot finish the file: {}", name, AvError(rc)));
  return avcodec_get_name(codec->id);
}

#endif

}  // namespace

bool CanWriteVideo(const std::string& extension) {
  std::string ext = Lower(extension);
  if (ext == ".gif") return true;
#ifdef MODELGROW_WITH_FFMPEG
  return IsFfmpegExtension(ext);
#else
  return false;
#endif
}

std::string WriteVideo(const fs::path& file, const at::Tensor& video,
                       const VideoWriteOptions& options) {
  if (!video.defined() || video.dim() != 4 || (video.size(0) != 3 && video.size(0) != 1) ||
      video.size(1) < 1)
    throw InputError(fmt::format(
        "{}: a video to write is [C, T, H, W] with C = 3 (or 1), got {}", file.string(),
        video.defined() ? fmt::format("[{}]", fmt::join(video.sizes(), ", ")) : "nothing"));
  const std::string ext = Lower(file.extension().string());
  if (ext == ".gif") {
    WriteGif(file, video.clamp(-1, 1), {options.fps, std::max(1, options.scale)});
    return "gif";
  }
  if (!IsFfmpegExtension(ext))
    throw InputError(
        fmt::format("{}: cannot write '{}' videos; use .gif or .mp4 (also .mkv, .mov, "
                    ".webm, .avi)",
                    file.string(), ext));
#ifdef MODELGROW_WITH_FFMPEG
  if (!file.parent_path().empty()) fs::create_directories(file.parent_path());
  fs::path temp = file;
  temp += fmt::format(".tmp-{}{}", ::getpid(), ext);
  std::string codec;
  try {
    codec =
        EncodeWithFfmpeg(file, temp, ToRgbFrames(video, std::max(1, options.scale)), options.fps);
  } catch (...) {
    std::error_code ec;
    fs::remove(temp, ec);
    throw;
  }
  std::error_code ec;
  fs::rename(temp, file, ec);
  if (ec)
    throw RunError(
        fmt::format("cannot rename {} to {}: {}", temp.string(), file.string(), ec.message()));
  return codec;
#else
  throw InputError(
      fmt::format("{}: this build has no FFmpeg libraries; write a .gif instead", file.string()));
#endif
}

}  // namespace modelgrow
