//===- attention_grad.cu - attention's backward for the cuda backend ------===//
//
// palmrt_attention_grad on the GPU, flash-attention-2 style: the
// probabilities P = exp(scale q.k - lse) are recomputed tile by tile from
// the forward's log-sum-exp, never stored, and no [s, t] matrix reaches
// global memory. With D_r = dout_r . out_r and dS = P * (dout v^T - D):
// dq = scale dS k, dk = scale dS^T q, dv = P^T dout. Two kernels, each the
// only writer of what it writes, so nothing is added by atomics and every
// sum runs in one fixed order (bitwise reproducible):
//
// - dq: a block per (32 query rows, head, batch) streams over the keys 32
//   at a time with the forward's layout (4 threads per row, each scoring 8
//   keys and accumulating a quarter of dq's columns). It writes D to the
//   scratch `delta` on the way.
// - dk/dv: a block per (32 keys, key/value head, batch) streams over the
//   rows of every real query head that reads its key/value head (all heads
//   under multi-query attention), 32 rows at a time: 4 threads per key,
//   each scoring 8 rows and accumulating a quarter of dk's and dv's
//   columns; causal blocks skip the rows that precede their keys.
//
// These run on CUDA cores for f32 and for any head size up to 256: all math
// is f32 and each result is rounded once. bf16 heads of 64 or 128 elements
// (dk == dv, 16-byte aligned tensors) run on tensor cores instead (the
// second half of this file: the same two kernels with mma.sync, blocks of
// 64 query rows or keys, P and dS rounded to bf16 as operands). Heads of
// 256 stay on CUDA cores: a warp's dk and dv accumulators for 16 keys would
// take 256 registers a thread.
//
// Scores are in the log2 domain (scaled by scale * log2(e); lse too), so
// the exponentials are exp2f. Head and position mapping as in
// attention.cu: padding heads (global index >= globalHeads) get dq = 0 and
// add nothing to dk and dv.
//
//===----------------------------------------------------------------------===//

#include "kernel_params.h"
#include "mma.h"

#include <cuda_bf16.h>

namespace {

using palmrt::AttentionGradParams;
using palmrt::kAttentionGradKeys;
using palmrt::kAttentionGradRows;
using palmrt::kAttentionGradThreads;

constexpr int kRows = kAttentionGradRows, kKeys = kAttentionGradKeys;
constexpr int kLanes = kAttentionGradThreads / kRows; // 4
constexpr int kPerLane = kKeys / kLanes;              // 8
constexpr float kLog2e = 1.4426950408889634f;
static_assert(kAttentionGradThreads / kKeys == kLanes, "4 threads per key");

__device__ inline float toFloat(float x) { return x; }
__device__ inline float toFloat(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ inline void fromFloat(float x, float *out) { *out = x; }
__device__ inline void fromFloat(float x, __nv_bfloat16 *out) {
  *out = __float2bfloat16_rn(x);
}

/// Sums over the kLanes consecutive lanes of a row (or key).
__device__ inline float laneSum(float x) {
  x += __shfl_xor_sync(0xffffffffu, x, 1);
  return x + __shfl_xor_sync(0xffffffffu, x, 2);
}

/// Copies `rows` rows of `width` elements, from `first` on (row i at
/// src[(first + i) * stride]), into tile[i][0..width) of row pitch
/// width + 1, as f32; rows at `limit` or past are zeros.
template <typename T>
__device__ void loadTile(float *tile, const T *src, int64_t first,
                         int64_t limit, int64_t stride, int64_t width,
                         int rows) {
  for (int64_t i = threadIdx.x; i < rows * width; i += kAttentionGradThreads) {
    int64_t r = i / width, c = i % width, at = first + r;
    tile[r * (width + 1) + c] =
        at < limit ? toFloat(src[at * stride + c]) : 0.0f;
  }
}

/// dq and delta for one block of query rows of one head.
template <typename T, int MaxD>
__device__ void gradQueries(const AttentionGradParams &p) {
  constexpr int kColumns = MaxD / kLanes;
  extern __shared__ float shared[];
  const int64_t dk = p.dk, dv = p.dv;
  float *qTile = shared;                    // [rows][dk + 1]
  float *doTile = qTile + kRows * (dk + 1); // [rows][dv + 1]
  float *kTile = doTile + kRows * (dv + 1); // [keys][dk + 1]
  float *vTile = kTile + kKeys * (dk + 1);  // [keys][dv + 1]
  float *dsTile = vTile + kKeys * (dv + 1); // [rows][keys + 1]

  // Causal tiles late in the sequence cost most: start them first.
  int64_t x = blockIdx.x;
  int64_t tile = p.qTiles - 1 - x % p.qTiles;
  int64_t head = x / p.qTiles % p.h;
  int64_t batch = x / (p.qTiles * p.h);
  int64_t q0 = tile * kRows;
  int row = threadIdx.x / kLanes, lane = threadIdx.x % kLanes;
  int64_t position = q0 + row;
  bool inside = position < p.s;
  // Rows of [b, s, h] from row q0 of this head, in units of rows.
  int64_t firstRow = (batch * p.s + q0) * p.h + head;
  int64_t flat = firstRow + row * p.h;
  T *dq = static_cast<T *>(p.dQuery) + flat * dk;

  int64_t globalHead = p.headOffset + head;
  if (globalHead >= p.globalHeads || p.t <= 0) {
    // No gradient flows; delta is read only for real heads with keys.
    if (inside)
      for (int64_t c = lane; c < dk; c += kLanes)
        fromFloat(0.0f, dq + c);
    return;
  }
  int64_t kvHead = globalHead / p.headsPerGroup;
  loadTile(qTile, static_cast<const T *>(p.q) + firstRow * dk, 0, p.s - q0,
           p.h * dk, dk, kRows);
  loadTile(doTile, static_cast<const T *>(p.dout) + firstRow * dv, 0, p.s - q0,
           p.h * dv, dv, kRows);
  __syncthreads();

  // D for this row, then the row's lse in the log2 domain. A real row
  // whose lse is -inf saw no key and gets no gradient.
  const float *doRow = doTile + row * (dv + 1);
  float part = 0.0f;
  if (inside) {
    const T *outRow = static_cast<const T *>(p.out) + flat * dv;
    for (int64_t c = lane; c < dv; c += kLanes)
      part += toFloat(outRow[c]) * doRow[c];
  }
  float delta = laneSum(part);
  if (inside && lane == 0)
    p.delta[flat] = delta;
  float lse = inside ? p.lse[flat] * kLog2e : -INFINITY;
  bool live = lse != -INFINITY;

  float acc[kColumns];
#pragma unroll
  for (int i = 0; i < kColumns; ++i)
    acc[i] = 0.0f;
  const float qScale = p.scale * kLog2e;
  const T *k = static_cast<const T *>(p.k) + (batch * p.t * p.g + kvHead) * dk;
  const T *v = static_cast<const T *>(p.v) + (batch * p.t * p.g + kvHead) * dv;
  const float *qRow = qTile + row * (dk + 1);
  float *dsRow = dsTile + row * (kKeys + 1);
  // The last row of the tile sees keys up to its global position.
  int64_t keyEnd = p.causal ? min(p.t, p.queryOffset + q0 + kRows) : p.t;
  for (int64_t k0 = 0; k0 < keyEnd; k0 += kKeys) {
    __syncthreads(); // the previous step is done with the tiles
    loadTile(kTile, k, k0, p.t, p.g * dk, dk, kKeys);
    loadTile(vTile, v, k0, p.t, p.g * dv, dv, kKeys);
    __syncthreads();

    float score[kPerLane], dp[kPerLane];
#pragma unroll
    for (int j = 0; j < kPerLane; ++j)
      score[j] = dp[j] = 0.0f;
    for (int64_t c = 0; c < dk; ++c) {
      float qc = qRow[c];
#pragma unroll
      for (int j = 0; j < kPerLane; ++j)
        score[j] += qc * kTile[(lane + kLanes * j) * (dk + 1) + c];
    }
    for (int64_t c = 0; c < dv; ++c) {
      float dc = doRow[c];
#pragma unroll
      for (int j = 0; j < kPerLane; ++j)
        dp[j] += dc * vTile[(lane + kLanes * j) * (dv + 1) + c];
    }
#pragma unroll
    for (int j = 0; j < kPerLane; ++j) {
      int64_t key = k0 + lane + kLanes * j;
      bool seen =
          live && key < p.t && !(p.causal && key > p.queryOffset + position);
      float prob = seen ? exp2f(score[j] * qScale - lse) : 0.0f;
      dsRow[lane + kLanes * j] = prob * (dp[j] - delta);
    }
    __syncwarp(); // a row's lanes (one warp) read each other's dS

    for (int j = 0; j < kKeys; ++j) {
      float ds = dsRow[j];
      const float *kRow = kTile + j * (dk + 1);
#pragma unroll
      for (int i = 0; i < kColumns; ++i) {
        int64_t c = lane + kLanes * i;
        if (c < dk)
          acc[i] += ds * kRow[c];
      }
    }
  }
  if (!inside)
    return;
#pragma unroll
  for (int i = 0; i < kColumns; ++i) {
    int64_t c = lane + kLanes * i;
    if (c < dk)
      fromFloat(acc[i] * p.scale, dq + c);
  }
}

/// dk and dv for one block of keys of one key/value head.
template <typename T, int MaxD>
__device__ void gradKeys(const AttentionGradParams &p) {
  constexpr int kColumns = MaxD / kLanes;
  extern __shared__ float shared[];
  const int64_t dk = p.dk, dv = p.dv;
  float *kTile = shared;                         // [keys][dk + 1]
  float *vTile = kTile + kKeys * (dk + 1);       // [keys][dv + 1]
  float *qTile = vTile + kKeys * (dv + 1);       // [rows][dk + 1]
  float *doTile = qTile + kRows * (dk + 1);      // [rows][dv + 1]
  float *pTile = doTile + kRows * (dv + 1);      // [rows][keys + 1]
  float *dsTile = pTile + kRows * (kKeys + 1);   // [rows][keys + 1]
  float *lseTile = dsTile + kRows * (kKeys + 1); // [rows], log2 domain
  float *deltaTile = lseTile + kRows;            // [rows]

  // Causal: early keys are read by the most rows; start them first.
  int64_t x = blockIdx.x;
  int64_t tile = x % p.kTiles;
  int64_t kvHead = x / p.kTiles % p.g;
  int64_t batch = x / (p.kTiles * p.g);
  int64_t k0 = tile * kKeys;
  int key = threadIdx.x / kLanes, lane = threadIdx.x % kLanes;
  int64_t keyAt = k0 + key;

  int64_t kvRow = batch * p.t * p.g + kvHead; // row k0 is kvRow + k0 * g
  loadTile(kTile, static_cast<const T *>(p.k) + kvRow * dk, k0, p.t, p.g * dk,
           dk, kKeys);
  loadTile(vTile, static_cast<const T *>(p.v) + kvRow * dv, k0, p.t, p.g * dv,
           dv, kKeys);

  float accK[kColumns], accV[kColumns];
#pragma unroll
  for (int i = 0; i < kColumns; ++i)
    accK[i] = accV[i] = 0.0f;
  // The real local heads that read this key/value head.
  int64_t realHeads = min(max(p.globalHeads - p.headOffset, int64_t{0}), p.h);
  int64_t headBegin = max(kvHead * p.headsPerGroup - p.headOffset, int64_t{0});
  int64_t headEnd =
      min((kvHead + 1) * p.headsPerGroup - p.headOffset, realHeads);
  // Causal: row p (global position queryOffset + p) sees these keys only
  // from p = k0 - queryOffset on.
  int64_t rowBegin =
      p.causal ? max(k0 - p.queryOffset, int64_t{0}) / kRows * kRows : 0;
  const float qScale = p.scale * kLog2e;
  const float *kRow = kTile + key * (dk + 1), *vRow = vTile + key * (dv + 1);
  for (int64_t head = headBegin; head < headEnd; ++head) {
    for (int64_t q0 = rowBegin; q0 < p.s; q0 += kRows) {
      int64_t firstRow = (batch * p.s + q0) * p.h + head;
      __syncthreads(); // the previous step is done with the row tiles
      loadTile(qTile, static_cast<const T *>(p.q) + firstRow * dk, 0, p.s - q0,
               p.h * dk, dk, kRows);
      loadTile(doTile, static_cast<const T *>(p.dout) + firstRow * dv, 0,
               p.s - q0, p.h * dv, dv, kRows);
      for (int r = threadIdx.x; r < kRows; r += kAttentionGradThreads) {
        bool inside = q0 + r < p.s;
        int64_t flat = firstRow + r * p.h;
        lseTile[r] = inside ? p.lse[flat] * kLog2e : -INFINITY;
        deltaTile[r] = inside ? p.delta[flat] : 0.0f;
      }
      __syncthreads();

      // This thread's key against rows lane + 4 i.
      float score[kPerLane], dp[kPerLane];
#pragma unroll
      for (int i = 0; i < kPerLane; ++i)
        score[i] = dp[i] = 0.0f;
      for (int64_t c = 0; c < dk; ++c) {
        float kc = kRow[c];
#pragma unroll
        for (int i = 0; i < kPerLane; ++i)
          score[i] += kc * qTile[(lane + kLanes * i) * (dk + 1) + c];
      }
      for (int64_t c = 0; c < dv; ++c) {
        float vc = vRow[c];
#pragma unroll
        for (int i = 0; i < kPerLane; ++i)
          dp[i] += vc * doTile[(lane + kLanes * i) * (dv + 1) + c];
      }
#pragma unroll
      for (int i = 0; i < kPerLane; ++i) {
        int r = lane + kLanes * i;
        float lse = lseTile[r];
        bool seen = lse != -INFINITY && keyAt < p.t &&
                    !(p.causal && keyAt > p.queryOffset + q0 + r);
        float prob = seen ? exp2f(score[i] * qScale - lse) : 0.0f;
        pTile[r * (kKeys + 1) + key] = prob;
        dsTile[r * (kKeys + 1) + key] = prob * (dp[i] - deltaTile[r]);
      }
      __syncwarp(); // a key's lanes (one warp) read each other's P and dS

      for (int r = 0; r < kRows; ++r) {
        float prob = pTile[r * (kKeys + 1) + key];
        float ds = dsTile[r * (kKeys + 1) + key];
        const float *qRow = qTile + r * (dk + 1);
        const float *doRow = doTile + r * (dv + 1);
#pragma unroll
        for (int i = 0; i < kColumns; ++i) {
          int64_t c = lane + kLanes * i;
          if (c < dk)
            accK[i] += ds * qRow[c];
          if (c < dv)
            accV[i] += prob * doRow[c];
        }
      }
    }
  }
  if (keyAt >= p.t)
    return;
  T *dkRow = static_cast<T *>(p.dKey) + (kvRow + keyAt * p.g) * dk;
  T *dvRow = static_cast<T *>(p.dValue) + (kvRow + keyAt * p.g) * dv;
#pragma unroll
  for (int i = 0; i < kColumns; ++i) {
    int64_t c = lane + kLanes * i;
    if (c < dk)
      fromFloat(accK[i] * p.scale, dkRow + c);
    if (c < dv)
      fromFloat(accV[i], dvRow + c);
  }
}

//===----------------------------------------------------------------------===//
// Tensor cores: bf16, dk == dv == D in {64, 128}
//===----------------------------------------------------------------------===//
//
// The same two kernels with mma.sync.m16n8k16 (bf16 inputs, f32
// accumulation; mma.h) and the forward's conventions (attendMma in
// attention.cu): tiles in shared memory with rows padded by 8 elements,
// filled by cp.async a step ahead; operands read with ldmatrix, .trans
// where the contraction runs along the rows of a tile as it is stored (so
// no tile is transposed by hand); a warp's scores stay in accumulator
// registers, and P and dS, rounded to bf16, are the A operands of the next
// products without leaving them.
//
// - dq: a warp takes 16 query rows. Per step of keys, S = Q K^T and
//   dP = dO V^T (K and V as B, stored key-major: plain ldmatrix), then
//   dS = P (dP - D) in place, then dQ += dS K (K as B along the keys:
//   ldmatrix.trans). D is computed first from out and dout in global
//   memory.
// - dk/dv: a warp takes 16 keys and computes the transposed products:
//   S^T = K Q^T and dP^T = V dO^T (Q and dO as B, stored row-major: plain
//   ldmatrix), then P^T and dS^T in place (lse and D of a column from
//   shared memory), then dV += P^T dO and dK += dS^T Q (dO and Q as B
//   along the rows: ldmatrix.trans).
//
// Each output element is one thread's accumulator over a fixed sequence
// of mma instructions: bitwise reproducible, like the kernels above.

using palmrt::kAttentionGradMmaKeys;
using palmrt::kAttentionGradMmaRows;
using palmrt::kAttentionGradMmaThreads;
using palmrt::mma::accumulatorsAsA;
using palmrt::mma::commitCopies;
using palmrt::mma::copyAsync;
using palmrt::mma::loadTiles;
using palmrt::mma::mma;
using palmrt::mma::packBf16;
using palmrt::mma::waitCopies;

/// Starts copying `rows` rows of D bf16 elements, from `first` on (row i at
/// src[(first + i) * stride]), into tile[i][0..D) of row pitch D + 8; rows
/// at `limit` or past become zeros.
template <int D>
__device__ void copyRows(__nv_bfloat16 *tile, const __nv_bfloat16 *src,
                         int64_t first, int64_t limit, int64_t stride,
                         int rows) {
  constexpr int kChunks = D / 8; // 16-byte pieces of a row
  for (int i = threadIdx.x; i < rows * kChunks; i += kAttentionGradMmaThreads) {
    int r = i / kChunks, col = i % kChunks * 8;
    int64_t at = first + r;
    bool valid = at < limit;
    copyAsync(tile + r * (D + 8) + col, src + (valid ? at * stride + col : 0),
              valid);
  }
}

/// acc[m][n] += A B for a warp's 16 rows, where A (16 x D) comes from
/// `a` (row pitch D + 8, the warp's first row) and B^T ([Cols][D], row
/// pitch D + 8) from `b`: S = Q K^T and its kin.
template <int D, int Cols>
__device__ void multiplyByTransposed(float (&acc)[Cols / 8][4],
                                     const __nv_bfloat16 *a,
                                     const __nv_bfloat16 *b) {
  const int lane = threadIdx.x % 32, tileRow = lane % 8, tile2 = lane / 8;
#pragma unroll
  for (int kk = 0; kk < D; kk += 16) {
    // A: rows 0-7 and 8-15, columns kk and kk + 8.
    uint32_t fa[4];
    loadTiles<false>(fa, a + (tileRow + (tile2 & 1) * 8) * (D + 8) + kk +
                             (tile2 >> 1) * 8);
#pragma unroll
    for (int j = 0; j < Cols / 8; j += 2) {
      // B of column tiles j and j + 1: dims kk and kk + 8 of each.
      uint32_t fb[4];
      loadTiles<false>(fb, b + ((j + (tile2 >> 1)) * 8 + tileRow) * (D + 8) +
                               kk + (tile2 & 1) * 8);
      mma(acc[j], fa, fb[0], fb[1]);
      mma(acc[j + 1], fa, fb[2], fb[3]);
    }
  }
}

/// acc[n] += A B for a warp's 16 rows, where A (16 x Inner) is in
/// accumulator registers (`x`, Inner / 8 tiles of 8 columns) and B
/// (Inner x D) is a tile of row pitch D + 8: dQ += dS K and its kin.
template <int D, int Inner>
__device__ void multiplyFromRegisters(float (&acc)[D / 8][4],
                                      const float (&x)[Inner / 8][4],
                                      const __nv_bfloat16 *b) {
  const int lane = threadIdx.x % 32, tileRow = lane % 8, tile2 = lane / 8;
#pragma unroll
  for (int kk = 0; kk < Inner / 16; ++kk) {
    uint32_t fa[4];
    accumulatorsAsA(fa, x[2 * kk], x[2 * kk + 1]);
#pragma unroll
    for (int n = 0; n < D / 8; n += 2) {
      // B of column tiles n and n + 1: rows kk * 16 and kk * 16 + 8.
      uint32_t fb[4];
      loadTiles<true>(fb, b + (kk * 16 + (tile2 & 1) * 8 + tileRow) * (D + 8) +
                              (n + (tile2 >> 1)) * 8);
      mma(acc[n], fa, fb[0], fb[1]);
      mma(acc[n + 1], fa, fb[2], fb[3]);
    }
  }
}

/// dq and delta for kAttentionGradMmaRows query rows of one head.
template <int D> __device__ void gradQueriesMma(const AttentionGradParams &p) {
  constexpr int kStep = palmrt::attentionGradMmaStep(D); // keys per step
  constexpr int kBlockRows = kAttentionGradMmaRows;
  constexpr int kStride = D + 8;
  extern __shared__ __align__(16) unsigned char sharedMma[];
  auto *qs = reinterpret_cast<__nv_bfloat16 *>(sharedMma); // [rows][D + 8]
  __nv_bfloat16 *dos = qs + kBlockRows * kStride;          // [rows][D + 8]
  // Stage i: keys [kStep][D + 8], then values [kStep][D + 8].
  auto keyTile = [&](int stage) {
    return dos + (kBlockRows + 2 * kStep * stage) * kStride;
  };
  auto valueTile = [&](int stage) { return keyTile(stage) + kStep * kStride; };

  int64_t x = blockIdx.x;
  int64_t tile = p.qTiles - 1 - x % p.qTiles; // late causal tiles first
  int64_t head = x / p.qTiles % p.h;
  int64_t batch = x / (p.qTiles * p.h);
  int64_t q0 = tile * kBlockRows;
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  int g = lane / 4, c2 = 2 * (lane % 4);
  int warpRow = warp * 16;
  // The lane holds rows warpRow + g (fragment half 0) and + 8 (half 1).
  auto rowOf = [&](int half) { return q0 + warpRow + g + 8 * half; };
  // Rows of [b, s, h] from row q0 of this head, in units of rows.
  int64_t firstRow = (batch * p.s + q0) * p.h + head;
  auto *dq = static_cast<__nv_bfloat16 *>(p.dQuery);
  auto dqAt = [&](int64_t row, int col) {
    return reinterpret_cast<uint32_t *>(
        dq + ((batch * p.s + row) * p.h + head) * D + col);
  };

  int64_t globalHead = p.headOffset + head;
  if (globalHead >= p.globalHeads || p.t <= 0) {
    // No gradient flows; delta is read only for real heads with keys.
    for (int half = 0; half < 2; ++half)
      if (rowOf(half) < p.s)
        for (int col = c2; col < D; col += 8)
          *dqAt(rowOf(half), col) = 0;
    return;
  }
  int64_t kvHead = globalHead / p.headsPerGroup;
  const auto *q = static_cast<const __nv_bfloat16 *>(p.q);
  const auto *dout = static_cast<const __nv_bfloat16 *>(p.dout);
  const auto *k = static_cast<const __nv_bfloat16 *>(p.k) +
                  (batch * p.t * p.g + kvHead) * D;
  const auto *v = static_cast<const __nv_bfloat16 *>(p.v) +
                  (batch * p.t * p.g + kvHead) * D;

  auto loadKeys = [&](int64_t k0, int stage) {
    copyRows<D>(keyTile(stage), k, k0, p.t, p.g * D, kStep);
    copyRows<D>(valueTile(stage), v, k0, p.t, p.g * D, kStep);
    commitCopies();
  };

  // The last row of the block sees keys up to its global position.
  int64_t keyEnd = p.causal ? min(p.t, p.queryOffset + q0 + kBlockRows) : p.t;
  int64_t warpLastRow = p.queryOffset + q0 + warpRow + 15;
  int64_t steps = (keyEnd + kStep - 1) / kStep;
  // The query and output gradient tiles go with the first key tile's
  // copies (one group).
  if (steps > 0) {
    copyRows<D>(qs, q + firstRow * D, 0, p.s - q0, p.h * D, kBlockRows);
    copyRows<D>(dos, dout + firstRow * D, 0, p.s - q0, p.h * D, kBlockRows);
    loadKeys(0, 0);
  }

  // D = dout . out of the warp's rows while the tiles land: lanes 2 i and
  // 2 i + 1 take halves of row warpRow + i, then each lane fetches the
  // sums of its fragment rows.
  float part = 0.0f;
  {
    int64_t row = q0 + warpRow + lane / 2;
    if (row < p.s) {
      int64_t at = ((batch * p.s + row) * p.h + head) * D + (lane & 1) * D / 2;
      const auto *o = reinterpret_cast<const uint4 *>(
          static_cast<const __nv_bfloat16 *>(p.out) + at);
      const auto *d = reinterpret_cast<const uint4 *>(dout + at);
#pragma unroll
      for (int i = 0; i < D / 16; ++i) {
        uint4 ov = o[i], dv = d[i];
        const auto *o2 = reinterpret_cast<const __nv_bfloat162 *>(&ov);
        const auto *d2 = reinterpret_cast<const __nv_bfloat162 *>(&dv);
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          float2 of = __bfloat1622float2(o2[e]), df = __bfloat1622float2(d2[e]);
          part += of.x * df.x;
          part += of.y * df.y;
        }
      }
    }
    part += __shfl_xor_sync(0xffffffffu, part, 1);
    if (row < p.s && (lane & 1) == 0)
      p.delta[(batch * p.s + row) * p.h + head] = part;
  }
  float delta[2], lse[2];
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    delta[half] = __shfl_sync(0xffffffffu, part, 2 * (g + 8 * half));
    int64_t row = rowOf(half);
    // In the log2 domain; -inf (no key seen, or past the end) gives P = 0.
    lse[half] = row < p.s ? p.lse[(batch * p.s + row) * p.h + head] * kLog2e
                          : -INFINITY;
  }

  float acc[D / 8][4];
#pragma unroll
  for (int n = 0; n < D / 8; ++n)
    acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.0f;
  const float qScale = p.scale * kLog2e;
  for (int64_t it = 0; it < steps; ++it) {
    int64_t k0 = it * kStep;
    int stage = static_cast<int>(it & 1);
    if (it + 1 < steps) {
      loadKeys(k0 + kStep, stage ^ 1); // lands while this step is used
      waitCopies<1>();
    } else {
      waitCopies<0>();
    }
    __syncthreads(); // every thread's copies of this step have landed
    // Warps whose rows all precede the step's keys have nothing to do.
    if (!(p.causal && k0 > warpLastRow)) {
      float s[kStep / 8][4], dp[kStep / 8][4];
#pragma unroll
      for (int j = 0; j < kStep / 8; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          s[j][e] = dp[j][e] = 0.0f;
      multiplyByTransposed<D, kStep>(s, qs + warpRow * kStride, keyTile(stage));
      multiplyByTransposed<D, kStep>(dp, dos + warpRow * kStride,
                                     valueTile(stage));
      // dS = P (dP - D), in place of S.
#pragma unroll
      for (int j = 0; j < kStep / 8; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          int half = e >> 1;
          int64_t key = k0 + j * 8 + c2 + (e & 1);
          bool seen = lse[half] != -INFINITY && key < p.t &&
                      !(p.causal && key > p.queryOffset + rowOf(half));
          float prob = seen ? exp2f(s[j][e] * qScale - lse[half]) : 0.0f;
          s[j][e] = prob * (dp[j][e] - delta[half]);
        }
      multiplyFromRegisters<D, kStep>(acc, s, keyTile(stage));
    } // the warp's work on this step
    __syncthreads(); // every warp is done with this stage before reuse
  }

#pragma unroll
  for (int half = 0; half < 2; ++half) {
    int64_t row = rowOf(half);
    if (row >= p.s)
      continue;
#pragma unroll
    for (int n = 0; n < D / 8; ++n)
      *dqAt(row, n * 8 + c2) =
          packBf16(acc[n][2 * half] * p.scale, acc[n][2 * half + 1] * p.scale);
  }
}

/// dk and dv for kAttentionGradMmaKeys keys of one key/value head.
template <int D> __device__ void gradKeysMma(const AttentionGradParams &p) {
  constexpr int kStep = palmrt::attentionGradMmaStep(D); // rows per step
  constexpr int kBlockKeys = kAttentionGradMmaKeys;
  constexpr int kStride = D + 8;
  extern __shared__ __align__(16) unsigned char sharedMma[];
  auto *ks = reinterpret_cast<__nv_bfloat16 *>(sharedMma); // [keys][D + 8]
  __nv_bfloat16 *vs = ks + kBlockKeys * kStride;           // [keys][D + 8]
  // Stage i: query rows [kStep][D + 8], then output gradient rows.
  auto queryTile = [&](int stage) {
    return vs + (kBlockKeys + 2 * kStep * stage) * kStride;
  };
  auto doutTile = [&](int stage) { return queryTile(stage) + kStep * kStride; };
  // Then, per stage, the rows' lse (log2 domain) and delta.
  auto *lses = reinterpret_cast<float *>(queryTile(2));
  auto lseTile = [&](int stage) { return lses + 2 * kStep * stage; };
  auto deltaTile = [&](int stage) { return lseTile(stage) + kStep; };

  // Causal: early keys are read by the most rows; start them first.
  int64_t x = blockIdx.x;
  int64_t tile = x % p.kTiles;
  int64_t kvHead = x / p.kTiles % p.g;
  int64_t batch = x / (p.kTiles * p.g);
  int64_t k0 = tile * kBlockKeys;
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  int g = lane / 4, c2 = 2 * (lane % 4);
  int warpKey = warp * 16;
  // The lane holds keys warpKey + g (fragment half 0) and + 8 (half 1).
  auto keyOf = [&](int half) { return k0 + warpKey + g + 8 * half; };
  int64_t kvRow = batch * p.t * p.g + kvHead; // key j is row kvRow + j * g
  const auto *q = static_cast<const __nv_bfloat16 *>(p.q);
  const auto *dout = static_cast<const __nv_bfloat16 *>(p.dout);

  // The real local heads that read this key/value head.
  int64_t realHeads = min(max(p.globalHeads - p.headOffset, int64_t{0}), p.h);
  int64_t headBegin = max(kvHead * p.headsPerGroup - p.headOffset, int64_t{0});
  int64_t headEnd =
      min((kvHead + 1) * p.headsPerGroup - p.headOffset, realHeads);
  // Causal: row r (global position queryOffset + r) sees these keys only
  // from r = k0 - queryOffset on.
  int64_t rowBegin =
      p.causal ? max(k0 - p.queryOffset, int64_t{0}) / kStep * kStep : 0;
  int64_t rowSteps = max(p.s - rowBegin + kStep - 1, int64_t{0}) / kStep;
  int64_t steps = max(headEnd - headBegin, int64_t{0}) * rowSteps;
  // Starts loading step `it` (a head and a block of rows) into `stage`; lse
  // and delta are plain stores, seen after the next __syncthreads.
  auto loadRows = [&](int64_t it, int stage) {
    int64_t head = headBegin + it / rowSteps;
    int64_t r0 = rowBegin + it % rowSteps * kStep;
    int64_t firstRow = (batch * p.s + r0) * p.h + head;
    copyRows<D>(queryTile(stage), q + firstRow * D, 0, p.s - r0, p.h * D,
                kStep);
    copyRows<D>(doutTile(stage), dout + firstRow * D, 0, p.s - r0, p.h * D,
                kStep);
    commitCopies();
    for (int r = threadIdx.x; r < kStep; r += kAttentionGradMmaThreads) {
      bool inside = r0 + r < p.s;
      int64_t flat = firstRow + r * p.h;
      lseTile(stage)[r] = inside ? p.lse[flat] * kLog2e : -INFINITY;
      deltaTile(stage)[r] = inside ? p.delta[flat] : 0.0f;
    }
  };

  float accK[D / 8][4], accV[D / 8][4];
#pragma unroll
  for (int n = 0; n < D / 8; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e)
      accK[n][e] = accV[n][e] = 0.0f;
  const float qScale = p.scale * kLog2e;
  // The key and value tiles go with the first step's copies (one group).
  if (steps > 0) {
    copyRows<D>(ks, static_cast<const __nv_bfloat16 *>(p.k) + kvRow * D, k0,
                p.t, p.g * D, kBlockKeys);
    copyRows<D>(vs, static_cast<const __nv_bfloat16 *>(p.v) + kvRow * D, k0,
                p.t, p.g * D, kBlockKeys);
    loadRows(0, 0);
  }
  for (int64_t it = 0; it < steps; ++it) {
    int stage = static_cast<int>(it & 1);
    if (it + 1 < steps) {
      loadRows(it + 1, stage ^ 1); // lands while this step is used
      waitCopies<1>();
    } else {
      waitCopies<0>();
    }
    __syncthreads(); // every thread's copies of this step have landed
    int64_t r0 = rowBegin + it % rowSteps * kStep;
    // Warps whose keys all follow the step's last row have nothing to do.
    if (!(p.causal && k0 + warpKey > p.queryOffset + r0 + kStep - 1)) {
      const __nv_bfloat16 *qt = queryTile(stage), *dot = doutTile(stage);
      const float *lseAt = lseTile(stage), *deltaAt = deltaTile(stage);
      float s[kStep / 8][4], dp[kStep / 8][4]; // S^T and dP^T
#pragma unroll
      for (int j = 0; j < kStep / 8; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          s[j][e] = dp[j][e] = 0.0f;
      multiplyByTransposed<D, kStep>(s, ks + warpKey * kStride, qt);
      multiplyByTransposed<D, kStep>(dp, vs + warpKey * kStride, dot);
      // P^T in place of S^T, dS^T = P^T (dP^T - D) in place of dP^T.
#pragma unroll
      for (int j = 0; j < kStep / 8; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          int r = j * 8 + c2 + (e & 1);
          int64_t key = keyOf(e >> 1);
          float lse = lseAt[r];
          bool seen = lse != -INFINITY && key < p.t &&
                      !(p.causal && key > p.queryOffset + r0 + r);
          float prob = seen ? exp2f(s[j][e] * qScale - lse) : 0.0f;
          s[j][e] = prob;
          dp[j][e] = prob * (dp[j][e] - deltaAt[r]);
        }
      multiplyFromRegisters<D, kStep>(accV, s, dot);
      multiplyFromRegisters<D, kStep>(accK, dp, qt);
    } // the warp's work on this step
    __syncthreads(); // every warp is done with this stage before reuse
  }

  auto *dk = static_cast<__nv_bfloat16 *>(p.dKey);
  auto *dv = static_cast<__nv_bfloat16 *>(p.dValue);
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    int64_t key = keyOf(half);
    if (key >= p.t)
      continue;
    int64_t at = (kvRow + key * p.g) * D + c2;
#pragma unroll
    for (int n = 0; n < D / 8; ++n) {
      *reinterpret_cast<uint32_t *>(dk + at + n * 8) = packBf16(
          accK[n][2 * half] * p.scale, accK[n][2 * half + 1] * p.scale);
      *reinterpret_cast<uint32_t *>(dv + at + n * 8) =
          packBf16(accV[n][2 * half], accV[n][2 * half + 1]);
    }
  }
}

} // namespace

// One pair of kernels per element type and bound on max(dk, dv); the
// launcher picks the smallest bound that holds both.
#define PALMRT_ATTENTION_GRAD_KERNELS(TYPE, T, MAX_D)                          \
  extern "C" __global__ void __launch_bounds__(kAttentionGradThreads)          \
      palmrt_attention_grad_dq_##TYPE##_##MAX_D(AttentionGradParams p) {       \
    gradQueries<T, MAX_D>(p);                                                  \
  }                                                                            \
  extern "C" __global__ void __launch_bounds__(kAttentionGradThreads)          \
      palmrt_attention_grad_dkv_##TYPE##_##MAX_D(AttentionGradParams p) {      \
    gradKeys<T, MAX_D>(p);                                                     \
  }

PALMRT_ATTENTION_GRAD_KERNELS(f32, float, 64)
PALMRT_ATTENTION_GRAD_KERNELS(f32, float, 128)
PALMRT_ATTENTION_GRAD_KERNELS(f32, float, 256)
PALMRT_ATTENTION_GRAD_KERNELS(bf16, __nv_bfloat16, 64)
PALMRT_ATTENTION_GRAD_KERNELS(bf16, __nv_bfloat16, 128)
PALMRT_ATTENTION_GRAD_KERNELS(bf16, __nv_bfloat16, 256)

// The tensor-core kernels need sm_80 (mma.sync with bf16).
#define PALMRT_ATTENTION_GRAD_MMA_KERNELS(D)                                   \
  extern "C" __global__ void __launch_bounds__(kAttentionGradMmaThreads)       \
      palmrt_attention_grad_mma_dq_bf16_##D(AttentionGradParams p) {           \
    gradQueriesMma<D>(p);                                                      \
  }                                                                            \
  extern "C" __global__ void __launch_bounds__(kAttentionGradMmaThreads)       \
      palmrt_attention_grad_mma_dkv_bf16_##D(AttentionGradParams p) {          \
    gradKeysMma<D>(p);                                                         \
  }

PALMRT_ATTENTION_GRAD_MMA_KERNELS(64)
PALMRT_ATTENTION_GRAD_MMA_KERNELS(128)
