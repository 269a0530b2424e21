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
// Scores are in the log2 domain (scaled by scale * log2(e); lse too), so
// the exponentials are exp2f. Inputs are f32 or bf16; all math is f32 and
// each result is rounded once. Head and position mapping as in
// attention.cu: padding heads (global index >= globalHeads) get dq = 0 and
// add nothing to dk and dv.
//
//===----------------------------------------------------------------------===//

#include "kernel_params.h"

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
