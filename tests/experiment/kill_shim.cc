// LD_PRELOAD fault injection for the kill/resume tests: the process SIGKILLs itself right before
// the N-th rename whose target matches a glob, so a test can stop the engine at an exact moment,
// e.g. half way through writing a checkpoint (some files in the staging folder, others not), or
// after a stage's outputs are in place but before it is recorded as done.
//
//   MODELGROW_TEST_KILL_ON_RENAME=<glob over the target path; '*' also matches '/'>
//   MODELGROW_TEST_KILL_ON_RENAME_COUNT=<N, default 1>
//
// It can also hold the process in the middle of a commit, for a signal to arrive there:
//   MODELGROW_TEST_PAUSE_ON_RENAME=<glob>        pause before matching renames ...
//   MODELGROW_TEST_PAUSE_WHILE=<file>            ... as long as this file exists
//   MODELGROW_TEST_PAUSED=<file>                 created when a pause begins (the test waits for
//   it)
//
// Every file the engine writes goes through rename (atomic writes) or renameat2 (checkpoint
// folders swapped in one step), so these two calls see every commit point.
#include <dlfcn.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>

namespace {

std::atomic<int> matches{0};

void MaybeDie(const char* target) {
  const char* pattern = std::getenv("MODELGROW_TEST_KILL_ON_RENAME");
  if (pattern == nullptr || target == nullptr || ::fnmatch(pattern, target, 0) != 0) return;
  const char* count = std::getenv("MODELGROW_TEST_KILL_ON_RENAME_COUNT");
  int wanted = count != nullptr ? std::atoi(count) : 1;
  if (++matches == wanted) {
    // Say where, for the test's log, then die as a real SIGKILL would.
    static const char prefix[] = "kill_shim: SIGKILL before renaming to ";
    ::write(STDERR_FILENO, prefix, sizeof prefix - 1);
    size_t n = 0;
    while (target[n] != '\0') ++n;
    ::write(STDERR_FILENO, target, n);
    ::write(STDERR_FILENO, "\n", 1);
    ::kill(::getpid(), SIGKILL);
  }
}

void MaybePause(const char* target) {
  const char* pattern = std::getenv("MODELGROW_TEST_PAUSE_ON_RENAME");
  const char* flag = std::getenv("MODELGROW_TEST_PAUSE_WHILE");
  if (pattern == nullptr || flag == nullptr || target == nullptr ||
      ::fnmatch(pattern, target, 0) != 0 || ::access(flag, F_OK) != 0) {
    return;
  }
  if (const char* paused = std::getenv("MODELGROW_TEST_PAUSED")) {
    int fd = ::open(paused, O_CREAT | O_WRONLY, 0644);
    if (fd >= 0) ::close(fd);
  }
  while (::access(flag, F_OK) == 0) ::usleep(10000);
}

}  // namespace

extern "C" {

int rename(const char* from, const char* to) {
  MaybePause(to);
  MaybeDie(to);
  using Rename = int (*)(const char*, const char*);
  static Rename real = reinterpret_cast<Rename>(::dlsym(RTLD_NEXT, "rename"));
  return real(from, to);
}

int renameat(int from_dir, const char* from, int to_dir, const char* to) {
  MaybePause(to);
  MaybeDie(to);
  using Renameat = int (*)(int, const char*, int, const char*);
  static Renameat real = reinterpret_cast<Renameat>(::dlsym(RTLD_NEXT, "renameat"));
  return real(from_dir, from, to_dir, to);
}

int renameat2(int from_dir, const char* from, int to_dir, const char* to, unsigned int flags) {
  MaybePause(to);
  MaybeDie(to);
  using Renameat2 = int (*)(int, const char*, int, const char*, unsigned int);
  static Renameat2 real = reinterpret_cast<Renameat2>(::dlsym(RTLD_NEXT, "renameat2"));
  return real(from_dir, from, to_dir, to, flags);
}

}  // extern "C"
