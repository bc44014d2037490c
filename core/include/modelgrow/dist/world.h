// Where this process sits in a multi-process job, read from the environment the way PyTorch's
// `env://` rendezvous reads it, so `torchrun`, `modelgrow run --nproc-per-node N` and Slurm's
// `srun` all start workers the same way:
//
//   torchrun / the local launcher   RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
//                                   MASTER_ADDR, MASTER_PORT
//   srun                            SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID,
//                                   SLURM_NTASKS_PER_NODE / SLURM_STEP_TASKS_PER_NODE; the master
//                                   is the first host of SLURM_JOB_NODELIST unless MASTER_ADDR is
//                                   set, its port MASTER_PORT or one derived from SLURM_JOB_ID
//
// Without either, the process is a world of one.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace modelgrow {

struct WorldInfo {
  int rank = 0;
  int size = 1;
  int local_rank = 0;
  int local_size = 1;
  std::string master_addr;  // rank 0's host, where the TCPStore listens
  int master_port = 0;
  // Where the values came from ("single process", "torchrun environment", "Slurm"), for messages.
  std::string source = "single process";
  // torchrun's elastic agent already hosts the store at MASTER_ADDR:MASTER_PORT
  // (TORCHELASTIC_USE_AGENT_STORE=True): every rank, rank 0 included, connects as a client.
  bool agent_store = false;
  // TORCHELASTIC_RESTART_COUNT: keys of a restarted attempt must not meet the previous attempt's.
  int restart_count = 0;

  bool distributed() const { return size > 1; }
  bool is_root() const { return rank == 0; }
};

// Looks a variable up; std::nullopt when it is unset.
using EnvironmentLookup = std::function<std::optional<std::string>(const std::string& name)>;

// The process's own environment.
EnvironmentLookup ProcessEnvironment();

// Reads the world from `env`. InputError naming the variable for a malformed or inconsistent
// setting: a non-integer, a rank outside [0, WORLD_SIZE), WORLD_SIZE > 1 without MASTER_ADDR or
// MASTER_PORT, a port outside 1..65535, a malformed SLURM_JOB_NODELIST.
WorldInfo ReadWorld(const EnvironmentLookup& env);

}  // namespace modelgrow
