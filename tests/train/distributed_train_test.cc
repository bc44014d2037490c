// Data-parallel training on two ranks (threads of this process, Gloo over loopback): the
// gradient reducer's buckets and averages, ZeRO-1 optimizer sharding, and Train() on two ranks
// following Train() in one process step by step.
#include <fstream>
#include <map>
#include <thread>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "dist/dist_test_util.h"
#include "modelgrow/io/optimizer_file.h"
#include "modelgrow/sdk/atomic_file.h"
#include "modelgrow/train/distributed_adamw.h"
#include "modelgrow/train/gradient_reducer.h"
#include "modelgrow/train/trainer.h"
#include "test_util.h"
#include "train/train_fixtures.h"

namespace modelgrow {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using testing::RunRanks;
using testing::TempDir;
using testing::TinySpec;
using testing::TinyTraining;

NamedTensors MakeParams(const std::vector<int64_t>& sizes) {
  NamedTensors params;
  for (size_t i = 0; i < sizes.size(); ++i) {
    params.emplace_back("p" + std::to_string(i),
                        at::arange(sizes[i], at::kFloat).div(sizes[i]).requires_grad_(true));
  }
  return params;
}

TEST(GradientReducer, BucketsGoInReverseOrderWithASmallFirstOne) {
  Communicator one;
  // 4-byte floats: 400k elements = 1.6 MB, 200k = 0.8 MB; the cap is 2 MB.
  NamedTensors params = MakeParams({100, 400000, 200000, 50, 400000, 10});
  GradientReducer reducer(params, one, 2.0);
  // A bucket takes parameters while it holds less than its cap: 1 MB for the first (DDP's
  // first_bucket_bytes_cap), 2 MB for the others.
  std::vector<std::vector<size_t>> expected{{5, 4}, {3, 2, 1}, {0}};
  EXPECT_EQ(reducer.bucket_members(), expected);
}

TEST(GradientReducer, AveragesOverRanksAndKeepsUnusedParametersWithoutGradient) {
  RunRanks(2, [](Communicator& comm) {
    NamedTensors params = MakeParams({3, 4, 5, 2});
    GradientReducer reducer(params, comm, 1e-5);  // a bucket per parameter or two
    ASSERT_GT(reducer.num_buckets(), 1);
    const double r = comm.rank();
    // Micro-step 1 (not synchronised): p0 only. Micro-step 2: p0 and p1 on both ranks, p2 on
    // rank 1 only; p3 on no rank.
    (params[0].second.sum() * (1 + r)).backward();
    EXPECT_NEAR(params[0].second.grad()[0].item<double>(), 1 + r, 1e-6);  // still local
    reducer.Arm();
    at::Tensor loss = params[0].second.sum() * (10 + r) + params[1].second.pow(2).sum() * (1 + r);
    if (comm.rank() == 1) loss = loss + params[2].second.sum() * 4;
    loss.backward();
    reducer.Finish();
    // p0: ((1 + 10) + (2 + 11)) / 2 per element, after accumulating locally.
    EXPECT_TRUE(at::allclose(params[0].second.grad(), at::full({3}, 12.0f)));
    // p1: d/dp (1 + r) p^2 = 2 (1 + r) p, averaged: 3 p.
    EXPECT_TRUE(at::allclose(params[1].second.grad(), params[1].second.detach() * 3));
    // p2: 4 on rank 1, nothing on rank 0 (counted as zero), averaged: 2.
    EXPECT_TRUE(at::allclose(params[2].second.grad(), at::full({5}, 2.0f)));
    // p3: no rank produced one, so none, as in one process.
    EXPECT_FALSE(params[3].second.grad().defined());
    // The next step starts from cleared gradients and averages again.
    for (auto& [name, p] : params) p.mutable_grad() = at::Tensor();
    reducer.Arm();
    (params[3].second.sum() * (2 * r)).backward();
    reducer.Finish();
    EXPECT_TRUE(at::allclose(params[3].second.grad(), at::full({2}, 1.0f)));
    EXPECT_FALSE(params[0].second.grad().defined());
  });
}

// Same gradients on every rank, three steps: sharded moments give the unsharded weights exactly.
TEST(DistributedAdamW, ShardedUpdatesEqualUnshardedAdamW) {
  const std::vector<int64_t> sizes{7, 300, 5, 64, 64, 1};
  AdamWConfig config{0.9, 0.99, 1e-8, 0.05};
  NamedTensors reference = MakeParams(sizes);
  AdamW plain(reference, config);
  auto gradient = [](size_t i, int step, int64_t n) {
    return at::sin(at::arange(n, at::kFloat) * (static_cast<double>(i) + 1) + step);
  };
  for (int step = 0; step < 3; ++step) {
    for (size_t i = 0; i < sizes.size(); ++i) {
      // A parameter without a gradient at step 1 is skipped (its step count lags).
      if (!(i == 2 && step == 1)) reference[i].second.mutable_grad() = gradient(i, step, sizes[i]);
    }
    plain.Step(1e-2);
    plain.ZeroGrad();
  }
  RunRanks(2, [&](Communicator& comm) {
    NamedTensors params = MakeParams(sizes);
    DistributedAdamW opt(params, config, comm, /*shard=*/true, /*bucket_mb=*/1e-3);
    EXPECT_TRUE(opt.sharded());
    // Balanced by size: 300 on one rank; 64 + 64 + 7 + 5 + 1 on the other.
    std::vector<int64_t> bytes = opt.moment_bytes_per_rank();
    ASSERT_EQ(bytes.size(), 2u);
    EXPECT_EQ(bytes[0] + bytes[1], 2 * 4 * (7 + 300 + 5 + 64 + 64 + 1));
    EXPECT_EQ(std::max(bytes[0], bytes[1]), 2 * 4 * 300);
    for (int step = 0; step < 3; ++step) {
      for (size_t i = 0; i < sizes.size(); ++i) {
        if (!(i == 2 && step == 1)) params[i].second.mutable_grad() = gradient(i, step, sizes[i]);
      }
      opt.Step(1e-2);
      opt.ZeroGrad();
    }
    for (size_t i = 0; i < sizes.size(); ++i) {
      EXPECT_TRUE(at::equal(params[i].second, reference[i].second)) << params[i].first;
    }
    OptimizerState whole = opt.GatherState();
    if (comm.is_root()) {
      ASSERT_EQ(whole.size(), sizes.size());
      for (const auto& [name, s] : plain.state()) {
        EXPECT_EQ(whole.at(name).step, s.step) << name;
        EXPECT_TRUE(at::equal(whole.at(name).exp_avg, s.exp_avg)) << name;
        EXPECT_TRUE(at::equal(whole.at(name).exp_avg_sq, s.exp_avg_sq)) << name;
      }
    }
    // A whole saved state goes back into the shards.
    DistributedAdamW restored(params, config, comm, true, 1e-3);
    int64_t adopted = restored.AdoptState(plain.state());
    EXPECT_EQ(adopted, comm.rank() == 0 ? 1 : static_cast<int64_t>(sizes.size()) - 1);
  });
}

std::vector<json> ReadLines(const fs::path& file) {
  std::vector<json> lines;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) lines.push_back(json::parse(line));
  return lines;
}

// Train() on `size` ranks (threads) writing into `dir`; rank 0's model is returned.
std::map<std::string, at::Tensor> TrainOnRanks(int size, const fs::path& dir, TrainSpec spec) {
  // Models are made before the threads start: their initialisation draws from the one default
  // generator.
  std::vector<std::unique_ptr<TinyTraining>> ranks;
  for (int r = 0; r < size; ++r) {
    ranks.push_back(std::make_unique<TinyTraining>(dir, spec));
    LoaderOptions lo = ranks[r]->loader->options();
    lo.shard = r;
    lo.shards = size;
    ranks[r]->loader = std::make_unique<DataLoader>(testing::TinyVideos(), lo);
    ranks[r]->context.loader = ranks[r]->loader.get();
  }
  RunRanks(size, [&](Communicator& comm) {
    TinyTraining& t = *ranks[comm.rank()];
    t.context.comm = &comm;
    TrainResult r = t.Run();
    EXPECT_EQ(r.world_size, size);
  });
  std::map<std::string, at::Tensor> out;
  for (const auto& item : ranks[0]->model->named_parameters())
    out[item.key()] = item.value().detach().clone();
  // Every rank ends with the same weights.
  for (int r = 1; r < size; ++r) {
    for (const auto& item : ranks[r]->model->named_parameters())
      EXPECT_TRUE(at::equal(item.value(), out.at(item.key()))) << item.key();
  }
  return out;
}

TrainSpec ParitySpec() {
  TrainSpec spec = TinySpec();
  spec.steps = 5;
  spec.batch_size = 8;
  spec.grad_accum = 2;
  spec.caption = "mixed";      // per-sample caption coins
  spec.caption_dropout = 0.3;  // per-sample dropout
  spec.frame_mask_prob = 0.5;  // per-sample frame masks
  spec.checkpoint_every = 2;
  spec.optim.eps = 1.0;  // updates proportional to the gradients (see trainer_test.cc)
  return spec;
}

TEST(DistributedTrain, TwoRanksFollowOneProcessStepByStep) {
  TempDir dir;
  TrainSpec spec = ParitySpec();
  TinyTraining single(dir / "one", spec);
  single.Run();
  std::map<std::string, at::Tensor> one;
  for (const auto& item : single.model->named_parameters())
    one[item.key()] = item.value().detach().clone();

  for (bool shard : {false, true}) {
    SCOPED_TRACE(shard ? "sharded optimizer" : "replicated optimizer");
    spec.distributed.shard_optimizer = shard;
    spec.distributed.bucket_mb = 0.01;  // several buckets in flight
    fs::path two_dir = dir / (shard ? "two-sharded" : "two");
    std::map<std::string, at::Tensor> two = TrainOnRanks(2, two_dir, spec);
    std::vector<json> a = ReadLines(dir / "one" / "metrics.jsonl");
    std::vector<json> b = ReadLines(two_dir / "metrics.jsonl");
    ASSERT_EQ(a.size(), 5u);
    ASSERT_EQ(b.size(), 5u);
    for (size_t i = 0; i < a.size(); ++i) {
      double la = a[i]["loss"].get<double>(), lb = b[i]["loss"].get<double>();
      EXPECT_NEAR(lb, la, 1e-5 * la) << "step " << i + 1;
      EXPECT_NEAR(b[i]["grad_norm"].get<double>(), a[i]["grad_norm"].get<double>(),
                  1e-5 * a[i]["grad_norm"].get<double>())
          << "step " << i + 1;
    }
    for (const auto& [name, t] : one) {
      EXPECT_LE(testing::MaxAbsError(two.at(name), t), 1e-6) << name;
    }
    // One checkpoint, written by rank 0, with the whole optimizer and both ranks' RNG states.
    OptimizerState saved = ReadOptimizerState(two_dir / "checkpoint" / kOptimizerStateFile);
    OptimizerState reference = ReadOptimizerState(dir / "one" / "checkpoint" / kOptimizerStateFile);
    EXPECT_EQ(saved.size(), reference.size());
    SafetensorsFile rng = SafetensorsFile::Open(two_dir / "checkpoint" / "rng.safetensors");
    EXPECT_TRUE(rng.Has("torch_default"));
    EXPECT_TRUE(rng.Has("torch_default.rank1"));
    json state = json::parse(ReadFile(two_dir / "checkpoint" / "trainer_state.json"));
    EXPECT_EQ(state["world_size"], 2);
    EXPECT_EQ(state["sharded_optimizer"], shard);
  }
}

TEST(DistributedTrain, ResumesOnAnotherWorldSize) {
  TempDir dir;
  TrainSpec spec = ParitySpec();
  spec.steps = 6;
  TinyTraining whole(dir / "whole", spec);
  whole.Run();
  std::vector<json> reference = ReadLines(dir / "whole" / "metrics.jsonl");

  // Two ranks to step 4 (checkpointed), then one process to the end; and the other way round.
  for (int first : {2, 1}) {
    SCOPED_TRACE(fmt::format("{} -> {}", first, 3 - first));
    fs::path out = dir / fmt::format("from{}", first);
    TrainSpec cut = spec;
    cut.steps = 6;
    {
      // Stopped after step 4's checkpoint: the stage's steps stay 6, so the schedule is the same.
      std::vector<std::unique_ptr<TinyTraining>> ranks;
      for (int r = 0; r < first; ++r) {
        ranks.push_back(std::make_unique<TinyTraining>(out, cut));
        LoaderOptions lo = ranks[r]->loader->options();
        lo.shard = r;
        lo.shards = first;
        ranks[r]->loader = std::make_unique<DataLoader>(testing::TinyVideos(), lo);
        ranks[r]->context.loader = ranks[r]->loader.get();
        ranks[r]->context.after_step = [](int64_t step) {
          if (step == 4) throw std::runtime_error("stopped");
        };
      }
      // Not EXPECT_THROW: an error of another kind (Gloo's, a rank left early) must show its text.
      try {
        RunRanks(first, [&](Communicator& comm) {
          ranks[comm.rank()]->context.comm = &comm;
          ranks[comm.rank()]->Run();
        });
        ADD_FAILURE() << "training did not stop at step 4";
      } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "stopped");
      }
    }
    EXPECT_EQ(json::parse(ReadFile(out / "checkpoint" / "trainer_state.json"))["step"], 4);
    const int second = 3 - first;
    std::vector<std::unique_ptr<TinyTraining>> ranks;
    for (int r = 0; r < second; ++r) {
      ranks.push_back(std::make_unique<TinyTraining>(out, spec));
      LoaderOptions lo = ranks[r]->loader->options();
      lo.shard = r;
      lo.shards = second;
      ranks[r]->loader = std::make_unique<DataLoader>(testing::TinyVideos(), lo);
      ranks[r]->context.loader = ranks[r]->loader.get();
      ranks[r]->context.resume = true;
    }
    RunRanks(second, [&](Communicator& comm) {
      ranks[comm.rank()]->context.comm = &comm;
      EXPECT_EQ(ranks[comm.rank()]->Run().resumed_from, 4);
    });
    // The same curve, step for step, and the same model.
    std::vector<json> lines = ReadLines(out / "metrics.jsonl");
    ASSERT_EQ(lines.size(), reference.size());
    for (size_t i = 0; i < lines.size(); ++i) {
      double expected = reference[i]["loss"].get<double>();
      EXPECT_NEAR(lines[i]["loss"].get<double>(), expected, 1e-5 * expected) << "step " << i + 1;
    }
    for (const auto& item : whole.model->named_parameters()) {
      EXPECT_LE(testing::MaxAbsError(ranks[0]->model->named_parameters()[item.key()], item.value()),
                1e-6)
          << item.key();
    }
  }
}

TEST(DistributedTrain, ABatchThatDoesNotSplitIsNamed) {
  TempDir dir;
  TrainSpec spec = TinySpec();
  spec.batch_size = 3;
  std::vector<std::unique_ptr<TinyTraining>> ranks;
  for (int r = 0; r < 2; ++r) ranks.push_back(std::make_unique<TinyTraining>(dir.path(), spec));
  RunRanks(2, [&](Communicator& comm) {
    ranks[comm.rank()]->context.comm = &comm;
    EXPECT_THROW_WITH(ranks[comm.rank()]->Run(), InputError,
                      "batch_size 3 does not divide evenly among 2 ranks");
  });
}

}  // namespace
}  // namespace modelgrow
