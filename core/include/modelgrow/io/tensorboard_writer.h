// TensorBoard event files: scalars (training and evaluation curves) and images (sample videos as
// animated GIFs, which TensorBoard's image dashboard plays). The format is TensorBoard's own:
// records of [length u64][masked crc32c of length][Event protobuf][masked crc32c of data] in a
// file named events.out.tfevents.<seconds>.<host>. `tensorboard --logdir runs/<name>/runs` shows
// every run of an experiment side by side.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace modelgrow {

class TensorBoardWriter {
 public:
  // Starts a new event file in `folder` (created). Throws RunError when the build has no
  // TensorBoard support (no protobuf) or the file cannot be written.
  explicit TensorBoardWriter(const std::filesystem::path& folder);
  ~TensorBoardWriter();
  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;

  // Whether this build writes event files (it needs protobuf at build time).
  static bool Available();

  // `wall_time` in seconds since the epoch; < 0: now.
  void Scalar(const std::string& tag, int64_t step, double value, double wall_time = -1);
  // An encoded image (PNG, JPEG or GIF bytes) of the given size.
  void Image(const std::string& tag, int64_t step, const std::string& encoded, int64_t height,
             int64_t width, double wall_time = -1);
  void Flush();
  const std::filesystem::path& file() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// CRC-32C (Castagnoli) and TensorBoard's masking of it, for writing and checking records.
uint32_t Crc32c(const void* data, size_t size);
uint32_t MaskedCrc32c(const void* data, size_t size);

}  // namespace modelgrow
