// Folder claims: one holder at a time, waiting with a message, stale claims of dead processes
// and of hosts whose heartbeat stopped taken over, and a refusal that names the holder.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "modelgrow/experiment/folder_lock.h"
#include "modelgrow/sdk/atomic_file.h"
#include "test_util.h"

namespace modelgrow {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;
using testing::TempDir;

// Output a waiting thread writes while another reads it. The stream has no buffer of its own, so
// every write reaches overflow/xsputn and takes the lock the reader takes (TSan found the writes
// unlocked when the lock guarded only the reads).
class SharedLog : public std::streambuf {
 public:
  std::ostream& stream() { return stream_; }
  std::string text() {
    std::lock_guard lock(mutex_);
    return text_;
  }

 protected:
  int_type overflow(int_type c) override {
    if (traits_type::eq_int_type(c, traits_type::eof())) return traits_type::not_eof(c);
    std::lock_guard lock(mutex_);
    text_.push_back(traits_type::to_char_type(c));
    return c;
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    std::lock_guard lock(mutex_);
    text_.append(s, static_cast<size_t>(n));
    return n;
  }

 private:
  std::mutex mutex_;
  std::string text_;
  std::ostream stream_{this};
};

FolderLockOptions Fast(std::ostream* log) {
  FolderLockOptions o;
  o.heartbeat = 50ms;
  o.stale_after = 500ms;
  o.poll = 10ms;
  o.log = log;
  return o;
}

TEST(FolderLock, RecordsItsHolderAndClearsItOnRelease) {
  TempDir dir;
  const fs::path file = dir / "stage" / "stage.lock";
  {
    FolderLock lock = FolderLock::Acquire(file, "stage pretrain");
    json holder = FolderLock::ReadHolder(file);
    ASSERT_TRUE(holder.is_object());
    EXPECT_EQ(holder["pid"], static_cast<int64_t>(::getpid()));
    EXPECT_EQ(holder["what"], "stage pretrain");
    EXPECT_FALSE(holder["host"].get<std::string>().empty());
    EXPECT_FALSE(holder["started"].get<std::string>().empty());
    EXPECT_NE(FolderLock::Describe(holder).find("pid " + std::to_string(::getpid())),
              std::string::npos);
  }
  EXPECT_TRUE(FolderLock::ReadHolder(file).is_null());
  EXPECT_TRUE(fs::exists(file));
}

TEST(FolderLock, ASecondClaimWaitsForTheFirstAndSaysWhom) {
  TempDir dir;
  const fs::path file = dir / "stage.lock";
  SharedLog log;
  std::optional<FolderLock> first = FolderLock::Acquire(file, "stage pretrain of run a");
  std::atomic<bool> second_has_it{false};
  std::thread waiter([&] {
    FolderLock second = FolderLock::Acquire(file, "stage pretrain of run b", Fast(&log.stream()));
    second_has_it = true;
  });
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(second_has_it.load());
  EXPECT_NE(log.text().find("waiting for stage pretrain of run b"), std::string::npos)
      << log.text();
  EXPECT_NE(log.text().find("(stage pretrain of run a)"), std::string::npos) << log.text();
  first.reset();
  waiter.join();
  EXPECT_TRUE(second_has_it.load());
}

TEST(FolderLock, RefusesWhileALiveProcessHoldsIt) {
  TempDir dir;
  const fs::path file = dir / "run.lock";
  FolderLock held = FolderLock::Acquire(file, "run 'seed=0'");
  EXPECT_THROW_WITH(FolderLock::AcquireOrRefuse(file, "run 'seed=0'"), InputError,
                    "run 'seed=0' is already being run by host",
                    "pid " + std::to_string(::getpid()), file.string());
}

TEST(FolderLock, TakesOverTheClaimOfADeadProcessAtOnce) {
  TempDir dir;
  const fs::path file = dir / "stage.lock";
  // A child claims it and dies without releasing (SIGKILL leaves its record behind).
  pid_t child = ::fork();
  if (child == 0) {
    FolderLock lock = FolderLock::Acquire(file, "stage pretrain");
    ::raise(SIGKILL);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  json left = FolderLock::ReadHolder(file);
  ASSERT_TRUE(left.is_object());
  EXPECT_EQ(left["pid"], static_cast<int64_t>(child));
  std::ostringstream log;
  for (bool refuse : {false, true}) {
    WriteFileAtomic(file, left.dump() + "\n");
    auto start = std::chrono::steady_clock::now();
    FolderLock lock = refuse ? FolderLock::AcquireOrRefuse(file, "again", Fast(&log))
                             : FolderLock::Acquire(file, "again", Fast(&log));
    EXPECT_LT(std::chrono::steady_clock::now() - start, 400ms);
    EXPECT_EQ(FolderLock::ReadHolder(file)["pid"], static_cast<int64_t>(::getpid()));
  }
  EXPECT_NE(log.str().find("taking over"), std::string::npos);
  EXPECT_NE(log.str().find("that process is gone"), std::string::npos) << log.str();
}

// A claim written from another host: trusted while its heartbeat moves, taken over once it
// has not moved for stale_after. stale_after is 30 heartbeats here, not Fast()'s 10: on a loaded
// machine (a fresh-clone test beside two training processes) the test's heart thread once stalled
// for over 500 ms and its claim was taken over while it still beat.
TEST(FolderLock, AnotherHostsClaimIsWaitedForUntilItsHeartbeatStops) {
  TempDir dir;
  const fs::path file = dir / "stage.lock";
  json remote = {{"host", "elsewhere-node-17"},
                 {"pid", 4242},
                 {"pid_start", 1},
                 {"boot_id", "x"},
                 {"started", "then"},
                 {"what", "stage pretrain"},
                 {"beat", 0}};
  WriteFileAtomic(file, remote.dump() + "\n");
  std::atomic<bool> beating{true};
  std::thread heart([&] {
    for (int beat = 1; beating; ++beat) {
      remote["beat"] = beat;
      WriteFileAtomic(file, remote.dump() + "\n");
      std::this_thread::sleep_for(50ms);
    }
  });
  SharedLog log;
  FolderLockOptions options = Fast(&log.stream());
  options.stale_after = 1500ms;
  // Alive: a run claim is refused once a heartbeat is seen.
  EXPECT_THROW_WITH(FolderLock::AcquireOrRefuse(file, "run 'x'", options), InputError,
                    "already being run by host elsewhere-node-17, pid 4242");
  std::atomic<bool> acquired{false};
  std::thread waiter([&] {
    FolderLock lock = FolderLock::Acquire(file, "stage pretrain here", options);
    acquired = true;
  });
  std::this_thread::sleep_for(2000ms);  // longer than stale_after, but the heart beats
  EXPECT_FALSE(acquired.load());
  EXPECT_NE(log.text().find("host elsewhere-node-17, pid 4242"), std::string::npos) << log.text();
  EXPECT_NE(log.text().find("another host"), std::string::npos) << log.text();
  beating = false;
  heart.join();
  auto stopped = std::chrono::steady_clock::now();
  waiter.join();
  EXPECT_TRUE(acquired.load());
  EXPECT_GE(std::chrono::steady_clock::now() - stopped, 1400ms);
  EXPECT_NE(log.text().find("heartbeat has not moved"), std::string::npos) << log.text();
}

}  // namespace
}  // namespace modelgrow
