#include "modelgrow/base/interruption.h"

#include <unistd.h>
#include <csignal>
#include <cstring>

#include <atomic>

namespace modelgrow {

namespace {

std::atomic<int> stop_signal{0};

void OnSignal(int signal) {
  if (signal == SIGINT && stop_signal.load() != 0) {
    // The second Ctrl-C: the user wants out now. Default action, so the shell sees SIGINT.
    std::signal(SIGINT, SIG_DFL);
    std::raise(SIGINT);
    return;
  }
  stop_signal.store(signal);
  // Only async-signal-safe calls here.
  static const char kNote[] =
      "\nmodelgrow: stopping after the current step (writing a checkpoint); press Ctrl-C again "
      "to quit at once\n";
  [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, kNote, sizeof kNote - 1);
}

}  // namespace

void InstallInterruptionHandlers() {
  struct sigaction action {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  // SA_RESTART: a blocking read interrupted by the signal goes on; the loop notices the flag.
  action.sa_flags = SA_RESTART;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

int StopSignal() { return stop_signal.load(); }

void RequestStopForTesting(int signal) { stop_signal.store(signal); }

Interrupted::Interrupted(int signal, std::string where)
    : std::runtime_error(std::move(where)), signal_(signal) {}

void ThrowIfStopRequested(const std::string& where) {
  if (int s = StopSignal(); s != 0) throw Interrupted(s, where);
}

}  // namespace modelgrow
