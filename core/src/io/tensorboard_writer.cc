#include "modelgrow/io/tensorboard_writer.h"

#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>

#include <fmt/format.h>

#include "modelgrow/sdk/errors.h"

#ifdef MODELGROW_WITH_TENSORBOARD
#include "proto/tensorboard_event.pb.h"
#endif

namespace modelgrow {

namespace fs = std::filesystem;

namespace {

std::array<uint32_t, 256> Crc32cTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
  return table;
}

double Now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

uint32_t Crc32c(const void* data, size_t size) {
  static const std::array<uint32_t, 256> table = Crc32cTable();
  const auto* p = static_cast<const unsigned char*>(data);
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

uint32_t MaskedCrc32c(const void* data, size_t size) {
  uint32_t crc = Crc32c(data, size);
  return ((crc >> 15) | (crc << 17)) + 0xA282EAD8u;
}

struct TensorBoardWriter::Impl {
  fs::path file;
  std::FILE* out = nullptr;

  void WriteRecord(const std::string& data) {
    const uint64_t length = data.size();
    unsigned char header[8];
    for (int i = 0; i < 8; ++i) header[i] = static_cast<unsigned char>(length >> (8 * i));
    const uint32_t length_crc = MaskedCrc32c(header, 8);
    const uint32_t data_crc = MaskedCrc32c(data.data(), data.size());
    unsigned char crc_bytes[4];
    auto put = [&](const void* p, size_t n) {
      if (std::fwrite(p, 1, n, out) != n) {
        throw RunError(fmt::format("{}: cannot write the TensorBoard event file", file.string()));
      }
    };
    put(header, 8);
    for (int i = 0; i < 4; ++i) crc_bytes[i] = static_cast<unsigned char>(length_crc >> (8 * i));
    put(crc_bytes, 4);
    put(data.data(), data.size());
    for (int i = 0; i < 4; ++i) crc_bytes[i] = static_cast<unsigned char>(data_crc >> (8 * i));
    put(crc_bytes, 4);
  }
};

bool TensorBoardWriter::Available() {
#ifdef MODELGROW_WITH_TENSORBOARD
  return true;
#else
  return false;
#endif
}

TensorBoardWriter::TensorBoardWriter(const fs::path& folder) : impl_(std::make_unique<Impl>()) {
  if (!Available()) {
    throw RunError("this build of modelgrow has no TensorBoard support (protobuf was not found)");
  }
  std::error_code ec;
  fs::create_directories(folder, ec);
  char host[256] = "localhost";
  ::gethostname(host, sizeof host - 1);
  // TensorBoard reads files whose names contain "tfevents"; seconds, host and pid keep them apart.
  impl_->file = folder / fmt::format("events.out.tfevents.{}.{}.{}", static_cast<int64_t>(Now()),
                                     host, ::getpid());
  impl_->out = std::fopen(impl_->file.c_str(), "wb");
  if (impl_->out == nullptr) {
    throw RunError(
        fmt::format("{}: cannot create the TensorBoard event file", impl_->file.string()));
  }
#ifdef MODELGROW_WITH_TENSORBOARD
  tensorboard::Event version;
  version.set_wall_time(Now());
  version.set_file_version("brain.Event:2");
  impl_->WriteRecord(version.SerializeAsString());
#endif
}

TensorBoardWriter::~TensorBoardWriter() {
  if (impl_->out != nullptr) std::fclose(impl_->out);
}

void TensorBoardWriter::Scalar(const std::string& tag, int64_t step, double value,
                               double wall_time) {
#ifdef MODELGROW_WITH_TENSORBOARD
  tensorboard::Event event;
  event.set_wall_time(wall_time >= 0 ? wall_time : Now());
  event.set_step(step);
  tensorboard::Summary::Value* v = event.mutable_summary()->add_value();
  v->set_tag(tag);
  v->set_simple_value(static_cast<float>(value));
  impl_->WriteRecord(event.SerializeAsString());
#else
  (void)tag, (void)step, (void)value, (void)wall_time;
#endif
}

void TensorBoardWriter::Image(const std::string& tag, int64_t step, const std::string& encoded,
                              int64_t height, int64_t width, double wall_time) {
#ifdef MODELGROW_WITH_TENSORBOARD
  tensorboard::Event event;
  event.set_wall_time(wall_time >= 0 ? wall_time : Now());
  event.set_step(step);
  tensorboard::Summary::Value* v = event.mutable_summary()->add_value();
  v->set_tag(tag);
  tensorboard::Summary::Image* image = v->mutable_image();
  image->set_height(static_cast<int32_t>(height));
  image->set_width(static_cast<int32_t>(width));
  image->set_colorspace(3);  // RGB
  image->set_encoded_image_string(encoded);
  impl_->WriteRecord(event.SerializeAsString());
#else
  (void)tag, (void)step, (void)encoded, (void)height, (void)width, (void)wall_time;
#endif
}

void TensorBoardWriter::Flush() { std::fflush(impl_->out); }

const fs::path& TensorBoardWriter::file() const { return impl_->file; }

}  // namespace modelgrow
