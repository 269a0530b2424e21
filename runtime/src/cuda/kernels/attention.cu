//===- attention.cu - fused attention for the cuda backend ----------------===//
//
// palmrt_attention on the GPU: one block per (32 query rows, head, batch)
// streams over the keys 32 at a time with an online softmax, so the scores
// of a block live in registers and one shared-memory tile, never in global
// memory. Four threads share a query row: each scores 8 of the 32 keys and
// accumulates a quarter of the output columns. Inputs are f32 or bf16;
// everything inside is f32. Scores are kept in the log2 domain (the query is
// scaled by scale * log2(e)) so the exponentials are exp2f.
//
// Key/value head of local head i: (headOffset + i) / headsPerGroup; heads
// at or past globalHeads are padding and produce zeros (palmrt.h).
//
//===----------------------------------------------------------------------===//

#include "kernel_params.h"

#include <cuda_bf16.h>

namespace {

using palmrt::AttentionParams;
using palmrt::kAttentionKeys;
using palmrt::kAttentionRows;
using palmrt::kAttentionThreads;

constexpr int kLanesPerRow = kAttentionThreads / kAttentionRows; // 4
constexpr int kKeysPerLane = kAttentionKeys / kLanesPerRow;      // 8
constexpr float kLog2e = 1.4426950408889634f;

__device__ inline float toFloat(float x) { return x; }
__device__ inline float toFloat(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ inline void fromFloat(float x, float *out) { *out = x; }
__device__ inline void fromFloat(float x, __nv_bfloat16 *out) {
  *out = __float2bfloat16_rn(x);
}

/// Reduces over the kLanesPerRow consecutive lanes of a query row.
__device__ inline float rowMax(float x) {
  x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
  return fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
}
__device__ inline float rowSum(float x) {
  x += __shfl_xor_sync(0xffffffffu, x, 1);
  return x + __shfl_xor_sync(0xffffffffu, x, 2);
}

/// MaxDv bounds dv: each thread keeps MaxDv / 4 accumulators in registers.
template <typename T, int MaxDv>
__device__ void attend(const AttentionParams &p) {
  constexpr int kColumns = MaxDv / kLanesPerRow;
  extern __shared__ float shared[];
  const int64_t dk = p.dk, dv = p.dv;
  const int64_t rowStride = dk + 1; // odd: rows fall on different banks
  float *qTile = shared;                              // [rows][dk + 1]
  float *kTile = qTile + kAttentionRows * rowStride;  // [keys][dk + 1]
  float *vTile = kTile + kAttentionKeys * rowStride;  // [keys][dv]
  float *probs = vTile + kAttentionKeys * dv;         // [rows][keys + 1]

  // Causal tiles late in the sequence cost most: start them first.
  int64_t x = blockIdx.x;
  int64_t tile = p.qTiles - 1 - x % p.qTiles;
  int64_t head = x / p.qTiles % p.h;
  int64_t batch = x / (p.qTiles * p.h);
  int64_t q0 = tile * kAttentionRows;
  int row = threadIdx.x / kLanesPerRow;
  int lane = threadIdx.x % kLanesPerRow;
  int64_t position = q0 + row;
  const T *q = static_cast<const T *>(p.q);
  const T *k = static_cast<const T *>(p.k);
  const T *v = static_cast<const T *>(p.v);
  T *out = static_cast<T *>(p.out);
  T *outRow = out + ((batch * p.s + position) * p.h + head) * dv;

  int64_t globalHead = p.headOffset + head;
  if (globalHead >= p.globalHeads || p.t <= 0) {
    if (position < p.s)
      for (int64_t c = lane; c < dv; c += kLanesPerRow)
        fromFloat(0.0f, outRow + c);
    return;
  }
  int64_t kvHead = globalHead / p.headsPerGroup;

  float qScale = p.scale * kLog2e;
  for (int64_t i = threadIdx.x; i < kAttentionRows * dk;
       i += kAttentionThreads) {
    int64_t r = i / dk, c = i % dk, at = q0 + r;
    qTile[r * rowStride + c] =
        at < p.s ? toFloat(q[((batch * p.s + at) * p.h + head) * dk + c]) *
                       qScale
                 : 0.0f;
  }

  float acc[kColumns];
#pragma unroll
  for (int i = 0; i < kColumns; ++i)
    acc[i] = 0.0f;
  float runMax = -INFINITY, runSum = 0.0f;
  // The last row of the tile sees keys up to q0 + rows - 1.
  int64_t keyEnd = p.causal ? min(p.t, q0 + kAttentionRows) : p.t;
  for (int64_t k0 = 0; k0 < keyEnd; k0 += kAttentionKeys) {
    __syncthreads(); // the previous step is done with the tiles
    for (int64_t i = threadIdx.x; i < kAttentionKeys * dk;
         i += kAttentionThreads) {
      int64_t j = i / dk, c = i % dk, at = k0 + j;
      kTile[j * rowStride + c] =
          at < p.t ? toFloat(k[((batch * p.t + at) * p.g + kvHead) * dk + c])
                   : 0.0f;
    }
    for (int64_t i = threadIdx.x; i < kAttentionKeys * dv;
         i += kAttentionThreads) {
      int64_t j = i / dv, c = i % dv, at = k0 + j;
      vTile[i] =
          at < p.t ? toFloat(v[((batch * p.t + at) * p.g + kvHead) * dv + c])
                   : 0.0f;
    }
    __syncthreads();

    float score[kKeysPerLane];
#pragma unroll
    for (int j = 0; j < kKeysPerLane; ++j)
      score[j] = 0.0f;
    const float *qRow = qTile + row * rowStride;
    for (int64_t c = 0; c < dk; ++c) {
      float qc = qRow[c];
#pragma unroll
      for (int j = 0; j < kKeysPerLane; ++j)
        score[j] += qc * kTile[(lane + kLanesPerRow * j) * rowStride + c];
    }
    float tileMax = -INFINITY;
#pragma unroll
    for (int j = 0; j < kKeysPerLane; ++j) {
      int64_t key = k0 + lane + kLanesPerRow * j;
      if (key >= p.t || (p.causal && key > position))
        score[j] = -INFINITY;
      tileMax = fmaxf(tileMax, score[j]);
    }
    float newMax = fmaxf(runMax, rowMax(tileMax));
    // A row with no visible key so far keeps zeros (newMax = -inf).
    float correction = runMax == -INFINITY ? 0.0f : exp2f(runMax - newMax);
    float sum = 0.0f;
#pragma unroll
    for (int j = 0; j < kKeysPerLane; ++j) {
      float e = score[j] == -INFINITY ? 0.0f : exp2f(score[j] - newMax);
      probs[row * (kAttentionKeys + 1) + lane + kLanesPerRow * j] = e;
      sum += e;
    }
    runSum = runSum * correction + rowSum(sum);
    runMax = newMax;
#pragma unroll
    for (int i = 0; i < kColumns; ++i)
      acc[i] *= correction;
    __syncwarp(); // a row's lanes (one warp) read each other's probabilities

    const float *pRow = probs + row * (kAttentionKeys + 1);
    for (int j = 0; j < kAttentionKeys; ++j) {
      float pj = pRow[j];
      const float *vRow = vTile + j * dv;
#pragma unroll
      for (int i = 0; i < kColumns; ++i) {
        int64_t c = lane + kLanesPerRow * i;
        if (c < dv)
          acc[i] += pj * vRow[c];
      }
    }
  }
  if (position >= p.s)
    return;
  float inv = runSum > 0.0f ? 1.0f / runSum : 0.0f;
#pragma unroll
  for (int i = 0; i < kColumns; ++i) {
    int64_t c = lane + kLanesPerRow * i;
    if (c < dv)
      fromFloat(acc[i] * inv, outRow + c);
  }
}

} // namespace

// One kernel per element type and bound on dv; the launcher picks the
// smallest bound that holds dv.
#define PALMRT_ATTENTION_KERNEL(NAME, T, MAX_DV)                               \
  extern "C" __global__ void __launch_bounds__(kAttentionThreads)             \
      NAME(AttentionParams p) {                                                \
    attend<T, MAX_DV>(p);                                                      \
  }

PALMRT_ATTENTION_KERNEL(palmrt_attention_f32_64, float, 64)
PALMRT_ATTENTION_KERNEL(palmrt_attention_f32_128, float, 128)
PALMRT_ATTENTION_KERNEL(palmrt_attention_f32_256, float, 256)
PALMRT_ATTENTION_KERNEL(palmrt_attention_bf16_64, __nv_bfloat16, 64)
PALMRT_ATTENTION_KERNEL(palmrt_attention_bf16_128, __nv_bfloat16, 128)
PALMRT_ATTENTION_KERNEL(palmrt_attention_bf16_256, __nv_bfloat16, 256)
