//===- data_movement.cc - slicing, padding, transposes --------------------===//

#include "base/layout.h"
#include "base/trace.h"
#include "host/parallel.h"

#include "palmrt/palmrt.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace palmrt {

void copyBlock(const void *src, const int64_t *srcShape,
               const int64_t *srcOffsets, void *dst, const int64_t *dstShape,
               const int64_t *dstOffsets, const int64_t *block, int32_t rank,
               int64_t elemBytes) {
  for (int32_t d = 0; d < rank; ++d)
    if (block[d] <= 0)
      return;
  auto srcOff = [&](int32_t d) { return srcOffsets ? srcOffsets[d] : 0; };
  auto dstOff = [&](int32_t d) { return dstOffsets ? dstOffsets[d] : 0; };
  // Merge trailing dimensions the block covers entirely in both tensors: they
  // form one contiguous run.
  int32_t inner = rank;
  int64_t run = elemBytes;
  while (inner > 0 && block[inner - 1] == srcShape[inner - 1] &&
         block[inner - 1] == dstShape[inner - 1]) {
    --inner;
    run *= block[inner];
  }
  // One more (partial) dimension still copies contiguously.
  if (inner > 0) {
    --inner;
    run *= block[inner];
  }
  const char *s = static_cast<const char *>(src);
  char *t = static_cast<char *>(dst);
  std::vector<int64_t> srcStride(rank + 1, elemBytes),
      dstStride(rank + 1, elemBytes);
  for (int32_t d = rank - 1; d >= 0; --d) {
    srcStride[d] = srcStride[d + 1] * (d + 1 < rank ? srcShape[d + 1] : 1);
    dstStride[d] = dstStride[d + 1] * (d + 1 < rank ? dstShape[d + 1] : 1);
  }
  // srcStride[d] is the byte stride of dimension d.
  for (int32_t d = 0; d < rank; ++d) {
    s += srcOff(d) * srcStride[d];
    t += dstOff(d) * dstStride[d];
  }
  if (inner == 0) {
    std::memcpy(t, s, run);
    return;
  }
  std::vector<int64_t> idx(inner, 0);
  while (true) {
    int64_t so = 0, to = 0;
    for (int32_t d = 0; d < inner; ++d) {
      so += idx[d] * srcStride[d];
      to += idx[d] * dstStride[d];
    }
    std::memcpy(t + to, s + so, run);
    int32_t d = inner - 1;
    for (; d >= 0; --d) {
      if (++idx[d] < block[d])
        break;
      idx[d] = 0;
    }
    if (d < 0)
      return;
  }
}

namespace {

template <typename T>
void transpose2d(const char *in, char *out, int64_t na, int64_t nb,
                 int64_t strideA, int64_t strideB) {
  // Tiles keep both the strided reads and the writes in cache.
  constexpr int64_t kTile = 32;
  const T *src = reinterpret_cast<const T *>(in);
  T *dst = reinterpret_cast<T *>(out);
  // Bands of kTile output rows on the pool's threads (a copy: any split
  // gives the same bytes).
  parallelFor(na, kTile, [&](int64_t a0, int64_t a1) {
    for (int64_t b0 = 0; b0 < nb; b0 += kTile) {
      int64_t b1 = std::min(nb, b0 + kTile);
      for (int64_t a = a0; a < a1; ++a)
        for (int64_t b = b0; b < b1; ++b)
          dst[a * nb + b] = src[a * strideA + b * strideB];
    }
  });
}

void transpose2dBytes(const char *in, char *out, int64_t na, int64_t nb,
                      int64_t strideA, int64_t strideB, int64_t elemBytes) {
  switch (elemBytes) {
  case 1:
    return transpose2d<uint8_t>(in, out, na, nb, strideA, strideB);
  case 2:
    return transpose2d<uint16_t>(in, out, na, nb, strideA, strideB);
  case 4:
    return transpose2d<uint32_t>(in, out, na, nb, strideA, strideB);
  case 8:
    return transpose2d<uint64_t>(in, out, na, nb, strideA, strideB);
  default:
    for (int64_t a = 0; a < na; ++a)
      for (int64_t b = 0; b < nb; ++b)
        std::memcpy(out + (a * nb + b) * elemBytes,
                    in + (a * strideA + b * strideB) * elemBytes, elemBytes);
  }
}

} // namespace
} // namespace palmrt

using namespace palmrt;

extern "C" {

void palmrt_mask_padding(const void *in, void *out, int32_t rank,
                         const int64_t *shape, int32_t dim, int64_t valid,
                         int64_t elem_bytes) {
  TraceScope trace("mask_padding", "data");
  int64_t outer = product(shape, 0, dim);
  int64_t extent = shape[dim];
  int64_t inner = product(shape, dim + 1, rank) * elem_bytes;
  valid = std::clamp<int64_t>(valid, 0, extent);
  const char *s = static_cast<const char *>(in);
  char *t = static_cast<char *>(out);
  for (int64_t o = 0; o < outer; ++o) {
    int64_t base = o * extent * inner;
    if (s != t)
      std::memmove(t + base, s + base, valid * inner);
    std::memset(t + base + valid * inner, 0, (extent - valid) * inner);
  }
}

void palmrt_transpose(const void *in, void *out, int32_t rank,
                      const int64_t *in_shape, const int64_t *perm,
                      int64_t elem_bytes) {
  TraceScope trace("transpose", "data");
  if (rank == 0) {
    std::memcpy(out, in, elem_bytes);
    return;
  }
  // Element strides of the input, and of the input seen through the output's
  // dimensions.
  std::vector<int64_t> inStride(rank, 1), outShape(rank), viewStride(rank);
  for (int32_t d = rank - 2; d >= 0; --d)
    inStride[d] = inStride[d + 1] * in_shape[d + 1];
  for (int32_t j = 0; j < rank; ++j) {
    outShape[j] = in_shape[perm[j]];
    viewStride[j] = inStride[perm[j]];
  }
  if (product(outShape.data(), 0, rank) == 0)
    return;
  const char *s = static_cast<const char *>(in);
  char *t = static_cast<char *>(out);
  if (rank == 1) {
    std::memcpy(t, s, outShape[0] * elem_bytes);
    return;
  }
  // The output's last two dimensions form a 2-D (possibly strided) copy per
  // index of the leading ones. When the innermost dimension stays innermost,
  // rows are contiguous and that copy is a memcpy per row.
  int64_t na = outShape[rank - 2], nb = outShape[rank - 1];
  int32_t outer = rank - 2;
  std::vector<int64_t> idx(outer, 0);
  int64_t outOffset = 0;
  while (true) {
    int64_t inOffset = 0;
    for (int32_t d = 0; d < outer; ++d)
      inOffset += idx[d] * viewStride[d];
    const char *src = s + inOffset * elem_bytes;
    char *dst = t + outOffset * elem_bytes;
    if (viewStride[rank - 1] == 1) {
      for (int64_t a = 0; a < na; ++a)
        std::memcpy(dst + a * nb * elem_bytes,
                    src + a * viewStride[rank - 2] * elem_bytes,
                    nb * elem_bytes);
    } else {
      transpose2dBytes(src, dst, na, nb, viewStride[rank - 2],
                       viewStride[rank - 1], elem_bytes);
    }
    outOffset += na * nb;
    int32_t d = outer - 1;
    for (; d >= 0; --d) {
      if (++idx[d] < outShape[d])
        break;
      idx[d] = 0;
    }
    if (d < 0)
      return;
  }
}

void palmrt_extract_slice(const void *in, void *out, int32_t rank,
                          const int64_t *in_shape, const int64_t *out_shape,
                          const int64_t *offsets, int64_t elem_bytes) {
  TraceScope trace("extract_slice", "data");
  if (rank == 0) {
    std::memcpy(out, in, elem_bytes);
    return;
  }
  copyBlock(in, in_shape, offsets, out, out_shape, nullptr, out_shape, rank,
            elem_bytes);
}

void palmrt_insert_slice(const void *in, void *out, int32_t rank,
                         const int64_t *in_shape, const int64_t *out_shape,
                         const int64_t *offsets, int64_t elem_bytes) {
  TraceScope trace("insert_slice", "data");
  if (rank == 0) {
    std::memcpy(out, in, elem_bytes);
    return;
  }
  copyBlock(in, in_shape, nullptr, out, out_shape, offsets, in_shape, rank,
            elem_bytes);
}

void palmrt_pad(const void *in, void *out, int32_t rank,
                const int64_t *in_shape, const int64_t *out_shape,
                int64_t elem_bytes) {
  TraceScope trace("pad", "data");
  if (rank == 0) {
    std::memcpy(out, in, elem_bytes);
    return;
  }
  int64_t total = product(out_shape, 0, rank) * elem_bytes;
  std::memset(out, 0, total);
  copyBlock(in, in_shape, nullptr, out, out_shape, nullptr, in_shape, rank,
            elem_bytes);
}

} // extern "C"
