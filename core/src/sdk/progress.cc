#include "modelgrow/sdk/progress.h"

#include <unistd.h>

#include <atomic>
#include <cmath>

#include <fmt/format.h>

namespace modelgrow {

namespace {
std::atomic<int> stderr_terminal{-1};  // -1: ask isatty
}  // namespace

void SetStderrIsTerminal(bool terminal) { stderr_terminal.store(terminal ? 1 : 0); }

bool StderrIsTerminal() {
  int t = stderr_terminal.load();
  return t >= 0 ? t == 1 : ::isatty(STDERR_FILENO) == 1;
}

Progress::Progress(std::string label, int64_t total, int64_t start)
    : label_(std::move(label)),
      total_(total),
      start_(start),
      done_(start),
      tty_(StderrIsTerminal()),
      begin_(std::chrono::steady_clock::now()),
      last_print_(begin_) {}

double Progress::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - begin_).count();
}

double Progress::steps_per_second() const {
  double t = elapsed_seconds();
  return t > 0 ? static_cast<double>(done_ - start_) / t : 0;
}

std::string Progress::FormatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  auto s = static_cast<int64_t>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}:{:02d}:{:02d}", s / 3600, (s / 60) % 60, s % 60);
  return fmt::format("{}:{:02d}", s / 60, s % 60);
}

void Progress::Update(int64_t done, const std::string& extra) {
  done_ = done;
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - last_print_).count();
  // A terminal redraws ~10 times a second; a log gets a line every 10 s (and the last step).
  if (since < (tty_ ? 0.1 : 10.0) && done < total_) return;
  last_print_ = now;
  double rate = steps_per_second();
  double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : -1;
  double fraction = total_ > 0 ? static_cast<double>(done) / static_cast<double>(total_) : 1;
  if (tty_) {
    constexpr int kWidth = 24;
    int filled = static_cast<int>(fraction * kWidth);
    std::string bar;
    for (int i = 0; i < kWidth; ++i) bar += i < filled ? "\u2588" : "\u2591";
    std::fprintf(stderr, "\r\033[K[%s] %lld/%lld %s %3.0f%%  %s  %.2f it/s  ETA %s", label_.c_str(),
                 static_cast<long long>(done), static_cast<long long>(total_), bar.c_str(),
                 fraction * 100, extra.c_str(), rate, FormatDuration(eta).c_str());
  } else {
    std::fprintf(stderr, "[%s] %lld/%lld (%.0f%%)  %s  %.2f it/s  ETA %s\n", label_.c_str(),
                 static_cast<long long>(done), static_cast<long long>(total_), fraction * 100,
                 extra.c_str(), rate, FormatDuration(eta).c_str());
  }
  std::fflush(stderr);
}

void Progress::Finish(const std::string& extra) {
  if (tty_) std::fprintf(stderr, "\r\033[K");
  std::fprintf(stderr, "[%s] done: %lld steps in %s (%.2f it/s)%s%s\n", label_.c_str(),
               static_cast<long long>(done_ - start_), FormatDuration(elapsed_seconds()).c_str(),
               steps_per_second(), extra.empty() ? "" : "  ", extra.c_str());
  std::fflush(stderr);
}

}  // namespace modelgrow
