#include "modelgrow/base/threads.h"

#include <dlfcn.h>

#include <cstdlib>
#include <thread>

#include <ATen/Parallel.h>

namespace modelgrow {

int ConfigureThreads(int threads) {
  if (threads <= 0) {
    const char* env = std::getenv("OMP_NUM_THREADS");
    threads = env != nullptr && std::atoi(env) > 0
                  ? std::atoi(env)
                  : static_cast<int>(std::thread::hardware_concurrency());
  }
  if (threads < 1) threads = 1;
  at::set_num_threads(threads);
  // OpenBLAS exports this when it is the BLAS behind LibTorch; other BLAS libraries do not.
  using SetThreads = void (*)(int);
  if (auto set = reinterpret_cast<SetThreads>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    set(1);
  }
  return threads;
}

}  // namespace modelgrow
