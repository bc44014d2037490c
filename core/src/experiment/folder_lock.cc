#include "modelgrow/experiment/folder_lock.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "modelgrow/base/provenance.h"
#include "modelgrow/sdk/errors.h"

namespace modelgrow {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string HostName() {
  char name[256] = {0};
  if (::gethostname(name, sizeof name - 1) != 0) return "?";
  return name;
}

std::string FirstLine(const fs::path& file) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  return line;
}

// This boot of the machine: a pid from before a reboot names nobody now.
std::string BootId() { return FirstLine("/proc/sys/kernel/random/boot_id"); }

// When the process started, in clock ticks after boot (field 22 of /proc/<pid>/stat); -1 when
// unknown. With the pid it names one process, even after the pid is reused.
int64_t ProcessStart(int64_t pid) {
  std::string stat = FirstLine(fmt::format("/proc/{}/stat", pid));
  size_t paren = stat.rfind(')');  // the command name may hold spaces and parentheses
  if (paren == std::string::npos) return -1;
  std::istringstream fields(stat.substr(paren + 1));
  std::string field;
  for (int i = 3; i <= 22 && fields >> field; ++i) {
    if (i == 22) return std::stoll(field);
  }
  return -1;
}

// Whether the process a record names (on this machine) is still running.
bool HolderAlive(const json& holder) {
  if (holder.value("boot_id", "") != BootId()) return false;
  int64_t pid = holder.value("pid", int64_t{-1});
  if (pid <= 0) return false;
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno != EPERM) return false;
  int64_t start = holder.value("pid_start", int64_t{-1});
  int64_t now = ProcessStart(pid);
  return start < 0 || now < 0 || start == now;
}

json ParseRecord(const std::string& text) {
  if (text.empty()) return json();
  json j = json::parse(text, nullptr, false);
  return j.is_object() ? j : json();
}

json ReadRecordFrom(int fd) {
  std::string text;
  char buffer[4096];
  off_t offset = 0;
  ssize_t n;
  while ((n = ::pread(fd, buffer, sizeof buffer, offset)) > 0) {
    text.append(buffer, static_cast<size_t>(n));
    offset += n;
  }
  return ParseRecord(text);
}

void WriteRecordTo(int fd, const json& record) {
  std::string text = record.dump() + "\n";
  // One write of a short line: a reader sees the old record, the new one, or (rarely, mid-way)
  // a torn line it cannot parse and reads as "unchanged".
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
    throw RunError(fmt::format("cannot write a lock record: {}", std::strerror(errno)));
  }
  ::fdatasync(fd);
}

}  // namespace

struct FolderLock::State {
  fs::path file;
  int fd = -1;
  json record;
  std::chrono::milliseconds heartbeat{};
  std::thread beater;
  std::mutex mutex;
  std::condition_variable cv;
  bool stop = false;

  void Beat() {
    std::unique_lock lock(mutex);
    while (!cv.wait_for(lock, heartbeat, [&] { return stop; })) {
      record["beat"] = record.value("beat", int64_t{0}) + 1;
      try {
        WriteRecordTo(fd, record);
      } catch (const std::exception&) {
        // A missed beat only makes a waiter on another host more likely to take over later.
      }
    }
  }
};

FolderLock::FolderLock(std::unique_ptr<State> state) : state_(std::move(state)) {}
FolderLock::FolderLock(FolderLock&& other) noexcept = default;
FolderLock& FolderLock::operator=(FolderLock&& other) noexcept = default;

FolderLock::~FolderLock() {
  if (!state_) return;
  {
    std::lock_guard lock(state_->mutex);
    state_->stop = true;
  }
  state_->cv.notify_all();
  if (state_->beater.joinable()) state_->beater.join();
  if (::ftruncate(state_->fd, 0) == 0) ::fdatasync(state_->fd);
  ::flock(state_->fd, LOCK_UN);
  ::close(state_->fd);
}

const fs::path& FolderLock::file() const { return state_->file; }

json FolderLock::ReadHolder(const fs::path& file) {
  // Opened afresh each time: network file systems show another client's writes on open.
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return json();
  json record = ReadRecordFrom(fd);
  ::close(fd);
  return record;
}

std::string FolderLock::Describe(const json& holder) {
  if (!holder.is_object()) return "another process";
  return fmt::format("host {}, pid {}, since {} ({})", holder.value("host", "?"),
                     holder.value("pid", int64_t{-1}), holder.value("started", "?"),
                     holder.value("what", "?"));
}

FolderLock FolderLock::Acquire(const fs::path& file, const std::string& what,
                               const FolderLockOptions& options) {
  return Claim(file, what, options, /*refuse=*/false);
}

FolderLock FolderLock::AcquireOrRefuse(const fs::path& file, const std::string& what,
                                       const FolderLockOptions& options) {
  return Claim(file, what, options, /*refuse=*/true);
}

FolderLock FolderLock::Claim(const fs::path& file, const std::string& what,
                             const FolderLockOptions& options, bool refuse) {
  std::ostream& log = options.log != nullptr ? *options.log : std::cerr;
  fs::create_directories(file.parent_path());
  int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw RunError(
        fmt::format("cannot open the lock file {}: {}", file.string(), std::strerror(errno)));
  }
  const std::string host = HostName();
  std::string said;  // the last holder we told the user about
  std::string watched;
  int heartbeats_seen = 0;  // changes of the record while we watched it
  auto watched_since = std::chrono::steady_clock::now();
  auto refuse_now = [&](const json& holder) {
    ::close(fd);
    throw InputError(fmt::format(
        "{} is already being run by {} (lock file {}). Two processes must not run the same "
        "work at once: wait for it to finish or stop it; a different --out starts an "
        "independent copy",
        what, Describe(holder), file.string()));
  };
  while (true) {
    // The file may have been replaced (or removed) since we opened it: lock the one at the path.
    struct stat at_path {
    }, opened{};
    if (::stat(file.c_str(), &at_path) != 0 || ::fstat(fd, &opened) != 0 ||
        at_path.st_ino != opened.st_ino || at_path.st_dev != opened.st_dev) {
      ::close(fd);
      fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
      if (fd < 0) {
        throw RunError(
            fmt::format("cannot open the lock file {}: {}", file.string(), std::strerror(errno)));
      }
    }
    bool locked = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
    if (!locked && errno != EWOULDBLOCK && errno != EINTR) {
      int error = errno;
      ::close(fd);
      throw RunError(fmt::format("cannot lock {}: {} (does this file system support flock?)",
                                 file.string(), std::strerror(error)));
    }
    json holder = locked ? ReadRecordFrom(fd) : ReadHolder(file);
    // How long the record has stayed exactly as it is (its heartbeat not moving).
    std::string key = holder.dump();
    if (key != watched) {
      if (!watched.empty()) heartbeats_seen += 1;
      watched = key;
      watched_since = std::chrono::steady_clock::now();
    }
    auto unchanged = std::chrono::steady_clock::now() - watched_since;
    if (locked) {
      std::string takeover;
      if (holder.is_null()) {
        takeover = "-";
      } else if (holder.value("host", "") == host) {
        if (!HolderAlive(holder)) takeover = "that process is gone";
      } else if (unchanged >= options.stale_after) {
        takeover = fmt::format("its heartbeat has not moved for {} s",
                               std::chrono::duration_cast<std::chrono::seconds>(unchanged).count());
      }
      if (!takeover.empty()) {
        if (takeover != "-") {
          log << fmt::format("== taking over {} from {}: {}\n", file.string(), Describe(holder),
                             takeover)
              << std::flush;
        }
        auto state = std::make_unique<State>();
        state->file = file;
        state->fd = fd;
        state->heartbeat = options.heartbeat;
        state->record = {{"host", host},
                         {"pid", static_cast<int64_t>(::getpid())},
                         {"pid_start", ProcessStart(::getpid())},
                         {"boot_id", BootId()},
                         {"started", UtcTimestamp()},
                         {"what", what},
                         {"beat", 0}};
        try {
          WriteRecordTo(fd, state->record);
        } catch (...) {
          ::flock(fd, LOCK_UN);
          ::close(fd);
          throw;
        }
        State* raw = state.get();
        state->beater = std::thread([raw] { raw->Beat(); });
        return FolderLock(std::move(state));
      }
      ::flock(fd, LOCK_UN);
      // Locked by us yet claimed by a live process: this file system does not share flock
      // between its clients (or the holder is on another host); the record decides.
      if (refuse && (holder.value("host", "") == host || heartbeats_seen > 0)) {
        refuse_now(holder);
      }
    } else if (refuse) {
      refuse_now(holder);
    }
    std::string desc = Describe(holder);
    if (desc != said) {
      said = desc;
      bool remote = holder.is_object() && holder.value("host", "") != host;
      log << fmt::format(
                 "== waiting for {}: {} holds {}{}\n", what, desc, file.string(),
                 remote ? fmt::format(
                              " (another host: taken over if its heartbeat stops for {} s)",
                              std::chrono::duration_cast<std::chrono::seconds>(options.stale_after)
                                  .count())
                        : "")
          << std::flush;
    }
    std::this_thread::sleep_for(options.poll);
  }
}

}  // namespace modelgrow
