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

// Errors name the file the user asked for, not the temporary one beside it: "runs/x/report.md:
// cannot write (No space left on device)".
AtomicFileWriter::AtomicFileWriter(fs::path target) : target_(std::move(target)) {
  if (target_.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(target_.parent_path(), ec);
    if (ec) {
      throw RunError(
          fmt::format("{}: cannot create its folder ({})", target_.string(), ec.message()));
    }
  }
  temp_ = target_;
  temp_ += fmt::format(".tmp-{}-{}", ::getpid(), temp_counter++);
  file_ = std::fopen(temp_.c_str(), "wb");
  if (file_ == nullptr) {
    throw RunError(fmt::format("{}: cannot write ({})", target_.string(), std::strerror(errno)));
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
    throw RunError(fmt::format("{}: write failed ({})", target_.string(), std::strerror(errno)));
  }
}

void AtomicFileWriter::Commit() {
  if (std::fflush(file_) != 0 || ::fsync(::fileno(file_)) != 0) {
    throw RunError(fmt::format("{}: write failed ({})", target_.string(), std::strerror(errno)));
  }
  // fclose reports what the last write-back failed with (NFS, a full quota): checked too.
  const int closed = std::fclose(file_);
  file_ = nullptr;
  if (closed != 0) {
    throw RunError(fmt::format("{}: write failed ({})", target_.string(), std::strerror(errno)));
  }
  std::error_code ec;
  fs::rename(temp_, target_, ec);
  if (ec) throw RunError(fmt::format("{}: cannot replace ({})", target_.string(), ec.message()));
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
  std::error_code ec;
  // An ifstream opens a folder and reads it as empty: said plainly instead.
  if (fs::is_directory(path, ec))
    throw InputError(fmt::format("{}: is a folder, expected a file", path.string()));
  if (!fs::exists(path, ec)) throw InputError(fmt::format("{}: no such file", path.string()));
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw InputError(fmt::format("{}: cannot be read ({})", path.string(), std::strerror(errno)));
  }
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace modelgrow
