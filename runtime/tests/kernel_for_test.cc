//===- kernel_for_test.cc - kernelFor: every chunk once, at the CPU's level ===//
//
// The host kernels hand their loops to kernelFor, which runs each chunk
// through a copy of the loop compiled for the CPU's x86-64 level. These
// tests check the chunks it runs, with and without the BLAS variant, at the
// grain boundaries, and that a chunk's loop computes what the plain loop
// does (the copy for AVX2 or AVX-512 must not change the work, only how it
// is vectorized).
//
//===----------------------------------------------------------------------===//

#include "host/kernel_util.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <vector>

namespace palmrt {
namespace {

/// How many times each index of [0, n) was visited by kernelFor (or
/// kernelForWithBlas) with `grain`, and whether every chunk had the grain's
/// bounds.
template <bool WithBlas>
std::vector<int> visits(int64_t n, int64_t grain, bool *chunksAligned) {
  std::vector<std::atomic<int>> counts(n);
  std::atomic<bool> aligned{true};
  auto body = [&](int64_t begin, int64_t end) {
    if (begin % grain != 0 || end != std::min(n, begin + grain))
      aligned = false;
    for (int64_t i = begin; i < end; ++i)
      counts[i].fetch_add(1, std::memory_order_relaxed);
  };
  if (WithBlas)
    kernelForWithBlas(n, grain, body);
  else
    kernelFor(n, grain, body);
  *chunksAligned = aligned;
  std::vector<int> out(n);
  for (int64_t i = 0; i < n; ++i)
    out[i] = counts[i].load();
  return out;
}

TEST(KernelFor, RunsEveryChunkOnce) {
  for (int64_t n : {0, 1, 7, 64, 1000, 4097}) {
    for (int64_t grain : {1, 7, 64, 5000}) {
      bool aligned = false;
      EXPECT_EQ(visits<false>(n, grain, &aligned), std::vector<int>(n, 1))
          << "n " << n << " grain " << grain;
      EXPECT_TRUE(aligned) << "n " << n << " grain " << grain;
      EXPECT_EQ(visits<true>(n, grain, &aligned), std::vector<int>(n, 1))
          << "with BLAS, n " << n << " grain " << grain;
      EXPECT_TRUE(aligned) << "with BLAS, n " << n << " grain " << grain;
    }
  }
}

TEST(KernelFor, VectorizedChunksComputeThePlainLoop) {
  // The softmax pieces the kernels use, in a kernelFor chunk and in a plain
  // loop: exp within 2 ulp either way, so the two agree closely (not bit
  // for bit: the chunk's copy may contract multiply-adds).
  constexpr int64_t kN = 4099;
  std::vector<float> x(kN);
  for (int64_t i = 0; i < kN; ++i)
    x[i] = -0.01f * static_cast<float>(i % 1777);
  std::vector<float> chunked(kN), plain(kN);
  kernelFor(kN, 512, [&](int64_t begin, int64_t end) {
#pragma omp simd
    for (int64_t i = begin; i < end; ++i)
      chunked[i] = expNonPositive(x[i]);
  });
  for (int64_t i = 0; i < kN; ++i)
    plain[i] = std::exp(x[i]);
  for (int64_t i = 0; i < kN; ++i)
    EXPECT_NEAR(chunked[i], plain[i], 4e-7f * plain[i]) << "x " << x[i];
}

} // namespace
} // namespace palmrt
