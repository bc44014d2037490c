// Claims on folders that several processes may want at once: a stage folder two Slurm array
// tasks both need (pre-training, a made text encoder, the classifier, a baseline evaluation), or a
// run folder a second `modelgrow run` is pointed at.
//
// A claim is a lock file held with flock(2) for as long as the work lasts and holding one JSON
// line about its holder: host, pid, the process's start (to tell a reused pid apart), start time,
// what it is doing, and a heartbeat counter the holder advances every few seconds. flock alone
// settles it between processes of one machine (the kernel drops the lock when its holder dies,
// however it dies); the record covers the rest:
//   - a record left by a dead process of this machine is stale: the claim is taken over;
//   - a record from another machine is trusted while its heartbeat moves (flock on network file
//     systems may be local to each client); one whose heartbeat has not moved for `stale_after`
//     is taken over, so a task requeued elsewhere after a node failure does not wait forever.
#pragma once

#include <chrono>
#include <filesystem>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace modelgrow {

struct FolderLockOptions {
  std::chrono::milliseconds heartbeat{std::chrono::seconds(10)};
  // A holder on another host whose heartbeat has not moved for this long is gone.
  std::chrono::milliseconds stale_after{std::chrono::minutes(2)};
  // How often a waiting process looks again.
  std::chrono::milliseconds poll{std::chrono::milliseconds(200)};
  std::ostream* log = nullptr;  // where waiting and take-overs are reported (nullptr: stderr)
};

class FolderLock {
 public:
  // Waits until `file` is ours (saying once whom it waits for), then claims it for `what`.
  static FolderLock Acquire(const std::filesystem::path& file, const std::string& what,
                            const FolderLockOptions& options = {});
  // Claims `file` for `what` unless a live process holds it: then InputError naming the holder
  // (host, pid, since when, doing what) and the lock file.
  static FolderLock AcquireOrRefuse(const std::filesystem::path& file, const std::string& what,
                                    const FolderLockOptions& options = {});

  FolderLock(FolderLock&& other) noexcept;
  FolderLock& operator=(FolderLock&& other) noexcept;
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;
  // Releases the claim: the record is cleared, then the flock dropped.
  ~FolderLock();

  const std::filesystem::path& file() const;
  // The record of a lock file as its holder wrote it (null when free or unreadable).
  static nlohmann::json ReadHolder(const std::filesystem::path& file);
  // "host h, pid 123, since 2024-01-01T00:00:00Z (stage pretrain)".
  static std::string Describe(const nlohmann::json& holder);

 private:
  struct State;
  explicit FolderLock(std::unique_ptr<State> state);
  static FolderLock Claim(const std::filesystem::path& file, const std::string& what,
                          const FolderLockOptions& options, bool refuse);
  std::unique_ptr<State> state_;
};

}  // namespace modelgrow
