// Progress: a redrawn bar on a terminal, plain lines in logs. Progress writes to stderr, so each
// test points file descriptor 2 at a pseudo-terminal or a file for the duration.
#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/sdk/progress.h"
#include "modelgrow/train/smoothed_loss.h"
#include "test_util.h"

namespace modelgrow {
namespace {

using testing::TempDir;

// Redirects stderr to `fd` until destroyed.
class StderrTo {
 public:
  explicit StderrTo(int fd) {
    std::fflush(stderr);
    saved_ = ::dup(STDERR_FILENO);
    ::dup2(fd, STDERR_FILENO);
  }
  ~StderrTo() {
    std::fflush(stderr);
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
  }

 private:
  int saved_;
};

// A pseudo-terminal in raw mode (no "\n" -> "\r\n" translation), read back non-blocking.
class PseudoTerminal {
 public:
  PseudoTerminal() {
    master_ = ::posix_openpt(O_RDWR | O_NOCTTY);
    if (master_ < 0 || ::grantpt(master_) != 0 || ::unlockpt(master_) != 0) return;
    slave_ = ::open(::ptsname(master_), O_RDWR | O_NOCTTY);
    termios t;
    ::tcgetattr(slave_, &t);
    ::cfmakeraw(&t);
    ::tcsetattr(slave_, TCSANOW, &t);
    ::fcntl(master_, F_SETFL, ::fcntl(master_, F_GETFL) | O_NONBLOCK);
  }
  ~PseudoTerminal() {
    if (slave_ >= 0) ::close(slave_);
    if (master_ >= 0) ::close(master_);
  }
  bool ok() const { return slave_ >= 0; }
  int slave() const { return slave_; }
  std::string Read() {
    std::string out;
    char buffer[4096];
    for (ssize_t n; (n = ::read(master_, buffer, sizeof buffer)) > 0;) out.append(buffer, n);
    return out;
  }

 private:
  int master_ = -1, slave_ = -1;
};

size_t Count(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

// Three steps: the second after a pause long enough for a terminal redraw, then the last.
void Drive(Progress& progress) {
  progress.Update(1, "loss 0.5000");
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  progress.Update(2, "loss 0.4000");
  progress.Update(3, "loss 0.3000");
  progress.Finish("final loss 0.3000");
}

TEST(Progress, RedrawsOneLineOnATerminal) {
  PseudoTerminal terminal;
  ASSERT_TRUE(terminal.ok()) << "no pseudo-terminal available";
  {
    StderrTo redirect(terminal.slave());
    Progress progress("pretrain", 3);
    Drive(progress);
  }
  std::string text = terminal.Read();
  // Step 1 comes too soon after the start to be drawn; steps 2 and 3 are, over each other.
  EXPECT_EQ(Count(text, "\r\033[K"), 3u) << text;
  EXPECT_EQ(Count(text, "\n"), 1u) << text;
  EXPECT_NE(text.find("\r\033[K[pretrain] 2/3 "), std::string::npos) << text;
  EXPECT_NE(text.find("67%  loss 0.4000"), std::string::npos) << text;
  EXPECT_NE(text.find("\r\033[K[pretrain] 3/3 "), std::string::npos) << text;
  EXPECT_NE(text.find("100%  loss 0.3000"), std::string::npos) << text;
  EXPECT_NE(text.find("\u2588"), std::string::npos) << text;  // the bar
  EXPECT_NE(text.find(" it/s  ETA 0:00"), std::string::npos) << text;
  EXPECT_NE(text.find("[pretrain] done: 3 steps in 0:00 ("), std::string::npos) << text;
  EXPECT_NE(text.find("final loss 0.3000\n"), std::string::npos) << text;
}

TEST(Progress, WritesPlainLinesWhenNotATerminal) {
  TempDir dir;
  std::string path = (dir / "log.txt").string();
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  {
    StderrTo redirect(fd);
    Progress progress("continue", 3);
    Drive(progress);
  }
  ::close(fd);
  std::string text = ReadFile(path);
  // A log gets a line every 10 s and one for the last step; no carriage returns, no bar.
  EXPECT_EQ(Count(text, "\r"), 0u) << text;
  EXPECT_EQ(Count(text, "\033"), 0u) << text;
  EXPECT_EQ(Count(text, "\n"), 2u) << text;
  EXPECT_EQ(text.find("[continue] 2/3"), std::string::npos) << text;
  EXPECT_EQ(text.rfind("[continue] 3/3 (100%)  loss 0.3000  ", 0), 0u) << text;
  EXPECT_NE(text.find(" it/s  ETA 0:00\n[continue] done: 3 steps in 0:00"), std::string::npos)
      << text;
}

TEST(Progress, RatesCountOnlyTheStepsOfThisProcess) {
  Progress progress("resumed", 100, 90);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  {
    TempDir dir;
    int fd = ::open((dir / "log.txt").c_str(), O_WRONLY | O_CREAT, 0644);
    StderrTo redirect(fd);
    progress.Update(95);
    ::close(fd);
  }
  // 5 new steps in >= 50 ms: at most 100 steps/s, not 95 / 0.05.
  EXPECT_GT(progress.steps_per_second(), 0);
  EXPECT_LE(progress.steps_per_second(), 100.5);
}

TEST(Progress, FormatsDurations) {
  EXPECT_EQ(Progress::FormatDuration(0), "0:00");
  EXPECT_EQ(Progress::FormatDuration(65), "1:05");
  EXPECT_EQ(Progress::FormatDuration(59.6), "1:00");
  EXPECT_EQ(Progress::FormatDuration(3723), "1:02:03");
  EXPECT_EQ(Progress::FormatDuration(-1), "?");
  EXPECT_EQ(Progress::FormatDuration(std::numeric_limits<double>::infinity()), "?");
}

TEST(SmoothedLoss, FollowsTheLossWithoutJumpingAtEveryStep) {
  SmoothedLoss loss(20);
  EXPECT_DOUBLE_EQ(loss.Add(1.0), 1.0);
  EXPECT_DOUBLE_EQ(loss.Add(3.0), 2.0);  // a plain mean while there are few steps
  for (int i = 0; i < 200; ++i) loss.Add(1.0);
  EXPECT_NEAR(loss.value(), 1.0, 1e-3);
  const double spiked = loss.Add(101.0);  // one bad batch moves it by a twentieth
  EXPECT_NEAR(spiked, 6.0, 1e-2);
  for (int i = 0; i < 200; ++i) loss.Add(2.0);
  EXPECT_NEAR(loss.value(), 2.0, 1e-3);
}

}  // namespace
}  // namespace modelgrow
