#include "modelgrow/sdk/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "modelgrow/sdk/errors.h"

namespace modelgrow {

namespace fs = std::filesystem;

namespace {
std::atomic<int> temp_counter{0};
}

AtomicFileWriter::AtomicFileWriter(fs::path target) : target_(std::move(target)) {
  if (target_.has_parent_path()) fs::create_directories(target_.parent_path());
  temp_ = target_;
  temp_ += fmt::format(".tmp-{}-{}", ::getpid(), temp_counter++);
  file_ = std::fopen(temp_.c_str(), "wb");
  if (file_ == nullptr) {
    throw RunError(fmt::format("{}: cannot create ({})", temp_.string(), std::strerror(errno)));
  }
}

AtomicFileWriter::~AtomicFileWriter() {
  if (file_ != nullptr) std::fclose(file_);
  if (!committed_) {
    std::error_code ec;
    fs::remove(temp_, ec);
  }
}

void AtomicFileWriter::Write(const void* data, size_t size) {
  if (size > 0 && std::fwrite(data, 1, size, file_) != size) {
    throw RunError(fmt::format("{}: write failed ({})", temp_.string(), std::strerror(errno)));
  }
}

void AtomicFileWriter::Commit() {
  if (std::fflush(file_) != 0 || ::fsync(::fileno(file_)) != 0) {
    throw RunError(fmt::format("{}: flush failed ({})", temp_.string(), std::strerror(errno)));
  }
  std::fclose(file_);
  file_ = nullptr;
  fs::rename(temp_, target_);
  committed_ = true;
  FsyncDirectory(target_.has_parent_path() ? target_.parent_path() : fs::path("."));
}

void WriteFileAtomic(const fs::path& path, std::string_view bytes) {
  AtomicFileWriter writer(path);
  writer.Write(bytes);
  writer.Commit();
}

void FsyncDirectory(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot be read", path.string()));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace modelgrow
