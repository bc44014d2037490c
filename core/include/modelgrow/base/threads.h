// CPU threading: LibTorch's intra-op pool gets the cores; OpenBLAS (LibTorch's BLAS on Debian)
// gets one thread, because its own pool and LibTorch's would otherwise fight over the same
// cores (measured on 2 cores: 1.18 vs 1.99 training steps/s for the quickstart's model).
#pragma once

namespace modelgrow {

// threads <= 0: all cores, unless OMP_NUM_THREADS says otherwise. Returns the count in use.
int ConfigureThreads(int threads);

}  // namespace modelgrow
