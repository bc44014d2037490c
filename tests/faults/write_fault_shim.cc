// LD_PRELOAD fault injection for failing writes: writes to files whose path matches a glob fail
// as on a full disk (ENOSPC) or a failing one (EIO), after a number of bytes has gone through.
//
//   MODELGROW_TEST_FAIL_WRITES=<glob over the path at open; '*' also matches '/'>
//   MODELGROW_TEST_FAIL_ERRNO=ENOSPC|EIO          (default ENOSPC)
//   MODELGROW_TEST_FAIL_AFTER=<bytes per file>    (default 0: the first write fails)
//
// It sees the paths of open/open64/openat/creat/fopen and fails write, pwrite, writev, fwrite,
// fsync and fdatasync on those descriptors: the calls HDF5's sec2 driver, stdio and our atomic
// writers make. One message goes to stderr the first time it fails a write.
#include <dlfcn.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace {

constexpr int kMaxFd = 4096;
std::atomic<long long> written[kMaxFd];
std::atomic<bool> watched[kMaxFd];
std::atomic<bool> announced{false};

template <typename F>
F Real(const char* name) {
  return reinterpret_cast<F>(::dlsym(RTLD_NEXT, name));
}

void Track(int fd, const char* path) {
  if (fd < 0 || fd >= kMaxFd) return;
  const char* pattern = std::getenv("MODELGROW_TEST_FAIL_WRITES");
  bool match = pattern != nullptr && path != nullptr && ::fnmatch(pattern, path, 0) == 0;
  watched[fd] = match;
  written[fd] = 0;
}

int FaultErrno() {
  const char* name = std::getenv("MODELGROW_TEST_FAIL_ERRNO");
  return name != nullptr && std::strcmp(name, "EIO") == 0 ? EIO : ENOSPC;
}

// Whether a write of `size` bytes to `fd` fails; counts what it lets through.
bool Fails(int fd, size_t size) {
  if (fd < 0 || fd >= kMaxFd || !watched[fd]) return false;
  const char* after = std::getenv("MODELGROW_TEST_FAIL_AFTER");
  long long allowed = after != nullptr ? std::atoll(after) : 0;
  if (written[fd] + static_cast<long long>(size) <= allowed) {
    written[fd] += static_cast<long long>(size);
    return false;
  }
  if (!announced.exchange(true)) {
    static const char message[] = "write_fault_shim: failing writes now\n";
    Real<ssize_t (*)(int, const void*, size_t)>("write")(STDERR_FILENO, message,
                                                         sizeof message - 1);
  }
  errno = FaultErrno();
  return true;
}

}  // namespace

extern "C" {

int open(const char* path, int flags, ...) {
  mode_t mode = 0;
  if (flags & (O_CREAT | O_TMPFILE)) {
    va_list args;
    va_start(args, flags);
    mode = va_arg(args, mode_t);
    va_end(args);
  }
  int fd = Real<int (*)(const char*, int, ...)>("open")(path, flags, mode);
  Track(fd, path);
  return fd;
}

int open64(const char* path, int flags, ...) {
  mode_t mode = 0;
  if (flags & (O_CREAT | O_TMPFILE)) {
    va_list args;
    va_start(args, flags);
    mode = va_arg(args, mode_t);
    va_end(args);
  }
  int fd = Real<int (*)(const char*, int, ...)>("open64")(path, flags, mode);
  Track(fd, path);
  return fd;
}

int openat(int dir, const char* path, int flags, ...) {
  mode_t mode = 0;
  if (flags & (O_CREAT | O_TMPFILE)) {
    va_list args;
    va_start(args, flags);
    mode = va_arg(args, mode_t);
    va_end(args);
  }
  int fd = Real<int (*)(int, const char*, int, ...)>("openat")(dir, path, flags, mode);
  Track(fd, path);
  return fd;
}

int creat(const char* path, mode_t mode) {
  int fd = Real<int (*)(const char*, mode_t)>("creat")(path, mode);
  Track(fd, path);
  return fd;
}

FILE* fopen(const char* path, const char* mode) {
  FILE* f = Real<FILE* (*)(const char*, const char*)>("fopen")(path, mode);
  if (f != nullptr) Track(::fileno(f), path);
  return f;
}

FILE* fopen64(const char* path, const char* mode) {
  FILE* f = Real<FILE* (*)(const char*, const char*)>("fopen64")(path, mode);
  if (f != nullptr) Track(::fileno(f), path);
  return f;
}

ssize_t write(int fd, const void* data, size_t size) {
  if (Fails(fd, size)) return -1;
  return Real<ssize_t (*)(int, const void*, size_t)>("write")(fd, data, size);
}

ssize_t pwrite(int fd, const void* data, size_t size, off_t offset) {
  if (Fails(fd, size)) return -1;
  return Real<ssize_t (*)(int, const void*, size_t, off_t)>("pwrite")(fd, data, size, offset);
}

ssize_t pwrite64(int fd, const void* data, size_t size, off64_t offset) {
  if (Fails(fd, size)) return -1;
  return Real<ssize_t (*)(int, const void*, size_t, off64_t)>("pwrite64")(fd, data, size, offset);
}

ssize_t writev(int fd, const struct iovec* iov, int count) {
  size_t size = 0;
  for (int i = 0; i < count; ++i) size += iov[i].iov_len;
  if (Fails(fd, size)) return -1;
  return Real<ssize_t (*)(int, const struct iovec*, int)>("writev")(fd, iov, count);
}

// stdio writes through glibc's internal write, which an interposer does not see: fwrite itself
// is failed instead (as a full disk fails it: nothing written, the stream's error flag set).
size_t fwrite(const void* data, size_t size, size_t count, FILE* stream) {
  if (stream != nullptr && Fails(::fileno(stream), size * count)) return 0;
  return Real<size_t (*)(const void*, size_t, size_t, FILE*)>("fwrite")(data, size, count, stream);
}

int fsync(int fd) {
  if (Fails(fd, 0)) return -1;
  return Real<int (*)(int)>("fsync")(fd);
}

int fdatasync(int fd) {
  if (Fails(fd, 0)) return -1;
  return Real<int (*)(int)>("fdatasync")(fd);
}

}  // extern "C"
