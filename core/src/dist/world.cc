#include "modelgrow/dist/world.h"

#include <cstdlib>

#include <fmt/format.h>

#include "modelgrow/dist/slurm_nodelist.h"
#include "modelgrow/sdk/errors.h"

namespace modelgrow {

namespace {

// The whole of `text` as an integer in [lo, hi], or an InputError naming the variable.
int ParseInt(const std::string& name, const std::string& text, int lo, int hi) {
  size_t used = 0;
  long long value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size()) {
    throw InputError(fmt::format("{}={}: expected an integer", name, text));
  }
  if (value < lo || value > hi) {
    throw InputError(fmt::format("{}={}: expected an integer in [{}, {}]", name, text, lo, hi));
  }
  return static_cast<int>(value);
}

int IntVar(const EnvironmentLookup& env, const std::string& name, int fallback, int lo, int hi) {
  std::optional<std::string> v = env(name);
  if (!v || v->empty()) return fallback;
  return ParseInt(name, *v, lo, hi);
}

// SLURM_NTASKS_PER_NODE is "4" or, on uneven allocations, "4(x2),2"; a task's node-local count
// is what matters here, and SLURM_STEP_TASKS_PER_NODE lists it per node the same way.
int LocalSizeFromSlurm(const EnvironmentLookup& env) {
  for (const char* name :
       {"SLURM_STEP_TASKS_PER_NODE", "SLURM_NTASKS_PER_NODE", "SLURM_TASKS_PER_NODE"}) {
    std::optional<std::string> v = env(name);
    if (!v || v->empty()) continue;
    std::string first = v->substr(0, v->find_first_of("(,"));
    return ParseInt(name, first, 1, 1 << 20);
  }
  return 1;
}

}  // namespace

EnvironmentLookup ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

WorldInfo ReadWorld(const EnvironmentLookup& env) {
  WorldInfo w;
  constexpr int kMaxWorld = 1 << 20;
  bool torchrun = env("WORLD_SIZE").has_value() || env("RANK").has_value();
  // srun sets SLURM_STEP_ID for the tasks it starts; a batch script (or salloc shell) has the
  // job's SLURM_NTASKS but is one process, not a rank.
  bool slurm = !torchrun && env("SLURM_PROCID").has_value() && env("SLURM_NTASKS").has_value() &&
               (env("SLURM_STEP_ID").has_value() || env("SLURM_STEPID").has_value());
  if (torchrun) {
    w.source = "torchrun environment";
    if (!env("WORLD_SIZE")) throw InputError("RANK is set but WORLD_SIZE is not");
    w.size = IntVar(env, "WORLD_SIZE", 1, 1, kMaxWorld);
    if (!env("RANK") && w.size > 1) throw InputError("WORLD_SIZE is set but RANK is not");
    w.rank = IntVar(env, "RANK", 0, -kMaxWorld, kMaxWorld);
    w.local_rank = IntVar(env, "LOCAL_RANK", w.rank, 0, kMaxWorld);
    w.local_size = IntVar(env, "LOCAL_WORLD_SIZE", w.size, 1, kMaxWorld);
    w.agent_store = env("TORCHELASTIC_USE_AGENT_STORE").value_or("") == "True";
    w.restart_count = IntVar(env, "TORCHELASTIC_RESTART_COUNT", 0, 0, kMaxWorld);
  } else if (slurm) {
    w.source = "Slurm";
    w.size = IntVar(env, "SLURM_NTASKS", 1, 1, kMaxWorld);
    w.rank = IntVar(env, "SLURM_PROCID", 0, -kMaxWorld, kMaxWorld);
    w.local_rank = IntVar(env, "SLURM_LOCALID", 0, 0, kMaxWorld);
    w.local_size = LocalSizeFromSlurm(env);
    w.restart_count = IntVar(env, "SLURM_RESTART_COUNT", 0, 0, kMaxWorld);
  } else {
    return w;
  }
  std::string rank_var = slurm ? "SLURM_PROCID" : "RANK";
  std::string size_var = slurm ? "SLURM_NTASKS" : "WORLD_SIZE";
  if (w.rank < 0 || w.rank >= w.size) {
    throw InputError(fmt::format("{}={} is outside the world: {}={} allows ranks 0..{}", rank_var,
                                 w.rank, size_var, w.size, w.size - 1));
  }
  if (w.local_rank >= w.local_size) {
    throw InputError(fmt::format("LOCAL_RANK={} is outside LOCAL_WORLD_SIZE={} (ranks 0..{})",
                                 w.local_rank, w.local_size, w.local_size - 1));
  }
  if (w.size == 1) return w;

  std::optional<std::string> addr = env("MASTER_ADDR");
  if (addr && !addr->empty()) {
    w.master_addr = *addr;
  } else if (slurm) {
    std::optional<std::string> nodelist = env("SLURM_JOB_NODELIST");
    if (!nodelist) nodelist = env("SLURM_NODELIST");
    if (!nodelist || nodelist->empty()) {
      throw InputError(
          "Slurm world of several tasks without MASTER_ADDR or SLURM_JOB_NODELIST: set "
          "MASTER_ADDR to the host of task 0");
    }
    std::vector<std::string> hosts = ExpandNodelist(*nodelist);
    if (hosts.empty()) throw InputError(fmt::format("SLURM_JOB_NODELIST '{}' is empty", *nodelist));
    w.master_addr = hosts.front();
  } else {
    throw InputError(fmt::format(
        "WORLD_SIZE={} but MASTER_ADDR is not set: every worker must know where rank 0 listens "
        "(MASTER_ADDR and MASTER_PORT, as torchrun sets them; `modelgrow run --nproc-per-node N` "
        "starts local workers with both)",
        w.size));
  }

  std::optional<std::string> port = env("MASTER_PORT");
  if (port && !port->empty()) {
    w.master_port = ParseInt("MASTER_PORT", *port, 1, 65535);
  } else if (slurm && env("SLURM_JOB_ID")) {
    // Every task of a job derives the same port; array tasks on one node get different ones.
    int job = ParseInt("SLURM_JOB_ID", *env("SLURM_JOB_ID"), 0, 2147483647);
    w.master_port = 15000 + job % 20000;
  } else {
    throw InputError(fmt::format(
        "WORLD_SIZE={} but MASTER_PORT is not set: rank 0's store needs a port every worker "
        "knows",
        w.size));
  }
  return w;
}

}  // namespace modelgrow
