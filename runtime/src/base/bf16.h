//===- bf16.h - bfloat16 conversions ----------------------------*- C++ -*-===//
//
// floatToBf16 is also compiled by nvcc (kernels/param_init.h): parameters
// generated on the GPU are rounded by the same code as the host's.
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_SRC_BASE_BF16_H
#define PALMRT_SRC_BASE_BF16_H

#include <cstdint>
#include <cstring>
#include <vector>

#ifdef __CUDACC__
#define PALMRT_BF16_HD __host__ __device__
#else
#define PALMRT_BF16_HD
#endif

namespace palmrt {

inline float bf16ToFloat(uint16_t v) {
  uint32_t bits = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

/// Round to nearest even; NaN stays NaN (quiet).
PALMRT_BF16_HD inline uint16_t floatToBf16(float f) {
#ifdef __CUDA_ARCH__
  uint32_t bits = __float_as_uint(f);
#else
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
#endif
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u)
    return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

/// `count` bf16 values as f32, for the host's computations in f32.
inline std::vector<float> widenBf16(const void *in, int64_t count) {
  std::vector<float> out(count > 0 ? count : 0);
  const auto *src = static_cast<const uint16_t *>(in);
  for (int64_t i = 0; i < count; ++i)
    out[i] = bf16ToFloat(src[i]);
  return out;
}

/// `count` f32 values rounded to bf16 into `out`.
inline void narrowToBf16(const float *in, void *out, int64_t count) {
  auto *dst = static_cast<uint16_t *>(out);
  for (int64_t i = 0; i < count; ++i)
    dst[i] = floatToBf16(in[i]);
}

} // namespace palmrt

#undef PALMRT_BF16_HD

#endif // PALMRT_SRC_BASE_BF16_H
