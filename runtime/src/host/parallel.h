//===- parallel.h - the host kernels' threads -------------------*- C++ -*-===//
//
// The host kernels split their work into chunks fixed by the sizes alone
// (never by the number of threads) and run the chunks on a small pool of
// threads: the caller plus workers. Each chunk writes its own outputs, and
// a kernel that reduces across chunks keeps one partial per chunk and adds
// the partials in chunk order afterwards, so every result is bitwise the
// same at any number of threads and run to run.
//
// The pool has as many threads as OpenBLAS (OPENBLAS_NUM_THREADS or
// OMP_NUM_THREADS, else what the executable chose for it), so the kernels
// and the GEMMs use the same cores. An idle worker spins briefly, then
// sleeps, to leave its core to OpenBLAS's threads.
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_SRC_HOST_PARALLEL_H
#define PALMRT_SRC_HOST_PARALLEL_H

#include "absl/functional/function_ref.h"

#include <cstdint>

namespace palmrt {

/// The threads parallelFor runs on (the caller included), at least 1.
int parallelThreads();

/// Runs body(begin, end) on every chunk [i * grain, min(n, (i + 1) * grain))
/// of [0, n), on the pool's threads (each chunk once, on some thread; the
/// call returns when all are done). Serial when there is one chunk or one
/// thread, or when called from inside a chunk.
void parallelFor(int64_t n, int64_t grain,
                 absl::FunctionRef<void(int64_t, int64_t)> body);

/// parallelFor whose chunks call OpenBLAS: each chunk's GEMMs run on the
/// chunk's own thread (OpenBLAS is set to one thread for the duration),
/// which gives the same results as OpenBLAS's threads would.
void parallelForWithBlas(int64_t n, int64_t grain,
                         absl::FunctionRef<void(int64_t, int64_t)> body);

/// The number of chunks parallelFor makes of [0, n).
inline int64_t chunkCount(int64_t n, int64_t grain) {
  return n <= 0 ? 0 : (n + grain - 1) / grain;
}

} // namespace palmrt

#endif // PALMRT_SRC_HOST_PARALLEL_H
