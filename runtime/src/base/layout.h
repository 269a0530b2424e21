//===- layout.h - copies between dense row-major blocks ---------*- C++ -*-===//
//
// The one strided copy that slicing, padding and the packing around
// collectives are made of.
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_SRC_BASE_LAYOUT_H
#define PALMRT_SRC_BASE_LAYOUT_H

#include <cstdint>

namespace palmrt {

/// Copies a block of `block` elements from `src` (shape `srcShape`) at
/// `srcOffsets` into `dst` (shape `dstShape`) at `dstOffsets`. Null offsets
/// mean zeros. Runs along the innermost dimensions are copied with memcpy.
void copyBlock(const void *src, const int64_t *srcShape,
               const int64_t *srcOffsets, void *dst, const int64_t *dstShape,
               const int64_t *dstOffsets, const int64_t *block, int32_t rank,
               int64_t elemBytes);

/// The product of shape[begin, end).
inline int64_t product(const int64_t *shape, int32_t begin, int32_t end) {
  int64_t n = 1;
  for (int32_t i = begin; i < end; ++i)
    n *= shape[i];
  return n;
}

} // namespace palmrt

#endif // PALMRT_SRC_BASE_LAYOUT_H
