//===- kernel_params.h - parameters of palmrt's own GPU kernels -*- C++ -*-===//
//
// Each kernel of the embedded modules takes one of these structs by value.
// The header is compiled by nvcc (device code) and by the host compiler (the
// launching side, and the host emulation the tests use), so it holds plain
// data and the index arithmetic both sides share.
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_SRC_CUDA_KERNELS_KERNEL_PARAMS_H
#define PALMRT_SRC_CUDA_KERNELS_KERNEL_PARAMS_H

#include <stdint.h>

#ifdef __CUDACC__
#define PALMRT_HOST_DEVICE __host__ __device__
#else
#define PALMRT_HOST_DEVICE
#endif

namespace palmrt {

inline constexpr int kBlockCopyMaxRank = 8;

/// Copies `pieces` blocks of `block` words (extents, innermost last): word
/// `i` of piece `p` goes from src[srcOffset + p * srcPieceStride + sum_d
/// i_d * srcStride[d]] to the same place under dst's names. Words are 1, 2,
/// 4, 8 or 16 bytes (the kernel's name says which); strides and offsets
/// count words.
struct BlockCopyParams {
  const void *src;
  void *dst;
  int64_t words; // per piece: the product of block
  int64_t pieces;
  int32_t rank;
  int32_t unused;
  int64_t block[kBlockCopyMaxRank];
  int64_t srcStride[kBlockCopyMaxRank];
  int64_t dstStride[kBlockCopyMaxRank];
  int64_t srcOffset, dstOffset;
  int64_t srcPieceStride, dstPieceStride;
};

/// The source and destination word of word `i` of piece `piece`.
PALMRT_HOST_DEVICE inline void blockCopyIndex(const BlockCopyParams &p,
                                              int64_t piece, int64_t i,
                                              int64_t *src, int64_t *dst) {
  int64_t s = p.srcOffset + piece * p.srcPieceStride;
  int64_t d = p.dstOffset + piece * p.dstPieceStride;
  for (int32_t dim = p.rank - 1; dim >= 0; --dim) {
    int64_t extent = p.block[dim];
    int64_t at = i % extent;
    i /= extent;
    s += at * p.srcStride[dim];
    d += at * p.dstStride[dim];
  }
  *src = s;
  *dst = d;
}

inline constexpr int kInitMaxRank = 8;

/// palmrt_init_normal: element i of `out` (f32, or bf16 with `bf16`), at
/// local index i (row-major over localShape) of the shard at `offset` of a
/// tensor of globalShape, becomes stddev * normal_init::parameterNormal(seed,
/// nameHash, its global row-major index), rounded to f32 (then bf16); a
/// global index past the shape (padding) becomes zero.
struct InitNormalParams {
  void *out;
  double stddev;
  int64_t elements;
  int32_t rank;
  int32_t bf16;
  uint32_t seed, nameHash;
  int64_t localShape[kInitMaxRank];
  int64_t offset[kInitMaxRank];
  int64_t globalShape[kInitMaxRank];
};

/// palmrt_attention's arguments (palmrt.h). The grid has qTiles * h * b
/// blocks of kAttentionThreads threads; block x covers query rows
/// [tile * kAttentionRows, +kAttentionRows) of head x / qTiles % h of batch
/// x / (qTiles * h).
struct AttentionParams {
  const void *q, *k, *v;
  void *out;
  /// f32 [b, s, h] or null: each row's log-sum-exp (natural log).
  float *lse;
  int64_t b, s, t, h, g, dk, dv;
  int64_t headOffset, headsPerGroup, globalHeads;
  /// Global position of query row 0 (causal masking of a query shard).
  int64_t queryOffset;
  int64_t qTiles;
  float scale;
  int32_t causal;
};

inline constexpr int kAttentionRows = 32;    // query rows per block
inline constexpr int kAttentionKeys = 32;    // keys per step of the loop
inline constexpr int kAttentionThreads = 128; // 4 threads per query row

/// Dynamic shared memory of the attention kernels, in bytes: the query tile
/// and the key tile padded to dk + 1 floats per row, the value tile, and the
/// probabilities [rows][keys + 1].
PALMRT_HOST_DEVICE inline int64_t attentionSharedBytes(int64_t dk,
                                                       int64_t dv) {
  return 4 * ((kAttentionRows + kAttentionKeys) * (dk + 1) +
              kAttentionKeys * dv + kAttentionRows * (kAttentionKeys + 1));
}

/// The tensor-core kernels (bf16, dk == dv == d in {64, 128, 256}, 16-byte
/// aligned q/k/v/out): blocks of kAttentionMmaThreads threads (4 warps, each
/// with attentionMmaWarpTiles(d) tiles of 16 query rows) over
/// attentionMmaRows(d) query rows, keys attentionMmaKeys(d) at a time;
/// qTiles counts tiles of attentionMmaRows(d) rows. Two row tiles per warp
/// use each key and value fragment twice; at d = 256 the accumulators of
/// one tile already take most of a thread's registers.
inline constexpr int kAttentionMmaThreads = 128;

PALMRT_HOST_DEVICE constexpr int attentionMmaWarpTiles(int64_t d) {
  return d <= 128 ? 2 : 1;
}
PALMRT_HOST_DEVICE constexpr int attentionMmaRows(int64_t d) {
  return 4 * 16 * attentionMmaWarpTiles(d);
}
PALMRT_HOST_DEVICE constexpr int attentionMmaKeys(int64_t d) {
  return d == 128 ? 32 : 64;
}
/// Key/value tiles in flight: the next is loaded (cp.async) while the
/// current one is used; one at d = 256, whose two would exceed an A100's
/// shared memory.
PALMRT_HOST_DEVICE constexpr int attentionMmaStages(int64_t d) {
  return d == 256 ? 1 : 2;
}

/// Dynamic shared memory of the tensor-core kernels, in bytes: the bf16
/// query tile and attentionMmaStages(d) key and value tiles, rows of d + 8
/// elements (the 8 elements of padding move consecutive rows to other
/// banks).
PALMRT_HOST_DEVICE inline int64_t attentionMmaSharedBytes(int64_t d) {
  return 2 *
         (attentionMmaRows(d) + 2 * attentionMmaStages(d) * attentionMmaKeys(d)) *
         (d + 8);
}

/// palmrt_attention_grad's arguments (palmrt.h) and its scratch `delta`
/// (f32 [b, s, h]: D_r = dout_r . out_r). Two kernels of
/// kAttentionGradThreads threads: the dq kernel, qTiles * h * b blocks
/// (block x covers query rows [tile * kAttentionGradRows, +rows) of head
/// x / qTiles % h of batch x / (qTiles * h)), which also writes delta; then
/// the dk/dv kernel, kTiles * g * b blocks (block x covers keys
/// [tile * kAttentionGradKeys, +keys) of key/value head x / kTiles % g of
/// batch x / (kTiles * g)). The tensor-core kernels (below) count tiles of
/// kAttentionGradMmaRows rows and kAttentionGradMmaKeys keys instead.
struct AttentionGradParams {
  const void *q, *k, *v, *out, *dout;
  const float *lse;
  float *delta;
  void *dQuery, *dKey, *dValue;
  int64_t b, s, t, h, g, dk, dv;
  int64_t headOffset, headsPerGroup, globalHeads;
  int64_t queryOffset;
  int64_t qTiles, kTiles;
  float scale;
  int32_t causal;
};

inline constexpr int kAttentionGradRows = 32;     // query rows per tile
inline constexpr int kAttentionGradKeys = 32;     // keys per tile
inline constexpr int kAttentionGradThreads = 128; // 4 threads per row or key

/// Dynamic shared memory of the dq kernel, in bytes: query and output
/// gradient tiles [rows][d + 1], key and value tiles [keys][d + 1], and the
/// score gradients [rows][keys + 1].
PALMRT_HOST_DEVICE inline int64_t attentionGradDqSharedBytes(int64_t dk,
                                                             int64_t dv) {
  return 4 * ((kAttentionGradRows + kAttentionGradKeys) * (dk + dv + 2) +
              kAttentionGradRows * (kAttentionGradKeys + 1));
}

/// Dynamic shared memory of the dk/dv kernel, in bytes: the same tiles,
/// the probabilities and score gradients [rows][keys + 1], and the rows'
/// lse and delta.
PALMRT_HOST_DEVICE inline int64_t attentionGradDkvSharedBytes(int64_t dk,
                                                              int64_t dv) {
  return 4 * ((kAttentionGradRows + kAttentionGradKeys) * (dk + dv + 2) +
              2 * kAttentionGradRows * (kAttentionGradKeys + 1) +
              2 * kAttentionGradRows);
}

/// The tensor-core backward (bf16, dk == dv == d in {64, 128}, 16-byte
/// aligned operands): both kernels have kAttentionGradMmaThreads threads, 4
/// warps of 16 query rows (dq) or 16 keys (dk/dv) each. The dq kernel's
/// blocks take kAttentionGradMmaRows query rows (qTiles counts them) and
/// walk the keys attentionGradMmaStep(d) at a time; the dk/dv kernel's take
/// kAttentionGradMmaKeys keys (kTiles counts them) and walk the query rows
/// attentionGradMmaStep(d) at a time. Both load the next step's tiles
/// (cp.async) while they use the current ones. At d = 256 the dk and dv
/// accumulators alone would take every register: the CUDA-core kernels.
inline constexpr int kAttentionGradMmaThreads = 128;
inline constexpr int kAttentionGradMmaRows = 64;
inline constexpr int kAttentionGradMmaKeys = 64;

PALMRT_HOST_DEVICE constexpr int attentionGradMmaStep(int64_t d) {
  return d == 128 ? 32 : 64;
}

/// Dynamic shared memory of the tensor-core dq kernel, in bytes: the bf16
/// query and output gradient tiles, and two stages of key and value tiles,
/// rows of d + 8 elements (as attentionMmaSharedBytes).
PALMRT_HOST_DEVICE inline int64_t attentionGradMmaDqSharedBytes(int64_t d) {
  return 2 * (2 * kAttentionGradMmaRows + 4 * attentionGradMmaStep(d)) *
         (d + 8);
}

/// Dynamic shared memory of the tensor-core dk/dv kernel, in bytes: the
/// bf16 key and value tiles and two stages of query and output gradient
/// tiles, rows of d + 8 elements, then each stage's rows' lse and delta
/// (f32).
PALMRT_HOST_DEVICE inline int64_t attentionGradMmaDkvSharedBytes(int64_t d) {
  return 2 * (2 * kAttentionGradMmaKeys + 4 * attentionGradMmaStep(d)) *
             (d + 8) +
         4 * 4 * attentionGradMmaStep(d);
}

} // namespace palmrt

#endif // PALMRT_SRC_CUDA_KERNELS_KERNEL_PARAMS_H
