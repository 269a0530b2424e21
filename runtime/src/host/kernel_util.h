//===- kernel_util.h - helpers of the f32 kernels ---------------*- C++ -*-===//
//
// Shared by the forward kernels (kernels.cc) and their backwards
// (kernels_grad.cc). The inline helpers are inlined into each x86-64 version
// of their caller (PALMRT_KERNEL), so they live here rather than in one
// translation unit.
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_SRC_HOST_KERNEL_UTIL_H
#define PALMRT_SRC_HOST_KERNEL_UTIL_H

#include "host/parallel.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#if defined(__x86_64__) && defined(PALMRT_MULTIVERSION)
#define PALMRT_KERNEL                                                          \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define PALMRT_KERNEL
#endif
// Helpers are inlined into every version of their caller.
#define PALMRT_INLINE [[gnu::always_inline]] inline

namespace palmrt {

#if defined(__x86_64__) && defined(PALMRT_MULTIVERSION)
namespace kernel_for_detail {

/// The x86-64 level whose code kernelFor runs: 4 (AVX-512), 3 (AVX2 and
/// FMA) or 1 (the baseline), as the target_clones resolvers choose.
int cpuLevel();

// One chunk, with the kernel's lambda inlined into a function compiled for
// one level: the lambda's loops are vectorized with that instruction set.
// (target_clones cannot clone a lambda, and the work of a kernel sits in
// the lambda it hands to parallelFor.)
#if defined(__clang__)
#define PALMRT_INLINE_CALL [[clang::always_inline]]
#define PALMRT_CHUNK_INLINING
#else
#define PALMRT_INLINE_CALL
#define PALMRT_CHUNK_INLINING gnu::flatten,
#endif
template <class Body>
[[PALMRT_CHUNK_INLINING gnu::target("arch=x86-64-v4")]] void
chunkV4(const Body &body, int64_t begin, int64_t end) {
  PALMRT_INLINE_CALL body(begin, end);
}
template <class Body>
[[PALMRT_CHUNK_INLINING gnu::target("arch=x86-64-v3")]] void
chunkV3(const Body &body, int64_t begin, int64_t end) {
  PALMRT_INLINE_CALL body(begin, end);
}
#undef PALMRT_INLINE_CALL
#undef PALMRT_CHUNK_INLINING

} // namespace kernel_for_detail
#endif

/// parallelFor (parallelForWithBlas when WithBlas) for a kernel's loops:
/// on x86-64 the chunks run `body` compiled for AVX-512 or for AVX2 + FMA
/// when the CPU has them, like the PALMRT_KERNEL function around it.
template <bool WithBlas, class Body>
void kernelForAt(int64_t n, int64_t grain, const Body &body) {
  auto run = [&](const auto &chunk) {
    if (WithBlas)
      parallelForWithBlas(n, grain, chunk);
    else
      parallelFor(n, grain, chunk);
  };
#if defined(__x86_64__) && defined(PALMRT_MULTIVERSION)
  switch (kernel_for_detail::cpuLevel()) {
  case 4:
    return run([&](int64_t begin, int64_t end) {
      kernel_for_detail::chunkV4(body, begin, end);
    });
  case 3:
    return run([&](int64_t begin, int64_t end) {
      kernel_for_detail::chunkV3(body, begin, end);
    });
  default:
    break;
  }
#endif
  run(body);
}

template <class Body>
void kernelFor(int64_t n, int64_t grain, const Body &body) {
  kernelForAt<false>(n, grain, body);
}
template <class Body>
void kernelForWithBlas(int64_t n, int64_t grain, const Body &body) {
  kernelForAt<true>(n, grain, body);
}

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

/// exp(x) for x <= 0 (arguments of a softmax after subtracting the maximum),
/// within 2 ulp; 0 below -87 (and for -inf). Branch-free so it vectorizes.
PALMRT_INLINE float expNonPositive(float x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693145751953125f;
  constexpr float kLn2Lo = 1.42860682030941723212e-6f;
  // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer without
  // a rounding instruction (which baseline x86-64 lacks).
  constexpr float kRound = 12582912.0f;
  float clamped = std::max(x, -87.0f);
  float n = (clamped * kLog2e + kRound) - kRound;
  float r = clamped - n * kLn2Hi - n * kLn2Lo;
  // exp(r) on [-ln2/2, ln2/2]: Taylor to degree 7, truncation < 1e-8.
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return x < -87.0f ? 0.0f : p * scale;
}

PALMRT_INLINE float rowMax(const float *x, int64_t n) {
  float m = kNegInf;
  // fmax, unlike a comparison, is a reduction the vectorizer recognizes.
#pragma omp simd reduction(max : m)
  for (int64_t i = 0; i < n; ++i)
    m = std::fmax(m, x[i]);
  return m;
}

/// sum exp(x[i] - m), i < n.
PALMRT_INLINE float sumExp(const float *x, int64_t n, float m) {
  float s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i)
    s += expNonPositive(x[i] - m);
  return s;
}

/// The mean of xr[0, n) and the sum of squared deviations from it (two
/// passes, no cancellation).
PALMRT_INLINE std::pair<float, float> rowMoments(const float *xr, int64_t n) {
  float sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t c = 0; c < n; ++c)
    sum += xr[c];
  float mean = n > 0 ? sum * (1.0f / static_cast<float>(n)) : 0.0f;
  float sq = 0;
#pragma omp simd reduction(+ : sq)
  for (int64_t c = 0; c < n; ++c) {
    float d = xr[c] - mean;
    sq += d * d;
  }
  return {mean, sq};
}

/// The flat indices of the valid tokens of a [rank] grid, in order.
std::vector<int64_t> validTokens(int32_t rank, const int64_t *shape,
                                 const int64_t *validExtent);

/// The number of elements of a [rank] shape.
int64_t product(int32_t rank, const int64_t *shape);

} // namespace palmrt

#endif // PALMRT_SRC_HOST_KERNEL_UTIL_H
