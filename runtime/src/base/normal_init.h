//===- normal_init.h - parameter values, bit for bit on CPU and GPU -*- C++ -*-//
//
// A parameter element is stddev * N, with N a standard normal made by
// Box-Muller from the first two words of Philox-4x32-10 (generator.h). The
// GPU generates parameters where they live (issue 14: palm-8b would take
// minutes on the host) and must give the same bits as the CPU, so the
// transform here is written once for both compilers from operations IEEE 754
// rounds exactly: +, -, *, / and sqrt in double, each through a helper that
// the CUDA compiler cannot fuse into an FMA (the __d*_rn intrinsics; on the
// host the file that uses it is compiled with -ffp-contract=off). log and
// cos are our own (libm's and CUDA's differ in the last bits):
//
//   u1 = (w0 + 1) / 2^32 = n 2^-32: log u1 = (e - 32) ln 2 + log m, n = m 2^e,
//     m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(s), s = (m - 1) / (m + 1),
//     by its series to s^27 (|s| <= 0.172: the next term is below 2^-70);
//   cos(2 pi w1 / 2^32): the top two bits of w1 pick the quadrant, the other
//     30 give phi = (r / 2^30) pi / 2 in [0, pi / 2), and cos or sin of phi
//     by Taylor series to phi^26 or phi^27 (the next terms below 2^-60).
//
// Both agree with libm to a few units in the last place of a double, far
// below the f32 or bf16 rounding that follows.
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_SRC_BASE_NORMAL_INIT_H
#define PALMRT_SRC_BASE_NORMAL_INIT_H

#include <cstdint>
#ifndef __CUDACC__
#include <cmath>
#include <cstring>
#endif

#ifdef __CUDACC__
#define PALMRT_HD __host__ __device__ __forceinline__
#else
#define PALMRT_HD inline
#endif

namespace palmrt {
namespace normal_init {

PALMRT_HD double add(double a, double b) {
#ifdef __CUDA_ARCH__
  return __dadd_rn(a, b);
#else
  return a + b;
#endif
}

PALMRT_HD double mul(double a, double b) {
#ifdef __CUDA_ARCH__
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}

PALMRT_HD double div(double a, double b) {
#ifdef __CUDA_ARCH__
  return __ddiv_rn(a, b);
#else
  return a / b;
#endif
}

PALMRT_HD double squareRoot(double a) {
#ifdef __CUDA_ARCH__
  return __dsqrt_rn(a);
#else
  return std::sqrt(a);
#endif
}

/// 2^e for e in [-1022, 1023], exactly.
PALMRT_HD double powerOfTwo(int e) {
  uint64_t bits = static_cast<uint64_t>(e + 1023) << 52;
#ifdef __CUDA_ARCH__
  return __longlong_as_double(static_cast<long long>(bits));
#else
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return d;
#endif
}

/// Index of the highest set bit of n > 0.
PALMRT_HD int highestBit(uint64_t n) {
#ifdef __CUDA_ARCH__
  return 63 - __clzll(static_cast<long long>(n));
#else
  return 63 - __builtin_clzll(n);
#endif
}

/// Philox-4x32 with 10 rounds (Salmon et al., SC'11).
PALMRT_HD void philox(uint32_t c[4], uint32_t k0, uint32_t k1) {
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    uint64_t p0 = 0xD2511F53ull * c[0];
    uint64_t p1 = 0xCD9E8D57ull * c[2];
    uint32_t c1 = c[1], c3 = c[3];
    c[0] = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ k0;
    c[1] = static_cast<uint32_t>(p1);
    c[2] = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ k1;
    c[3] = static_cast<uint32_t>(p0);
  }
}

/// log(n / 2^32) for n in [1, 2^32].
PALMRT_HD double logOfFraction(uint64_t n) {
  constexpr double kLn2Hi = 6.93147180369123816490e-01; // ln 2, top 32 bits
  constexpr double kLn2Lo = 1.90821492927058770002e-10; // the rest
  constexpr double kSqrt2 = 1.41421356237309504880;
  int e = highestBit(n);
  // m = n / 2^e in [1, 2): exact (n has at most 33 significant bits).
  double m = mul(static_cast<double>(n), powerOfTwo(-e));
  if (m > kSqrt2) {
    m = mul(m, 0.5);
    ++e;
  }
  double s = div(add(m, -1.0), add(m, 1.0));
  double z = mul(s, s);
  // 2 atanh(s) = 2 (s + s^3 / 3 + s^5 / 5 + ...), Horner in z.
  double series = 2.0 / 27.0;
  for (int k = 25; k >= 1; k -= 2)
    series = add(2.0 / k, mul(z, series));
  double logM = mul(s, series);
  double scale = static_cast<double>(e - 32);
  return add(mul(scale, kLn2Hi), add(mul(scale, kLn2Lo), logM));
}

/// cos(2 pi w / 2^32).
PALMRT_HD double cosOfTurn(uint32_t w) {
  constexpr double kHalfPi = 1.57079632679489661923;
  uint32_t quadrant = w >> 30;
  double phi = mul(mul(static_cast<double>(w & 0x3FFFFFFFu),
                       powerOfTwo(-30)),
                   kHalfPi);
  double z = mul(phi, phi);
  // cos phi = sum (-1)^k z^k / (2k)!, sin phi = phi sum (-1)^k z^k / (2k+1)!
  bool wantSin = quadrant & 1u;
  int first = wantSin ? 27 : 26;
  double term = 1.0; // built as the Horner form of the series
  for (int n = first; n >= 2; n -= 2)
    term = add(1.0, mul(-div(z, static_cast<double>(n * (n - 1))), term));
  double value = wantSin ? mul(phi, term) : term;
  // cos(q pi/2 + phi) = cos phi, -sin phi, -cos phi, sin phi.
  return quadrant == 1u || quadrant == 2u ? -value : value;
}

/// The standard normal of two uniform words:
/// sqrt(-2 ln u1) cos(2 pi u2), u1 = (w0 + 1) / 2^32, u2 = w1 / 2^32.
PALMRT_HD double normalOfWords(uint32_t w0, uint32_t w1) {
  double radius = squareRoot(mul(-2.0, logOfFraction(uint64_t{w0} + 1)));
  return mul(radius, cosOfTurn(w1));
}

/// The standard normal of global element `index` of a parameter whose key
/// is (seed, name hash).
PALMRT_HD double parameterNormal(uint32_t seed, uint32_t nameHash,
                                 uint64_t index) {
  uint32_t c[4] = {static_cast<uint32_t>(index),
                   static_cast<uint32_t>(index >> 32), 0u, 0u};
  philox(c, seed, nameHash);
  return normalOfWords(c[0], c[1]);
}

} // namespace normal_init
} // namespace palmrt

#undef PALMRT_HD

#endif // PALMRT_SRC_BASE_NORMAL_INIT_H
