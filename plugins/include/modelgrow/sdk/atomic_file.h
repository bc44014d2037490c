// Crash-safe writes: data goes to a temporary file beside the target, is fsync'ed, then renamed
// over the target, and the folder is fsync'ed. A crash leaves the old file or the new one, never
// half of one under the real name.
#pragma once

#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>

namespace modelgrow {

class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(std::filesystem::path target);
  ~AtomicFileWriter();  // removes the temporary file unless committed
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  void Write(const void* data, size_t size);
  void Write(std::string_view text) { Write(text.data(), text.size()); }
  // fsync, rename over the target, fsync the folder.
  void Commit();

 private:
  std::filesystem::path target_;
  std::filesystem::path temp_;
  std::FILE* file_ = nullptr;
  bool committed_ = false;
};

void WriteFileAtomic(const std::filesystem::path& path, std::string_view bytes);
void FsyncDirectory(const std::filesystem::path& dir);
// The whole file as a string; InputError naming the file when it cannot be read.
std::string ReadFile(const std::filesystem::path& path);

}  // namespace modelgrow
