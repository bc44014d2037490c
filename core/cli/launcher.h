// `modelgrow run MANIFEST --nproc-per-node N`: N workers on this machine, started the way
// `torchrun --standalone` starts them — each the same command with RANK, WORLD_SIZE, LOCAL_RANK,
// LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1 and MASTER_PORT in its environment.
//
// The launcher prefixes every line a worker writes with its rank ("[rank1]: ..."), forwards
// Ctrl-C (SIGINT), SIGTERM and SIGHUP to the workers and waits for them, and when a worker dies
// stops the others (SIGTERM, then SIGKILL after a grace period) and says which rank died and how.
// Each worker runs in its own process group, so a Ctrl-C at the terminal reaches it once (through
// the launcher), and dies with the launcher if the launcher is killed.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace modelgrow::cli {

struct LaunchSpec {
  std::vector<std::string> argv;  // a worker's command line; argv[0] is the program
  int nproc = 1;
  int master_port = 0;                             // 0: a free port of this machine
  std::map<std::string, std::string> environment;  // set in every worker (e.g. OMP_NUM_THREADS)
  std::chrono::milliseconds grace{std::chrono::seconds(10)};  // SIGTERM -> SIGKILL
};

// Runs the workers to the end and returns the launcher's exit code: 0 when every worker
// succeeded; else a failed worker's own exit code when it is 1 or 2 (so bad input still exits
// 2), 1 when it was killed, 128 + signal when the launcher itself was interrupted.
int LaunchLocalWorkers(const LaunchSpec& spec);

// A TCP port nobody listens on now (bound to port 0 and released).
int FreePort();

}  // namespace modelgrow::cli
