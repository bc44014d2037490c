// Stopping a run safely on SIGINT (Ctrl-C) or SIGTERM (what Slurm sends before preemption or at
// its time limit). The first signal only asks: training finishes its current step, writes a
// checkpoint and stops; other long loops stop at their next safe point. A second SIGINT exits at
// once (the last checkpoint stays intact: every write is atomic).
#pragma once

#include <stdexcept>
#include <string>

namespace modelgrow {

// Installs the handlers (idempotent). Only commands that can stop safely install them.
void InstallInterruptionHandlers();

// The signal that asked to stop (SIGINT or SIGTERM), or 0.
int StopSignal();
inline bool StopRequested() { return StopSignal() != 0; }
// For tests: as if `signal` had arrived (0 clears).
void RequestStopForTesting(int signal);

// Thrown where work stopped because StopRequested(); `what()` says where and how to continue.
class Interrupted : public std::runtime_error {
 public:
  Interrupted(int signal, std::string where);
  int signal() const { return signal_; }
  // The process exit status for it: 128 + the signal (130 for SIGINT, 143 for SIGTERM).
  int ExitCode() const { return 128 + signal_; }

 private:
  int signal_;
};

// Throws Interrupted(`where`) when a stop was requested.
void ThrowIfStopRequested(const std::string& where);

}  // namespace modelgrow
