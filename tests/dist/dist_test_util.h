// In-process worlds for tests: N ranks as N threads of this process, each joining over loopback
// with its own store client and Gloo process group, as N processes would.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "modelgrow/dist/communicator.h"

namespace modelgrow::testing {

// A loopback port nobody listens on now.
inline int UnusedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

inline WorldInfo LocalWorld(int rank, int size, int port) {
  WorldInfo w;
  w.rank = rank;
  w.size = size;
  w.local_rank = rank;
  w.local_size = size;
  w.master_addr = "127.0.0.1";
  w.master_port = port;
  w.source = "test";
  return w;
}

// Runs `body(comm)` on `size` ranks at once, one thread each; rethrows the first rank's exception.
// When several ranks fail, the others' messages go to stderr first: a rank's own error and the
// one its peer saw after it left can differ, and a flaky failure must keep both.
inline void RunRanks(int size, const std::function<void(Communicator& comm)>& body,
                     JoinOptions options = {}) {
  const int port = UnusedPort();
  std::vector<std::exception_ptr> errors(size);
  std::vector<std::thread> threads;
  for (int rank = 0; rank < size; ++rank) {
    threads.emplace_back([&, rank] {
      try {
        std::unique_ptr<Communicator> comm =
            Communicator::Join(LocalWorld(rank, size, port), options);
        body(*comm);
      } catch (...) {
        errors[rank] = std::current_exception();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  std::exception_ptr first;
  for (int rank = 0; rank < size; ++rank) {
    if (!errors[rank]) continue;
    if (!first) {
      first = errors[rank];
      continue;
    }
    try {
      std::rethrow_exception(errors[rank]);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "RunRanks: rank %d also failed: %s\n", rank, e.what());
    } catch (...) {
      std::fprintf(stderr, "RunRanks: rank %d also failed (not a std::exception)\n", rank);
    }
  }
  if (first) std::rethrow_exception(first);
}

}  // namespace modelgrow::testing
