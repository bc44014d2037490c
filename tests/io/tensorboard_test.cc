// TensorBoard event files, read back as TensorBoard reads them: its record framing with masked
// CRC-32C checksums (computed here bit by bit, independently of the writer's table), and the
// Event / Summary protobuf wire format decoded by hand against TensorFlow's field numbers.
#include "modelgrow/io/tensorboard_writer.h"

#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_util.h"

namespace modelgrow {
namespace {

using testing::TempDir;

uint32_t BitwiseCrc32c(const std::string& bytes) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : bytes) {
    crc ^= byte;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
  }
  return ~crc;
}

uint32_t Masked(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xA282EAD8u; }

uint64_t Little(const std::string& bytes, size_t at, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(bytes[at + i]);
  return v;
}

// The records of an event file; fails the test on a bad length or checksum.
std::vector<std::string> ReadRecords(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> records;
  for (size_t at = 0; at < bytes.size();) {
    EXPECT_LE(at + 12, bytes.size()) << "truncated header";
    if (at + 12 > bytes.size()) break;
    const uint64_t length = Little(bytes, at, 8);
    EXPECT_EQ(Little(bytes, at + 8, 4), Masked(BitwiseCrc32c(bytes.substr(at, 8))));
    EXPECT_LE(at + 12 + length + 4, bytes.size()) << "truncated record";
    if (at + 12 + length + 4 > bytes.size()) break;
    std::string data = bytes.substr(at + 12, length);
    EXPECT_EQ(Little(bytes, at + 12 + length, 4), Masked(BitwiseCrc32c(data)));
    records.push_back(data);
    at += 12 + length + 4;
  }
  return records;
}

// A protobuf message as {field number: [raw value]}: varints as numbers in `ints`, fixed32/64
// and length-delimited fields as their bytes.
struct Message {
  std::multimap<int, uint64_t> ints;
  std::multimap<int, std::string> bytes;
};

Message Decode(const std::string& data) {
  Message m;
  size_t at = 0;
  auto varint = [&] {
    uint64_t v = 0;
    for (int shift = 0; at < data.size(); shift += 7) {
      uint8_t b = static_cast<uint8_t>(data[at++]);
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) break;
    }
    return v;
  };
  while (at < data.size()) {
    const uint64_t key = varint();
    const int field = static_cast<int>(key >> 3), type = static_cast<int>(key & 7);
    if (type == 0) {
      m.ints.emplace(field, varint());
    } else if (type == 1 || type == 5) {
      const size_t n = type == 1 ? 8 : 4;
      m.bytes.emplace(field, data.substr(at, n));
      at += n;
    } else if (type == 2) {
      const size_t n = varint();
      m.bytes.emplace(field, data.substr(at, n));
      at += n;
    } else {
      ADD_FAILURE() << "unexpected wire type " << type;
      break;
    }
  }
  return m;
}

TEST(TensorBoard, EventFilesAreTensorBoardsRecordsAndMessages) {
  if (!TensorBoardWriter::Available()) GTEST_SKIP() << "built without protobuf";
  TempDir dir;
  std::filesystem::path file;
  {
    TensorBoardWriter writer(dir / "tb");
    file = writer.file();
    writer.Scalar("pretrain/loss", 10, 0.25, 1700000000.5);
    writer.Scalar("pretrain/loss", 20, 0.125);
    writer.Image("evaluate/base/short/0", 0, std::string("GIF89a\x02\x00\x03\x00", 10), 3, 2);
  }
  EXPECT_NE(file.filename().string().find("events.out.tfevents."), std::string::npos);
  std::vector<std::string> records = ReadRecords(file);
  ASSERT_EQ(records.size(), 4u);

  // First: the file version.
  Message version = Decode(records[0]);
  ASSERT_TRUE(version.bytes.count(3));
  EXPECT_EQ(version.bytes.find(3)->second, "brain.Event:2");

  // Event{wall_time = 1 (double), step = 2, summary = 5}; Summary.Value{tag = 1,
  // simple_value = 2 (float)}.
  Message event = Decode(records[1]);
  double wall_time = 0;
  std::memcpy(&wall_time, event.bytes.find(1)->second.data(), 8);
  EXPECT_DOUBLE_EQ(wall_time, 1700000000.5);
  EXPECT_EQ(event.ints.find(2)->second, 10u);
  Message summary = Decode(event.bytes.find(5)->second);
  Message value = Decode(summary.bytes.find(1)->second);
  EXPECT_EQ(value.bytes.find(1)->second, "pretrain/loss");
  float simple = 0;
  std::memcpy(&simple, value.bytes.find(2)->second.data(), 4);
  EXPECT_FLOAT_EQ(simple, 0.25f);

  // Summary.Value{image = 4}: Image{height = 1, width = 2, colorspace = 3, encoded = 4}.
  Message image_event = Decode(records[3]);
  Message image_value = Decode(Decode(image_event.bytes.find(5)->second).bytes.find(1)->second);
  EXPECT_EQ(image_value.bytes.find(1)->second, "evaluate/base/short/0");
  Message image = Decode(image_value.bytes.find(4)->second);
  EXPECT_EQ(image.ints.find(1)->second, 3u);
  EXPECT_EQ(image.ints.find(2)->second, 2u);
  EXPECT_EQ(image.ints.find(3)->second, 3u);
  EXPECT_EQ(image.bytes.find(4)->second.substr(0, 6), "GIF89a");
}

TEST(TensorBoard, Crc32cMatchesTheStandardCheckValue) {
  // CRC-32C("123456789") = 0xE3069283 (RFC 3720's check value).
  EXPECT_EQ(Crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(BitwiseCrc32c("123456789"), 0xE3069283u);
}

}  // namespace
}  // namespace modelgrow
