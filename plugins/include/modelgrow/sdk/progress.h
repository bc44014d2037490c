// Progress for long loops: a redrawn bar on a terminal, plain lines (every few seconds) in logs.
//   [pretrain] 120/400 ███████░░░░░░░░░░░  30%  loss 0.1234  5.2 it/s  ETA 0:54
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace modelgrow {

// Whether stderr is a terminal, as progress bars see it. The host sets this when it copies stderr
// into a run's console.log (then stderr is a pipe, but what the user sees is still a terminal).
void SetStderrIsTerminal(bool terminal);
bool StderrIsTerminal();

class Progress {
 public:
  // `total` steps; prints to stderr. `start` > 0 when resuming (rates count only new steps).
  Progress(std::string label, int64_t total, int64_t start = 0);
  // After step `done` (1-based); `extra` is appended (e.g. "loss 0.123").
  void Update(int64_t done, const std::string& extra = "");
  // Ends the bar with a summary line.
  void Finish(const std::string& extra = "");
  double steps_per_second() const;
  double elapsed_seconds() const;

  // "1:02:03" / "4:05".
  static std::string FormatDuration(double seconds);

 private:
  std::string label_;
  int64_t total_, start_, done_ = 0;
  bool tty_;
  std::chrono::steady_clock::time_point begin_, last_print_;
};

}  // namespace modelgrow
