#include "launcher.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include <fmt/format.h>

#include "modelgrow/sdk/errors.h"

extern char** environ;

namespace modelgrow::cli {

namespace {

// The signal handler writes the signal's number here; the main loop reads it.
int signal_pipe[2] = {-1, -1};

void OnSignal(int sig) {
  int saved = errno;
  unsigned char byte = static_cast<unsigned char>(sig);
  [[maybe_unused]] ssize_t n = ::write(signal_pipe[1], &byte, 1);
  errno = saved;
}

constexpr int kForwarded[] = {SIGINT, SIGTERM, SIGHUP};

struct Worker {
  int rank = 0;
  pid_t pid = -1;
  int out = -1, err = -1;  // read ends of its stdout and stderr
  std::string out_line, err_line;
  bool running = false;
  int status = 0;
};

void WriteAll(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

// Passes on the complete lines of `buffer` (all of it at end of stream), each with the prefix.
void Relay(std::string& buffer, const std::string& prefix, int fd, bool eof) {
  std::string out;
  size_t start = 0;
  while (true) {
    size_t end = buffer.find_first_of("\n\r", start);
    if (end == std::string::npos) break;
    out += prefix + buffer.substr(start, end - start) + "\n";
    start = end + 1;
  }
  buffer.erase(0, start);
  if (eof && !buffer.empty()) {
    out += prefix + buffer + "\n";
    buffer.clear();
  }
  if (!out.empty()) WriteAll(fd, out);
}

std::string Describe(int status) {
  if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    return fmt::format("was killed by signal {} ({})", WTERMSIG(status),
                       ::strsignal(WTERMSIG(status)));
  }
  return fmt::format("ended with wait status {}", status);
}

bool Failed(int status) { return !WIFEXITED(status) || WEXITSTATUS(status) != 0; }

}  // namespace

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw RunError(fmt::format("socket: {}", std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int error = errno;
    ::close(fd);
    throw RunError(fmt::format("cannot find a free port: {}", std::strerror(error)));
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

int LaunchLocalWorkers(const LaunchSpec& spec) {
  const int port = spec.master_port > 0 ? spec.master_port : FreePort();
  if (::pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    throw RunError(fmt::format("pipe: {}", std::strerror(errno)));
  }
  struct sigaction action {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  for (int sig : kForwarded) ::sigaction(sig, &action, nullptr);

  // Everything a child needs is built before fork(): after it, only exec-safe calls.
  std::vector<std::string> base_env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry = *e;
    std::string name = entry.substr(0, entry.find('='));
    static const char* kOwn[] = {"RANK",        "WORLD_SIZE",  "LOCAL_RANK", "LOCAL_WORLD_SIZE",
                                 "MASTER_ADDR", "MASTER_PORT", "GROUP_RANK", "ROLE_RANK"};
    bool own = spec.environment.count(name) > 0;
    for (const char* o : kOwn) own = own || name == o;
    if (!own) base_env.push_back(entry);
  }
  for (const auto& [name, value] : spec.environment) base_env.push_back(name + "=" + value);
  std::vector<char*> argv;
  std::vector<std::string> args = spec.argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  const pid_t launcher = ::getpid();
  std::vector<Worker> workers(spec.nproc);
  for (int rank = 0; rank < spec.nproc; ++rank) {
    std::vector<std::string> env = base_env;
    env.push_back(fmt::format("RANK={}", rank));
    env.push_back(fmt::format("WORLD_SIZE={}", spec.nproc));
    env.push_back(fmt::format("LOCAL_RANK={}", rank));
    env.push_back(fmt::format("LOCAL_WORLD_SIZE={}", spec.nproc));
    env.push_back(fmt::format("GROUP_RANK=0"));
    env.push_back("MASTER_ADDR=127.0.0.1");
    env.push_back(fmt::format("MASTER_PORT={}", port));
    std::vector<char*> envp;
    for (std::string& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
      throw RunError(fmt::format("pipe: {}", std::strerror(errno)));
    }
    pid_t pid = ::fork();
    if (pid < 0) throw RunError(fmt::format("fork: {}", std::strerror(errno)));
    if (pid == 0) {
      // Its own process group: a terminal's Ctrl-C reaches it only through the launcher. It dies
      // with the launcher, even when the launcher is SIGKILLed.
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != launcher) ::_exit(1);
      struct sigaction restore {};
      restore.sa_handler = SIG_DFL;
      sigemptyset(&restore.sa_mask);
      for (int sig : kForwarded) ::sigaction(sig, &restore, nullptr);
      ::dup2(out[1], STDOUT_FILENO);
      ::dup2(err[1], STDERR_FILENO);
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
    ::setpgid(pid, pid);  // also here, so the group exists before any signal is forwarded
    ::close(out[1]);
    ::close(err[1]);
    workers[rank] = {rank, pid, out[0], err[0], "", "", true, 0};
  }
  std::string started;
  for (const Worker& w : workers) started += fmt::format(" rank {} pid {},", w.rank, w.pid);
  started.pop_back();
  std::cerr << fmt::format("== started {} worker(s) on 127.0.0.1:{}:{}\n", spec.nproc, port,
                           started)
            << std::flush;

  int interrupted = 0;      // the signal the launcher was stopped by
  int first_failed = -1;    // the rank whose death stopped the others
  bool killed_all = false;  // SIGKILL sent after the grace period (or a second Ctrl-C)
  auto stop_deadline = std::chrono::steady_clock::time_point::max();
  auto signal_all = [&](int sig) {
    for (const Worker& w : workers) {
      if (w.running) ::kill(-w.pid, sig);
    }
  };

  while (true) {
    std::vector<pollfd> fds;
    fds.push_back({signal_pipe[0], POLLIN, 0});
    for (const Worker& w : workers) {
      if (w.out >= 0) fds.push_back({w.out, POLLIN, 0});
      if (w.err >= 0) fds.push_back({w.err, POLLIN, 0});
    }
    bool any_running = false;
    for (const Worker& w : workers) any_running = any_running || w.running;
    if (fds.size() == 1 && !any_running) break;
    int ready = ::poll(fds.data(), fds.size(), 100);
    if (ready < 0 && errno != EINTR) throw RunError(fmt::format("poll: {}", std::strerror(errno)));

    // Signals to forward.
    unsigned char sig;
    while (::read(signal_pipe[0], &sig, 1) == 1) {
      if (interrupted != 0 || first_failed >= 0) {
        // A second request: no more waiting.
        signal_all(SIGKILL);
        killed_all = true;
      } else {
        interrupted = sig;
        std::cerr << fmt::format("== {}: passed on to the workers; waiting for them to stop\n",
                                 ::strsignal(sig))
                  << std::flush;
        signal_all(sig);
      }
    }
    // Output.
    char buffer[65536];
    for (Worker& w : workers) {
      for (int* fd : {&w.out, &w.err}) {
        if (*fd < 0) continue;
        pollfd probe{*fd, POLLIN, 0};
        if (::poll(&probe, 1, 0) <= 0) continue;
        ssize_t n = ::read(*fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        std::string& line = fd == &w.out ? w.out_line : w.err_line;
        int target = fd == &w.out ? STDOUT_FILENO : STDERR_FILENO;
        std::string prefix = fmt::format("[rank{}]: ", w.rank);
        if (n <= 0) {
          Relay(line, prefix, target, true);
          ::close(*fd);
          *fd = -1;
        } else {
          line.append(buffer, static_cast<size_t>(n));
          Relay(line, prefix, target, false);
        }
      }
    }
    // Exits.
    for (Worker& w : workers) {
      if (!w.running) continue;
      int status = 0;
      pid_t r = ::waitpid(w.pid, &status, WNOHANG);
      if (r != w.pid) continue;
      w.running = false;
      w.status = status;
      if (Failed(status) && interrupted == 0 && first_failed < 0) {
        first_failed = w.rank;
        std::cerr << fmt::format("== worker rank {} (pid {}) {}: stopping the other workers\n",
                                 w.rank, w.pid, Describe(status))
                  << std::flush;
        signal_all(SIGTERM);
        stop_deadline = std::chrono::steady_clock::now() + spec.grace;
      }
    }
    if (!killed_all && std::chrono::steady_clock::now() > stop_deadline) {
      signal_all(SIGKILL);
      killed_all = true;
    }
  }
  for (int sig : kForwarded) ::signal(sig, SIG_DFL);
  ::close(signal_pipe[0]);
  ::close(signal_pipe[1]);

  if (interrupted != 0) {
    std::cerr << fmt::format("modelgrow: stopped by {}\n", ::strsignal(interrupted));
    return 128 + interrupted;
  }
  if (first_failed >= 0) {
    const Worker& w = workers[first_failed];
    int others = 0;
    for (const Worker& o : workers) others += o.rank != w.rank ? 1 : 0;
    std::cerr << fmt::format(
        "modelgrow: worker rank {} (pid {}) {}; stopped the other {} worker(s)\n", w.rank, w.pid,
        Describe(w.status), others);
    if (WIFEXITED(w.status) && (WEXITSTATUS(w.status) == 1 || WEXITSTATUS(w.status) == 2)) {
      return WEXITSTATUS(w.status);
    }
    return 1;
  }
  return 0;
}

}  // namespace modelgrow::cli
