//===- bf16.h - bfloat16 conversions ----------------------------*- C++ -*-===//

#ifndef PALMRT_SRC_BF16_H
#define PALMRT_SRC_BF16_H

#include <cstdint>
#include <cstring>

namespace palmrt {

inline float bf16ToFloat(uint16_t v) {
  uint32_t bits = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

/// Round to nearest even; NaN stays NaN (quiet).
inline uint16_t floatToBf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u)
    return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

} // namespace palmrt

#endif // PALMRT_SRC_BF16_H
