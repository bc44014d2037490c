// `modelgrow run` on several processes through the real binary, Gloo over loopback: two workers
// follow one process (losses, weights) and evaluate identically; a sharded optimizer changes no
// weight; workers started by Slurm's variables join like the launcher's; the launcher forwards
// signals; and every bad setting stops with exit 2 and a message saying what to change.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "dist/dist_test_util.h"
#include "experiment/distributed_util.h"
#include "experiment/engine_util.h"
#include "experiment/tiny_manifest.h"
#include "test_paths.h"
#include "test_util.h"

namespace modelgrow {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using testing::Child;
using testing::ExpectCloseTensors;
using testing::ExpectSameBytes;
using testing::ExpectSameCurve;
using testing::ReadJson;
using testing::StageDir;
using testing::StageDirs;
using testing::TempDir;
using testing::WriteText;

// The whole chain with every per-sample draw on, gradient accumulation in `continue`, and an
// evaluation large enough that both ranks get loss and sampling batches (2 of each).
const std::string kChain =
    testing::TinyManifest("dist")
        .SyntheticData(32)
        .Table("data.heldout", "inherit = \"train\"\nsplit = \"heldout\"\nsize = 20\n")
        .Table("stages.pretrain",
               "kind = \"pretrain\"\ndata = \"train\"\nsteps = 6\nbatch_size = 4\n"
               "checkpoint_every = 2\nlog_every = 1\nworkers = 1\ncaption = \"mixed\"\n"
               "caption_dropout = 0.2\nframe_mask_prob = 0.5\n")
        .Table("stages.continue",
               "kind = \"continue\"\nfrom = \"grow\"\ndata = \"train\"\ncaption = \"detailed\"\n"
               "steps = 3\nbatch_size = 4\ngrad_accum = 2\nlog_every = 1\nworkers = 1\n"
               "optimizer_state = \"carry\"\n")
        .Table("stages.pretrain.optim", testing::kComparableOptim)
        .Table("stages.continue.optim", testing::kComparableOptim)
        .Table("stages.evaluate",
               "kind = \"evaluate\"\nfrom = \"continue\"\nbaseline = \"pretrain\"\n"
               "domains = {base = \"heldout\"}\nsamples = 10\nsampling_steps = 2\n"
               "loss_samples = 20\ngrid_prompts = 2\n"
               "classifier = {data = \"train\", steps = 5, batch_size = 4, width = 4}\n")
        .Text();

class DistributedCli : public ::testing::Test {
 protected:
  std::vector<std::string> Run(const fs::path& manifest, const fs::path& out,
                               std::vector<std::string> extra = {}) {
    std::vector<std::string> args{
        "--plugin-path", EXPERIMENT_TEST_PLUGINS, "run", manifest.string(), "--out", out.string(),
        "--no-report"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  int Modelgrow(const std::vector<std::string>& args,
                const std::map<std::string, std::string>& env = {}) {
    return testing::RunModelgrow(args, log_, env);
  }
  std::string Log() { return testing::ReadIfExists(log_); }

  TempDir dir_;
  fs::path log_ = dir_ / "log.txt";
};

TEST_F(DistributedCli, TwoWorkersFollowOneProcessAndEvaluateTheSame) {
  fs::path manifest = WriteText(dir_ / "m.toml", kChain);
  const fs::path one = dir_ / "one", two = dir_ / "two";
  ASSERT_EQ(Modelgrow(Run(manifest, one)), 0) << Log();
  ASSERT_EQ(Modelgrow(Run(manifest, two, {"--nproc-per-node", "2"})), 0) << Log();
  std::string log = Log();
  EXPECT_NE(log.find("== started 2 worker(s) on 127.0.0.1:"), std::string::npos) << log;
  EXPECT_NE(log.find("[rank0]: == 2 ranks (torchrun environment, gloo backend)"), std::string::npos)
      << log;
  EXPECT_NE(log.find("[rank1]: "), std::string::npos) << log;

  // The same stage folders (content keys do not depend on the world size), the same curves.
  for (const char* stage : {"pretrain", "grow", "continue", "evaluate"}) {
    EXPECT_EQ(StageDir(two, stage).filename(), StageDir(one, stage).filename()) << stage;
  }
  for (const char* stage : {"pretrain", "continue"}) {
    SCOPED_TRACE(stage);
    ExpectSameCurve(StageDir(two, stage) / "metrics.jsonl", StageDir(one, stage) / "metrics.jsonl",
                    1e-5);
    json info = ReadJson(StageDir(two, stage) / "stage.json");
    EXPECT_EQ(info["world_size"], 2);
    EXPECT_EQ(info["optimizer"]["moment_bytes_per_rank"].size(), 2u);
    for (const char* file : {"model.safetensors", "ema.safetensors", "optimizer.safetensors"}) {
      ExpectCloseTensors(StageDir(two, stage) / "checkpoint" / file,
                         StageDir(one, stage) / "checkpoint" / file, 1e-5);
    }
    SafetensorsFile rng =
        SafetensorsFile::Open(StageDir(two, stage) / "checkpoint" / "rng.safetensors");
    EXPECT_TRUE(rng.Has("torch_default.rank1"));
  }
  // The evaluation ran split across the ranks; its inputs differ from one process's by rounding,
  // so here only its shape is compared.
  json results = ReadJson(two / "runs" / "seed=0" / "results.json");
  EXPECT_EQ(results["evaluations"]["evaluate"]["metrics"].size(),
            ReadJson(one / "runs" / "seed=0" / "results.json")["evaluations"]["evaluate"]["metrics"]
                .size());

  // Evaluating the same models on two ranks gives exactly one process's numbers and GIFs: the
  // one-process folder with its evaluation (and the baseline's) removed, evaluated again.
  const fs::path again = dir_ / "again";
  fs::copy(one, again, fs::copy_options::recursive);
  fs::remove_all(StageDir(again, "evaluate"));
  for (const fs::path& base : StageDirs(again, "baseline")) fs::remove_all(base);
  ASSERT_EQ(Modelgrow(Run(manifest, again, {"--nproc-per-node", "2"})), 0) << Log();
  EXPECT_NE(Log().find("stage evaluate (evaluate) -> "), std::string::npos);
  json expected = ReadJson(one / "runs" / "seed=0" / "results.json");
  json got = ReadJson(again / "runs" / "seed=0" / "results.json");
  EXPECT_GT(got["evaluations"]["evaluate"]["metrics"].size(), 10u);
  EXPECT_EQ(testing::WithoutTimings(got), testing::WithoutTimings(expected));
  int gifs = 0;
  for (const fs::path& samples :
       {StageDir(one, "evaluate") / "samples", StageDirs(one, "baseline")[0] / "samples"}) {
    for (const auto& entry : fs::directory_iterator(samples)) {
      fs::path mirror = again / fs::relative(entry.path(), one);
      ExpectSameBytes(mirror, entry.path());
      ++gifs;
    }
  }
  EXPECT_EQ(gifs, 2 * 6);  // 2 prompts x 2 kinds generated + 2 real, and the baseline's
}

TEST_F(DistributedCli, ShardedOptimizerAndSlurmStartedWorkersGiveTheSameWeights) {
  const std::string plain = testing::DistributedPretrain(6).Text();
  fs::path manifest = WriteText(dir_ / "m.toml", plain);
  fs::path sharded_manifest = WriteText(
      dir_ / "sharded.toml",
      testing::DistributedPretrain(6)
          .Table("stages.pretrain.distributed", "shard_optimizer = true\nbucket_mb = 0.01\n")
          .Text());
  const fs::path replicated = dir_ / "replicated", sharded = dir_ / "sharded";
  ASSERT_EQ(Modelgrow(Run(manifest, replicated, {"--nproc-per-node", "2"})), 0) << Log();
  ASSERT_EQ(Modelgrow(Run(sharded_manifest, sharded, {"--nproc-per-node", "2"})), 0) << Log();
  // The same stage (the distributed table is not part of its key) and the same weights, to the
  // bit: a parameter's update is the same arithmetic on whichever rank makes it.
  EXPECT_EQ(StageDir(sharded, "pretrain").filename(), StageDir(replicated, "pretrain").filename());
  for (const char* file : {"model.safetensors", "optimizer.safetensors", "ema.safetensors"}) {
    ExpectSameBytes(StageDir(sharded, "pretrain") / "checkpoint" / file,
                    StageDir(replicated, "pretrain") / "checkpoint" / file);
  }
  json full = ReadJson(StageDir(replicated, "pretrain") / "stage.json")["optimizer"];
  json split = ReadJson(StageDir(sharded, "pretrain") / "stage.json")["optimizer"];
  EXPECT_FALSE(full["sharded"].get<bool>());
  EXPECT_TRUE(split["sharded"].get<bool>());
  int64_t whole = full["moment_bytes_per_rank"][0].get<int64_t>();
  EXPECT_EQ(full["moment_bytes_per_rank"][1].get<int64_t>(), whole);
  int64_t a = split["moment_bytes_per_rank"][0].get<int64_t>();
  int64_t b = split["moment_bytes_per_rank"][1].get<int64_t>();
  EXPECT_EQ(a + b, whole);
  EXPECT_LT(std::max(a, b), whole * 3 / 4);

  // Two workers started as srun starts them: Slurm's variables, the master from the node list.
  const fs::path slurm = dir_ / "slurm";
  const int port = testing::UnusedPort();
  std::vector<std::unique_ptr<Child>> tasks;
  for (int rank = 0; rank < 2; ++rank) {
    tasks.push_back(std::make_unique<Child>(
        Run(manifest, slurm), dir_ / ("slurm" + std::to_string(rank) + ".log"),
        std::map<std::string, std::string>{{"SLURM_PROCID", std::to_string(rank)},
                                           {"SLURM_LOCALID", std::to_string(rank)},
                                           {"SLURM_NTASKS", "2"},
                                           {"SLURM_STEP_ID", "0"},
                                           {"SLURM_STEP_TASKS_PER_NODE", "2"},
                                           {"SLURM_JOB_NODELIST", "localhost"},
                                           {"SLURM_JOB_ID", "4242"},
                                           {"MASTER_PORT", std::to_string(port)}}));
  }
  for (int rank = 0; rank < 2; ++rank) {
    EXPECT_EQ(tasks[rank]->ExitCode(), 0)
        << testing::ReadIfExists(dir_ / ("slurm" + std::to_string(rank) + ".log"));
  }
  EXPECT_NE(testing::ReadIfExists(dir_ / "slurm0.log").find("== 2 ranks (Slurm, gloo backend)"),
            std::string::npos);
  ExpectSameBytes(StageDir(slurm, "pretrain") / "checkpoint" / "model.safetensors",
                  StageDir(replicated, "pretrain") / "checkpoint" / "model.safetensors");
}

TEST_F(DistributedCli, TheLauncherForwardsSigtermAndReportsIt) {
  fs::path manifest = WriteText(dir_ / "m.toml", testing::DistributedPretrain(400).Text());
  const fs::path out = dir_ / "out";
  Child launcher(Run(manifest, out, {"--nproc-per-node", "2"}), log_);
  ASSERT_TRUE(launcher.WaitFor([&] {
    std::vector<fs::path> dirs = StageDirs(out, "pretrain");
    return !dirs.empty() && testing::LastLoggedStep(dirs[0] / "metrics.jsonl") >= 1;
  })) << Log();
  std::map<int, pid_t> pids = testing::WorkerPids(Log());
  ASSERT_EQ(pids.size(), 2u) << Log();
  launcher.Signal(SIGTERM);
  EXPECT_EQ(launcher.ExitCode(), 128 + SIGTERM) << Log();
  std::string log = Log();
  EXPECT_NE(log.find("passed on to the workers"), std::string::npos) << log;
  EXPECT_NE(log.find("modelgrow: stopped by Terminated"), std::string::npos) << log;
  for (const auto& [rank, pid] : pids) EXPECT_FALSE(testing::ProcessExists(pid)) << rank;
}

// ---------------------------------------------------------------- bad input: exit 2

TEST_F(DistributedCli, BadSettingsExitWithTwoAndSayWhatToChange) {
  fs::path manifest = WriteText(dir_ / "m.toml", testing::DistributedPretrain(2).Text());
  const fs::path out = dir_ / "out";
  struct Case {
    std::string name;
    std::vector<std::string> extra;
    std::map<std::string, std::string> env;
    std::vector<std::string> says;
  };
  const int free_port = testing::UnusedPort();
  std::vector<Case> cases = {
      {"no master",
       {},
       {{"RANK", "0"}, {"WORLD_SIZE", "2"}},
       {"WORLD_SIZE=2 but MASTER_ADDR is not set"}},
      {"rank outside the world",
       {},
       {{"RANK", "2"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "1"}},
       {"RANK=2 is outside the world: WORLD_SIZE=2 allows ranks 0..1"}},
      {"a worker never joins",
       {"--join-timeout", "1"},
       {{"RANK", "0"},
        {"WORLD_SIZE", "2"},
        {"MASTER_ADDR", "127.0.0.1"},
        {"MASTER_PORT", std::to_string(free_port)}},
       {"rank 1 of WORLD_SIZE=2 did not join within 1 s", "--join-timeout"}},
      {"nccl without CUDA", {"--backend", "nccl"}, {}, {"NCCL backend was asked for"}},
      {"no workers", {"--nproc-per-node", "0"}, {}, {"--nproc-per-node 0: expected 1..1024"}},
      {"launcher inside a worker",
       {"--nproc-per-node", "2"},
       {{"RANK", "0"}, {"WORLD_SIZE", "1"}},
       {"this process already is rank 0 of 1"}},
  };
  if (!NcclAvailable()) {
    cases[3].says.push_back("--backend gloo");
  } else {
    cases.erase(cases.begin() + 3);
  }
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    fs::remove(log_);
    EXPECT_EQ(Modelgrow(Run(manifest, out, c.extra), c.env), 2) << Log();
    for (const std::string& part : c.says) {
      EXPECT_NE(Log().find(part), std::string::npos) << "lacks '" << part << "':\n" << Log();
    }
  }
  EXPECT_FALSE(fs::exists(out / "cache"));

  // A batch that does not split into equal parts: every worker says where, the launcher
  // passes on the exit status.
  fs::path odd = WriteText(dir_ / "odd.toml", testing::DistributedPretrain(2).Text());
  {
    std::string text = ReadFile(odd);
    testing::Replace(text, "batch_size = 4", "batch_size = 3");
    WriteText(odd, text);
  }
  fs::remove(log_);
  EXPECT_EQ(Modelgrow(Run(odd, out, {"--nproc-per-node", "2"})), 2) << Log();
  EXPECT_NE(Log().find("stages.pretrain.batch_size = 3 does not divide evenly among 2 ranks"),
            std::string::npos)
      << Log();
  EXPECT_NE(Log().find(odd.string() + ":"), std::string::npos) << Log();
  EXPECT_NE(Log().find("exited with status 2"), std::string::npos) << Log();

  // A rendezvous port somebody else listens on.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string port = std::to_string(ntohs(addr.sin_port));
  fs::remove(log_);
  EXPECT_EQ(Modelgrow(Run(manifest, out, {"--nproc-per-node", "2", "--master-port", port})), 2)
      << Log();
  ::close(fd);
  EXPECT_NE(Log().find("cannot serve the rendezvous store on port " + port), std::string::npos)
      << Log();
  EXPECT_NE(Log().find("worker rank 0 (pid"), std::string::npos) << Log();
  EXPECT_FALSE(fs::exists(out / "cache"));
}

// ---------------------------------------------------------------- Slurm script

TEST_F(DistributedCli, SweepScriptAsksForTheManifestsNodesAndGpus) {
  std::string text = testing::DistributedPretrain(2)
                         .Table("experiment.slurm",
                                "nodes = 2\ngpus_per_node = 4\ntime = \"1-12:00:00\"\n"
                                "partition = \"gpu\"\naccount = \"proj7\"\n"
                                "extra = [\"--mem=0\", \"--exclusive\"]\n")
                         .Text();
  fs::path manifest = WriteText(dir_ / "m.toml", text);
  testing::CliResult r = testing::RunCli(std::string("--plugin-path ") + EXPERIMENT_TEST_PLUGINS +
                                         " sweep " + manifest.string() + " --emit slurm");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* line :
       {"#SBATCH --nodes=2\n", "#SBATCH --ntasks-per-node=4\n", "#SBATCH --gpus-per-node=4\n",
        "#SBATCH --time=1-12:00:00\n", "#SBATCH --partition=gpu\n", "#SBATCH --account=proj7\n",
        "#SBATCH --mem=0\n", "#SBATCH --exclusive\n", "  exec srun --kill-on-bad-exit=1 "}) {
    EXPECT_NE(r.output.find(line), std::string::npos) << line << r.output;
  }
  // Every #SBATCH line comes before the first command.
  EXPECT_LT(r.output.rfind("#SBATCH"), r.output.find("set -euo pipefail"));

  std::string bad = testing::DistributedPretrain(2)
                        .Table("experiment.slurm",
                               "nodes = 0\ntime = \"tomorrow\"\npartition = \"a b\"\n"
                               "extra = [\"mem=0\"]\ngpus = 2\n")
                        .Text();
  fs::path bad_manifest = WriteText(dir_ / "bad.toml", bad);
  testing::CliResult v = testing::RunCli(std::string("--plugin-path ") + EXPERIMENT_TEST_PLUGINS +
                                         " validate " + bad_manifest.string());
  EXPECT_EQ(v.exit_code, 2) << v.output;
  for (const char* part : {"experiment.slurm.nodes", "experiment.slurm.time",
                           "'tomorrow' is not a Slurm time limit", "experiment.slurm.partition",
                           "experiment.slurm.extra", "\"--mem=64G\"", "unknown key 'gpus'"}) {
    EXPECT_NE(v.output.find(part), std::string::npos) << part << "\n" << v.output;
  }
}

}  // namespace
}  // namespace modelgrow
