//===- parallel.cc - the host kernels' threads ----------------------------===//

#include "host/parallel.h"

#include "host/blas_library.h"

#include "palmrt/palmrt.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <pthread.h>
#include <thread>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace palmrt {
namespace {

inline void cpuRelax() {
#if defined(__x86_64__)
  _mm_pause();
#endif
}

/// Inside a chunk (or a worker): nested parallelFor runs serially.
thread_local bool insideChunk = false;

/// In a child forked after the pool started (a death test): the workers did
/// not survive the fork, so everything runs serially.
std::atomic<bool> forked{false};

class Pool {
public:
  explicit Pool(int threads) : threads_(std::max(1, threads)) {
    // The pool lives as long as the process (it is never destroyed, so no
    // destructor races the exit); its workers are detached.
    for (int i = 1; i < threads_; ++i)
      std::thread([this] { workerLoop(); }).detach();
  }

  int threads() const { return threads_; }

  void run(int64_t n, int64_t grain,
           absl::FunctionRef<void(int64_t, int64_t)> body) {
    // One region at a time (kernels are called from one thread; this only
    // guards against misuse).
    std::lock_guard<std::mutex> region(regionMutex_);
    int64_t chunks = chunkCount(n, grain);
    body_ = &body;
    n_ = n;
    grain_ = grain;
    chunks_ = chunks;
    next_.store(0, std::memory_order_relaxed);
    pending_.store(threads_ - 1, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    work();
    // Wait for the workers to leave this region (they may still be taking
    // no chunk); spin, the rest of a region is short.
    for (int spin = 0; pending_.load(std::memory_order_acquire) != 0; ++spin)
      if (spin < kSpins)
        cpuRelax();
      else
        std::this_thread::yield();
    body_ = nullptr;
  }

private:
  void work() {
    bool was = insideChunk;
    insideChunk = true;
    for (;;) {
      int64_t i = next_.fetch_add(1, std::memory_order_relaxed);
      if (i >= chunks_)
        break;
      int64_t begin = i * grain_;
      (*body_)(begin, std::min(n_, begin + grain_));
    }
    insideChunk = was;
  }

  void workerLoop() {
    uint64_t seen = 0;
    for (;;) {
      // Spin a little (a region often follows another closely), then sleep.
      uint64_t now = generation_.load(std::memory_order_acquire);
      for (int spin = 0; now == seen && spin < kSpins; ++spin) {
        cpuRelax();
        now = generation_.load(std::memory_order_acquire);
      }
      if (now == seen) {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] {
          return generation_.load(std::memory_order_acquire) != seen;
        });
        now = generation_.load(std::memory_order_acquire);
      }
      seen = now;
      work();
      pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  static constexpr int kSpins = 4000;

  int threads_;
  std::mutex regionMutex_, mutex_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int64_t> next_{0};
  std::atomic<int> pending_{0};
  absl::FunctionRef<void(int64_t, int64_t)> *body_ = nullptr;
  int64_t n_ = 0, grain_ = 1, chunks_ = 0;
};

Pool &pool() {
  static Pool *p = [] {
    pthread_atfork(nullptr, nullptr,
                   [] { forked.store(true, std::memory_order_relaxed); });
    return new Pool(blas().getNumThreads());
  }();
  return *p;
}

} // namespace

int parallelThreads() { return pool().threads(); }

void parallelFor(int64_t n, int64_t grain,
                 absl::FunctionRef<void(int64_t, int64_t)> body) {
  grain = std::max<int64_t>(grain, 1);
  if (n <= 0)
    return;
  if (insideChunk || n <= grain || pool().threads() == 1 ||
      forked.load(std::memory_order_relaxed)) {
    for (int64_t begin = 0; begin < n; begin += grain)
      body(begin, std::min(n, begin + grain));
    return;
  }
  pool().run(n, grain, body);
}

void parallelForWithBlas(int64_t n, int64_t grain,
                         absl::FunctionRef<void(int64_t, int64_t)> body) {
  grain = std::max<int64_t>(grain, 1);
  if (insideChunk || n <= grain || parallelThreads() == 1 ||
      forked.load(std::memory_order_relaxed)) {
    parallelFor(n, grain, body);
    return;
  }
  const BlasLibrary &lib = blas();
  int blasThreads = lib.getNumThreads();
  lib.setNumThreads(1);
  parallelFor(n, grain, body);
  lib.setNumThreads(blasThreads);
}

} // namespace palmrt

extern "C" void palmrt_parallel_for(palmrt_range_fn body, void *args, int64_t n,
                                    int64_t grain) {
  palmrt::parallelFor(
      n, grain, [&](int64_t begin, int64_t end) { body(args, begin, end); });
}
