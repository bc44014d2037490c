// Helpers for tests that run the experiment engine through the real `modelgrow` binary: start it
// as a child process, watch its output folder, SIGKILL it, read its results.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "modelgrow/sdk/atomic_file.h"
#include "test_paths.h"

namespace modelgrow::testing {

namespace engine_fs = std::filesystem;

inline std::string ModelgrowBinary() { return std::string(MODELGROW_BUILD_DIR) + "/bin/modelgrow"; }

// A `modelgrow` child process (stdout and stderr go to `log`).
class Child {
 public:
  Child(const std::vector<std::string>& args, const engine_fs::path& log,
        const std::map<std::string, std::string>& env = {}) {
    // Everything the child needs is prepared before fork(): after it, only exec-safe calls.
    std::vector<std::string> argv{ModelgrowBinary()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<std::string> envp;
    for (char** e = environ; *e != nullptr; ++e) {
      std::string entry = *e;
      if (!env.count(entry.substr(0, entry.find('=')))) envp.push_back(entry);
    }
    for (const auto& [key, value] : env) envp.push_back(key + "=" + value);
    std::vector<char*> c_argv, c_envp;
    for (std::string& a : argv) c_argv.push_back(a.data());
    c_argv.push_back(nullptr);
    for (std::string& e : envp) c_envp.push_back(e.data());
    c_envp.push_back(nullptr);
    int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    pid_ = ::fork();
    if (pid_ == 0) {
      if (out >= 0) {
        ::dup2(out, STDOUT_FILENO);
        ::dup2(out, STDERR_FILENO);
      }
      ::execve(c_argv[0], c_argv.data(), c_envp.data());
      ::_exit(127);
    }
    if (out >= 0) ::close(out);
  }
  ~Child() {
    if (pid_ > 0 && !finished_) Kill();
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // Polls `ready` until it holds (true) or the child exits first (false); fails after `timeout`.
  bool WaitFor(const std::function<bool()>& ready,
               std::chrono::seconds timeout = std::chrono::seconds(120)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (ready()) return true;
      if (Poll()) return false;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    ADD_FAILURE() << "timed out waiting for the child";
    Kill();
    return false;
  }
  // Sends `signal` (the child goes on running until it reacts).
  void Signal(int signal) {
    if (!finished_) ::kill(pid_, signal);
  }
  bool KilledBy(int signal) {
    Wait();
    return WIFSIGNALED(status_) && WTERMSIG(status_) == signal;
  }
  // SIGKILL now; returns once it is gone.
  void Kill() {
    if (finished_) return;
    ::kill(pid_, SIGKILL);
    Reap(0);
  }
  pid_t pid() const { return pid_; }
  // Waits for the exit; the status as from waitpid.
  int Wait() {
    if (!finished_) Reap(0);
    return status_;
  }
  bool KilledBySigkill() {
    Wait();
    return WIFSIGNALED(status_) && WTERMSIG(status_) == SIGKILL;
  }
  int ExitCode() {
    Wait();
    return WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
  }

 private:
  bool Poll() { return finished_ || Reap(WNOHANG); }
  bool Reap(int flags) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, flags);
    if (r == pid_) {
      finished_ = true;
      status_ = status;
    }
    return finished_;
  }
  pid_t pid_ = -1;
  bool finished_ = false;
  int status_ = 0;
};

// Runs `modelgrow args...` to the end; returns its exit code (-1 when killed by a signal).
inline int RunModelgrow(const std::vector<std::string>& args, const engine_fs::path& log,
                        const std::map<std::string, std::string>& env = {}) {
  Child child(args, log, env);
  return child.ExitCode();
}

inline std::string ReadIfExists(const engine_fs::path& file) {
  std::error_code ec;
  return engine_fs::exists(file, ec) ? ReadFile(file) : std::string();
}

// The largest `step` in a metrics.jsonl (0 when absent or empty).
inline int64_t LastLoggedStep(const engine_fs::path& metrics) {
  std::ifstream in(metrics);
  std::string line;
  int64_t step = 0;
  while (std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("step"))
      step = std::max<int64_t>(step, j["step"].get<int64_t>());
  }
  return step;
}

// The cache folders of an output folder whose names start with `stage` + "-".
inline std::vector<engine_fs::path> StageDirs(const engine_fs::path& out,
                                              const std::string& stage) {
  std::vector<engine_fs::path> dirs;
  std::error_code ec;
  if (!engine_fs::is_directory(out / "cache", ec)) return dirs;
  for (const auto& entry : engine_fs::directory_iterator(out / "cache")) {
    std::string name = entry.path().filename().string();
    if (entry.is_directory() && name.rfind(stage + "-", 0) == 0) dirs.push_back(entry.path());
  }
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

// The only cache folder of `stage` (a test failure when there is not exactly one).
inline engine_fs::path StageDir(const engine_fs::path& out, const std::string& stage) {
  std::vector<engine_fs::path> dirs = StageDirs(out, stage);
  EXPECT_EQ(dirs.size(), 1u) << stage << " in " << out;
  return dirs.empty() ? out / "cache" / (stage + "-missing") : dirs[0];
}

inline nlohmann::json ReadJson(const engine_fs::path& file) {
  return nlohmann::json::parse(ReadFile(file));
}

// `j` without wall-clock timings (keys ending in "seconds"), which no two runs share; what is
// left of a results.json is determined by the manifest and seed alone.
inline nlohmann::json WithoutTimings(const nlohmann::json& j) {
  if (j.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& v : j) out.push_back(WithoutTimings(v));
    return out;
  }
  if (!j.is_object()) return j;
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [key, value] : j.items()) {
    const std::string suffix = "seconds";
    bool timing = key.size() >= suffix.size() &&
                  key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0;
    if (!timing) out[key] = WithoutTimings(value);
  }
  return out;
}

// Replaces the first `from` in `text` (which must be there) with `to`.
inline void Replace(std::string& text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  ASSERT_NE(at, std::string::npos) << from;
  text.replace(at, from.size(), to);
}

inline engine_fs::path WriteText(const engine_fs::path& file, const std::string& text) {
  std::ofstream(file) << text;
  return file;
}

}  // namespace modelgrow::testing
