// Where a worker sits in the world, read as torchrun and srun hand it over, and Slurm's host
// lists expanded as `scontrol show hostnames` does.
#include <map>

#include <gtest/gtest.h>

#include "modelgrow/dist/slurm_nodelist.h"
#include "modelgrow/dist/world.h"
#include "test_util.h"

namespace modelgrow {
namespace {

EnvironmentLookup Env(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(ReadWorld, NothingSetIsAWorldOfOne) {
  WorldInfo w = ReadWorld(Env({}));
  EXPECT_EQ(w.size, 1);
  EXPECT_EQ(w.rank, 0);
  EXPECT_FALSE(w.distributed());
  EXPECT_EQ(w.source, "single process");
  // WORLD_SIZE=1 needs no master.
  EXPECT_FALSE(ReadWorld(Env({{"RANK", "0"}, {"WORLD_SIZE", "1"}})).distributed());
}

TEST(ReadWorld, TorchrunVariables) {
  WorldInfo w = ReadWorld(Env({{"RANK", "5"},
                               {"WORLD_SIZE", "8"},
                               {"LOCAL_RANK", "1"},
                               {"LOCAL_WORLD_SIZE", "4"},
                               {"MASTER_ADDR", "node01"},
                               {"MASTER_PORT", "29500"},
                               {"TORCHELASTIC_USE_AGENT_STORE", "True"},
                               {"TORCHELASTIC_RESTART_COUNT", "2"}}));
  EXPECT_EQ(w.rank, 5);
  EXPECT_EQ(w.size, 8);
  EXPECT_EQ(w.local_rank, 1);
  EXPECT_EQ(w.local_size, 4);
  EXPECT_EQ(w.master_addr, "node01");
  EXPECT_EQ(w.master_port, 29500);
  EXPECT_TRUE(w.agent_store);
  EXPECT_EQ(w.restart_count, 2);
  EXPECT_EQ(w.source, "torchrun environment");
  // Without LOCAL_*: one node holding everyone.
  WorldInfo plain = ReadWorld(
      Env({{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "1234"}}));
  EXPECT_EQ(plain.local_rank, 1);
  EXPECT_EQ(plain.local_size, 2);
  EXPECT_FALSE(plain.agent_store);
}

TEST(ReadWorld, SlurmVariablesWithTheMasterFromTheNodelist) {
  std::map<std::string, std::string> vars{{"SLURM_PROCID", "9"},
                                          {"SLURM_NTASKS", "16"},
                                          {"SLURM_LOCALID", "1"},
                                          {"SLURM_STEP_ID", "0"},
                                          {"SLURM_STEP_TASKS_PER_NODE", "8(x2)"},
                                          {"SLURM_JOB_NODELIST", "gpu[07-08,11]"},
                                          {"SLURM_JOB_ID", "123456"}};
  WorldInfo w = ReadWorld(Env(vars));
  EXPECT_EQ(w.source, "Slurm");
  EXPECT_EQ(w.rank, 9);
  EXPECT_EQ(w.size, 16);
  EXPECT_EQ(w.local_rank, 1);
  EXPECT_EQ(w.local_size, 8);
  EXPECT_EQ(w.master_addr, "gpu07");
  EXPECT_EQ(w.master_port, 15000 + 123456 % 20000);
  // MASTER_ADDR and MASTER_PORT win when set.
  vars["MASTER_ADDR"] = "10.0.0.1";
  vars["MASTER_PORT"] = "4000";
  w = ReadWorld(Env(vars));
  EXPECT_EQ(w.master_addr, "10.0.0.1");
  EXPECT_EQ(w.master_port, 4000);
  // torchrun's variables win over Slurm's (torchrun started inside an allocation).
  vars["RANK"] = "0";
  vars["WORLD_SIZE"] = "2";
  EXPECT_EQ(ReadWorld(Env(vars)).size, 2);
  // A batch script (no srun step) is one process even though the job has many tasks.
  EXPECT_FALSE(ReadWorld(Env({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "16"}})).distributed());
}

TEST(ReadWorld, BadSettingsNameTheVariable) {
  EXPECT_THROW_WITH(ReadWorld(Env({{"RANK", "0"}, {"WORLD_SIZE", "2"}})), InputError,
                    "WORLD_SIZE=2 but MASTER_ADDR is not set");
  EXPECT_THROW_WITH(
      ReadWorld(Env({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"}})),
      InputError, "MASTER_PORT is not set");
  EXPECT_THROW_WITH(ReadWorld(Env({{"RANK", "2"},
                                   {"WORLD_SIZE", "2"},
                                   {"MASTER_ADDR", "127.0.0.1"},
                                   {"MASTER_PORT", "29500"}})),
                    InputError, "RANK=2 is outside the world", "ranks 0..1");
  EXPECT_THROW_WITH(ReadWorld(Env({{"RANK", "-1"}, {"WORLD_SIZE", "2"}})), InputError,
                    "RANK=-1 is outside the world");
  EXPECT_THROW_WITH(ReadWorld(Env({{"RANK", "x"}, {"WORLD_SIZE", "2"}})), InputError,
                    "RANK=x: expected an integer");
  EXPECT_THROW_WITH(ReadWorld(Env({{"RANK", "0"}, {"WORLD_SIZE", "0"}})), InputError,
                    "WORLD_SIZE=0: expected an integer in [1,");
  EXPECT_THROW_WITH(
      ReadWorld(Env(
          {{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "70000"}})),
      InputError, "MASTER_PORT=70000: expected an integer in [1, 65535]");
  EXPECT_THROW_WITH(ReadWorld(Env({{"WORLD_SIZE", "2"}})), InputError,
                    "WORLD_SIZE is set but RANK is not");
  EXPECT_THROW_WITH(ReadWorld(Env({{"SLURM_PROCID", "4"},
                                   {"SLURM_NTASKS", "4"},
                                   {"SLURM_STEP_ID", "0"},
                                   {"SLURM_JOB_NODELIST", "n1"}})),
                    InputError, "SLURM_PROCID=4 is outside the world", "SLURM_NTASKS=4");
  EXPECT_THROW_WITH(ReadWorld(Env({{"SLURM_PROCID", "0"},
                                   {"SLURM_NTASKS", "2"},
                                   {"SLURM_STEP_ID", "0"},
                                   {"SLURM_JOB_NODELIST", "node[01-"}})),
                    InputError, "SLURM_JOB_NODELIST 'node[01-'");
}

TEST(ExpandNodelist, SlurmSyntax) {
  using V = std::vector<std::string>;
  EXPECT_EQ(ExpandNodelist("node01"), V{"node01"});
  EXPECT_EQ(ExpandNodelist("node[01-03,07]"), (V{"node01", "node02", "node03", "node07"}));
  EXPECT_EQ(ExpandNodelist("a1,b[2-3],c"), (V{"a1", "b2", "b3", "c"}));
  EXPECT_EQ(ExpandNodelist("gpu[8-10]"), (V{"gpu8", "gpu9", "gpu10"}));
  EXPECT_EQ(ExpandNodelist("gpu[08-10]"), (V{"gpu08", "gpu09", "gpu10"}));
  EXPECT_EQ(ExpandNodelist("r[1-2]n[3,5]"), (V{"r1n3", "r1n5", "r2n3", "r2n5"}));
  EXPECT_EQ(ExpandNodelist("node[1-2]-ib"), (V{"node1-ib", "node2-ib"}));
  EXPECT_EQ(ExpandNodelist("x-[001-002],y"), (V{"x-001", "x-002", "y"}));
}

TEST(ExpandNodelist, MalformedListsSayWhere) {
  EXPECT_THROW_WITH(ExpandNodelist("node[1-3"), InputError, "'[' without ']'");
  EXPECT_THROW_WITH(ExpandNodelist("node1-3]"), InputError, "']' without '['");
  EXPECT_THROW_WITH(ExpandNodelist("a,,b"), InputError, "an empty host name", "character 3");
  EXPECT_THROW_WITH(ExpandNodelist("n[5-2]"), InputError, "range '5-2' goes down");
  EXPECT_THROW_WITH(ExpandNodelist("n[a-b]"), InputError, "'a-b' is not a range");
  EXPECT_THROW_WITH(ExpandNodelist("n[1,x]"), InputError, "'x' is not a number");
  EXPECT_THROW_WITH(ExpandNodelist("n[[1]]"), InputError, "nested '['");
  EXPECT_THROW_WITH(ExpandNodelist("n[1-99999999]"), InputError, "more than");
}

}  // namespace
}  // namespace modelgrow
