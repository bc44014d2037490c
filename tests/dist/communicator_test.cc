// The c10d collectives the trainer and evaluator use, on two ranks over loopback Gloo, and the
// errors a world that cannot form gives.
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <thread>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "dist/dist_test_util.h"
#include "modelgrow/dist/communicator.h"
#include "test_util.h"

namespace modelgrow {
namespace {

using testing::LocalWorld;
using testing::RunRanks;
using testing::UnusedPort;

TEST(Communicator, AWorldOfOneIsTheIdentity) {
  Communicator one;
  EXPECT_FALSE(one.distributed());
  at::Tensor t = at::arange(4, at::kFloat);
  one.AllReduceSum(t);
  one.Broadcast(t, 0);
  one.Barrier();
  EXPECT_TRUE(at::equal(t, at::arange(4, at::kFloat)));
  EXPECT_EQ(one.OnRoot("k", [] { return std::string("x"); }), "x");
  // Joining a world of one makes no store and no process group.
  std::unique_ptr<Communicator> joined = Communicator::Join(WorldInfo{}, {});
  EXPECT_EQ(joined->size(), 1);
  EXPECT_EQ(joined->backend(), "");
}

TEST(Communicator, AllReduceBroadcastAndBarrierOnTwoRanks) {
  RunRanks(2, [](Communicator& comm) {
    EXPECT_EQ(comm.backend(), "gloo");
    at::Tensor t = at::full({3}, static_cast<float>(comm.rank() + 1));
    comm.AllReduceSum(t);
    EXPECT_TRUE(at::equal(t, at::full({3}, 3.0f)));
    at::Tensor a = at::full({1000}, 1.0 * comm.rank(), at::kDouble);
    Communicator::Pending pending = comm.AllReduceSumAsync(a);
    pending.Wait();
    EXPECT_EQ(a[999].item<double>(), 1.0);
    at::Tensor b = comm.rank() == 1 ? at::arange(5, at::kLong) : at::zeros({5}, at::kLong);
    comm.Broadcast(b, 1);
    EXPECT_TRUE(at::equal(b, at::arange(5, at::kLong)));
    comm.Barrier();
  });
}

TEST(Communicator, OnRootGivesEveryRankRankZerosAnswerInAnyOrder) {
  std::atomic<int> runs{0};
  RunRanks(2, [&](Communicator& comm) {
    if (comm.is_root()) {
      EXPECT_EQ(comm.OnRoot("first",
                            [&] {
                              ++runs;
                              // Rank 0 may answer a second question inside the first; rank 1 asks
                              // it later.
                              comm.OnRoot("inner", [&] {
                                ++runs;
                                return std::string("made inside");
                              });
                              return std::string("one");
                            }),
                "one");
    } else {
      EXPECT_EQ(comm.OnRoot("first", [] { return std::string("never"); }), "one");
      EXPECT_EQ(comm.OnRoot("inner", [] { return std::string("never"); }), "made inside");
    }
  });
  EXPECT_EQ(runs.load(), 2);
}

TEST(Communicator, RankZerosErrorReachesEveryRank) {
  std::atomic<int> input_errors{0}, run_errors{0};
  RunRanks(2, [&](Communicator& comm) {
    try {
      comm.OnRoot("bad input", []() -> std::string { throw InputError("the manifest is wrong"); });
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("the manifest is wrong"), std::string::npos);
      ++input_errors;
    }
    try {
      comm.OnRoot("failure", []() -> std::string { throw RunError("disk full"); });
    } catch (const RunError& e) {
      EXPECT_NE(std::string(e.what()).find("disk full"), std::string::npos);
      ++run_errors;
    }
  });
  EXPECT_EQ(input_errors.load(), 2);
  EXPECT_EQ(run_errors.load(), 2);
}

TEST(Communicator, AMissingRankIsNamedAfterTheJoinTimeout) {
  JoinOptions options;
  options.join_timeout = std::chrono::seconds(1);
  const int port = UnusedPort();
  auto start = std::chrono::steady_clock::now();
  EXPECT_THROW_WITH(Communicator::Join(LocalWorld(0, 3, port), options), InputError,
                    "ranks 1 and 2 of WORLD_SIZE=3 did not join within 1 s", "(joined: 0)",
                    "--join-timeout");
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  // A worker whose rank 0 never comes: it cannot reach the store.
  EXPECT_THROW_WITH(Communicator::Join(LocalWorld(1, 2, UnusedPort()), options), InputError,
                    "rank 1 could not reach rank 0's store at 127.0.0.1:", "within 1 s");
}

TEST(Communicator, APortInUseIsNamed) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);
  JoinOptions options;
  options.join_timeout = std::chrono::seconds(2);
  EXPECT_THROW_WITH(Communicator::Join(LocalWorld(0, 2, port), options), InputError,
                    "rank 0 cannot serve the rendezvous store on port " + std::to_string(port),
                    "already in use");
  ::close(fd);
}

TEST(Communicator, NcclOnABuildWithoutItIsRefused) {
  if (NcclAvailable()) GTEST_SKIP() << "this LibTorch has NCCL";
  JoinOptions options;
  options.backend = "nccl";
  EXPECT_THROW_WITH(Communicator::Join(WorldInfo{}, options), InputError,
                    "NCCL backend was asked for", "without CUDA/NCCL", "--backend gloo");
  options.backend = "mpi";
  EXPECT_THROW_WITH(Communicator::Join(WorldInfo{}, options), InputError,
                    "backend 'mpi': expected auto, gloo or nccl");
}

}  // namespace
}  // namespace modelgrow
