#include "modelgrow/base/console_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

#include "modelgrow/sdk/progress.h"

namespace modelgrow {

struct ConsoleLog::Impl {
  int saved_stderr = -1;  // the real stderr, which the copy thread writes to
  int pipe_read = -1;
  std::ofstream file;
  std::thread copier;
  std::string line;  // the current line as it will end up (after \r redraws)
  bool in_escape = false;

  void ToFile(const char* data, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      char c = data[i];
      if (in_escape) {  // ESC [ ... letter: a terminal control sequence
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) in_escape = false;
        continue;
      }
      if (c == '\033') {
        in_escape = true;
      } else if (c == '\r') {
        line.clear();
      } else if (c == '\n') {
        file << line << '\n';
        file.flush();
        line.clear();
      } else {
        line += c;
      }
    }
  }
};

ConsoleLog::ConsoleLog(const std::filesystem::path& file) : impl_(std::make_unique<Impl>()) {
  std::error_code ec;
  std::filesystem::create_directories(file.parent_path(), ec);
  impl_->file.open(file, std::ios::app);
  int fds[2];
  if (!impl_->file || ::pipe2(fds, O_CLOEXEC) != 0) return;
  // Progress bars keep drawing for the terminal the user sees, although stderr becomes a pipe.
  SetStderrIsTerminal(StderrIsTerminal());
  std::fflush(stderr);
  impl_->saved_stderr = ::fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
  ::dup2(fds[1], STDERR_FILENO);
  ::close(fds[1]);
  impl_->pipe_read = fds[0];
  Impl* impl = impl_.get();
  impl_->copier = std::thread([impl] {
    char buffer[4096];
    for (ssize_t n; (n = ::read(impl->pipe_read, buffer, sizeof buffer)) > 0;) {
      for (ssize_t done = 0; done < n;) {
        ssize_t w = ::write(impl->saved_stderr, buffer + done, static_cast<size_t>(n - done));
        if (w <= 0) break;
        done += w;
      }
      impl->ToFile(buffer, static_cast<size_t>(n));
    }
  });
}

ConsoleLog::~ConsoleLog() {
  if (impl_->saved_stderr < 0) return;
  std::fflush(stderr);
  // Restoring stderr closes the pipe's last write end: the copier drains it and stops.
  ::dup2(impl_->saved_stderr, STDERR_FILENO);
  impl_->copier.join();
  if (!impl_->line.empty()) impl_->file << impl_->line << '\n';
  ::close(impl_->pipe_read);
  ::close(impl_->saved_stderr);
}

}  // namespace modelgrow
