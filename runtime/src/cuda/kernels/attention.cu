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
// at or past globalHeads are padding and produce zeros (palmrt.h). Query row
// r is at global position queryOffset + r for the causal mask. With an lse
// pointer, both kernels also write each row's log-sum-exp, converted back
// from the log2 domain: ln(sum) = (max + log2(sum)) ln 2 (-inf for padding
// heads and rows without keys).
//
//===----------------------------------------------------------------------===//

#include "kernel_params.h"
#include "mma.h"

#include <cuda_bf16.h>

namespace {

using palmrt::AttentionParams;
using palmrt::kAttentionKeys;
using palmrt::kAttentionRows;
using palmrt::kAttentionThreads;

constexpr int kLanesPerRow = kAttentionThreads / kAttentionRows; // 4
constexpr int kKeysPerLane = kAttentionKeys / kLanesPerRow;      // 8
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

/// The natural-log log-sum-exp of a row from its running max and sum of
/// exp2 (scores in the log2 domain).
__device__ inline float naturalLse(float runMax, float runSum) {
  return runSum > 0.0f ? (runMax + log2f(runSum)) * kLn2 : -INFINITY;
}

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

  float *lseRow =
      p.lse ? p.lse + (batch * p.s + position) * p.h + head : nullptr;
  int64_t globalHead = p.headOffset + head;
  if (globalHead >= p.globalHeads || p.t <= 0) {
    if (position < p.s) {
      for (int64_t c = lane; c < dv; c += kLanesPerRow)
        fromFloat(0.0f, outRow + c);
      if (lseRow && lane == 0)
        *lseRow = -INFINITY;
    }
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
  // The last row of the tile sees keys up to its global position.
  int64_t keyEnd =
      p.causal ? min(p.t, p.queryOffset + q0 + kAttentionRows) : p.t;
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
      if (key >= p.t || (p.causal && key > p.queryOffset + position))
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
  if (lseRow && lane == 0)
    *lseRow = naturalLse(runMax, runSum);
  float inv = runSum > 0.0f ? 1.0f / runSum : 0.0f;
#pragma unroll
  for (int i = 0; i < kColumns; ++i) {
    int64_t c = lane + kLanesPerRow * i;
    if (c < dv)
      fromFloat(acc[i] * inv, outRow + c);
  }
}

//===----------------------------------------------------------------------===//
// Tensor cores: bf16, dk == dv == D in {64, 128, 256}
//===----------------------------------------------------------------------===//
//
// Flash-attention style with mma.sync.m16n8k16 (bf16 inputs, f32
// accumulation): a block of 4 warps takes 128 query rows (64 at d = 256),
// each warp two (one) tiles of 16, and walks the keys 32 or 64 at a time
// through shared memory (kernel_params.h). A warp's scores S = Q K^T stay
// in mma accumulator registers; the online
// softmax works on them in place (the 4 lanes of a quad hold a row), and
// the probabilities, rounded to bf16, are fed back as the A operand of
// O += P V without leaving registers: the accumulator layout of two
// adjacent 8-column tiles is the A layout of one 16 x 16 tile. Operands come
// from shared memory with ldmatrix (four 8 x 8 tiles per instruction); V's
// B fragments, two consecutive keys of one column, with ldmatrix.trans from
// V stored as it is in memory. Rows are padded by 8 elements (16 bytes), so
// the 8 rows an ldmatrix reads fall on different banks. The helpers and the
// fragment layouts: mma.h.

using palmrt::kAttentionMmaThreads;

using palmrt::mma::commitCopies;
using palmrt::mma::copyAsync;
using palmrt::mma::loadTiles;
using palmrt::mma::mma;
using palmrt::mma::packBf16;
using palmrt::mma::waitCopies;

template <int D> __device__ void attendMma(const AttentionParams &p) {
  constexpr int kTiles = palmrt::attentionMmaWarpTiles(D); // per warp
  constexpr int kRows = palmrt::attentionMmaRows(D);
  constexpr int kKeys = palmrt::attentionMmaKeys(D);
  constexpr int kStages = palmrt::attentionMmaStages(D);
  constexpr int kThreads = kAttentionMmaThreads;
  constexpr int kStride = D + 8; // tile rows, in elements
  constexpr int kChunks = D / 8; // 16-byte pieces of a row
  extern __shared__ __align__(16) unsigned char sharedMma[];
  auto *qs = reinterpret_cast<__nv_bfloat16 *>(sharedMma); // [rows][D + 8]
  // Stage i: keys [kKeys][D + 8], then values [kKeys][D + 8].
  auto keyTile = [&](int stage) {
    return qs + (kRows + 2 * kKeys * stage) * kStride;
  };
  auto valueTile = [&](int stage) { return keyTile(stage) + kKeys * kStride; };

  int64_t x = blockIdx.x;
  int64_t tile = p.qTiles - 1 - x % p.qTiles; // late causal tiles first
  int64_t head = x / p.qTiles % p.h;
  int64_t batch = x / (p.qTiles * p.h);
  int64_t q0 = tile * kRows;
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  int g = lane / 4, c2 = 2 * (lane % 4);
  // This warp's rows: kTiles tiles of 16 from warpRow; in tile m the lane
  // holds rows warpRow + 16 m + g (fragment halves 0, 1) and + 8 (2, 3).
  int warpRow = warp * 16 * kTiles;
  auto rowOf = [&](int m, int half) {
    return q0 + warpRow + 16 * m + g + 8 * half;
  };
  const auto *q = static_cast<const __nv_bfloat16 *>(p.q);
  const auto *k = static_cast<const __nv_bfloat16 *>(p.k);
  const auto *v = static_cast<const __nv_bfloat16 *>(p.v);
  auto *out = static_cast<__nv_bfloat16 *>(p.out);
  auto outAt = [&](int64_t row, int col) {
    return reinterpret_cast<uint32_t *>(
        out + ((batch * p.s + row) * p.h + head) * D + col);
  };
  // A row's lse is written by the first lane of its quad.
  auto setLse = [&](int64_t row, float value) {
    if (p.lse && c2 == 0)
      p.lse[(batch * p.s + row) * p.h + head] = value;
  };

  int64_t globalHead = p.headOffset + head;
  if (globalHead >= p.globalHeads || p.t <= 0) {
    for (int m = 0; m < kTiles; ++m)
      for (int half = 0; half < 2; ++half)
        if (rowOf(m, half) < p.s) {
          for (int col = c2; col < D; col += 8)
            *outAt(rowOf(m, half), col) = 0;
          setLse(rowOf(m, half), -INFINITY);
        }
    return;
  }
  int64_t kvHead = globalHead / p.headsPerGroup;

  // The query tile goes with the first key tile's copies (one group).
  for (int i = threadIdx.x; i < kRows * kChunks; i += kThreads) {
    int r = i / kChunks, col = i % kChunks * 8;
    int64_t at = q0 + r;
    bool valid = at < p.s;
    copyAsync(qs + r * kStride + col,
              q + (valid ? ((batch * p.s + at) * p.h + head) * D + col : 0),
              valid);
  }
  // Starts loading keys and values [k0, k0 + kKeys) into `stage`.
  auto loadKeys = [&](int64_t k0, int stage) {
    __nv_bfloat16 *kd = keyTile(stage), *vd = valueTile(stage);
    for (int i = threadIdx.x; i < kKeys * kChunks; i += kThreads) {
      int j = i / kChunks, col = i % kChunks * 8;
      int64_t at = k0 + j;
      bool valid = at < p.t;
      int64_t from = valid ? ((batch * p.t + at) * p.g + kvHead) * D + col : 0;
      copyAsync(kd + j * kStride + col, k + from, valid);
      copyAsync(vd + j * kStride + col, v + from, valid);
    }
    commitCopies();
  };

  const float qScale = p.scale * kLog2e;
  float o[kTiles][D / 8][4];
  float rowMaxes[kTiles][2], rowSums[kTiles][2];
#pragma unroll
  for (int m = 0; m < kTiles; ++m) {
#pragma unroll
    for (int n = 0; n < D / 8; ++n)
      o[m][n][0] = o[m][n][1] = o[m][n][2] = o[m][n][3] = 0.0f;
    rowMaxes[m][0] = rowMaxes[m][1] = -INFINITY;
    rowSums[m][0] = rowSums[m][1] = 0.0f;
  }
  int64_t keyEnd = p.causal ? min(p.t, p.queryOffset + q0 + kRows) : p.t;
  // The global position of the warp's last row, for causal skipping.
  int64_t warpLastRow = p.queryOffset + q0 + warpRow + 16 * kTiles - 1;
  // Lane i addresses row i % 8 of tile i / 8 of each ldmatrix.x4.
  const int tileRow = lane % 8, tile2 = lane / 8;
  int64_t keyTiles = (keyEnd + kKeys - 1) / kKeys;
  if (keyTiles > 0)
    loadKeys(0, 0);
  for (int64_t it = 0; it < keyTiles; ++it) {
    int64_t k0 = it * kKeys;
    int stage = kStages == 2 ? static_cast<int>(it & 1) : 0;
    if (kStages == 2 && it + 1 < keyTiles) {
      loadKeys(k0 + kKeys, stage ^ 1); // lands while this tile is used
      waitCopies<1>();
    } else {
      waitCopies<0>();
    }
    __syncthreads(); // every thread's copies of this tile have landed
    const __nv_bfloat16 *ks = keyTile(stage), *vs = valueTile(stage);
    // Warps whose rows all precede the tile have nothing to do in it.
    if (!(p.causal && k0 > warpLastRow)) {

      // S = Q K^T: each key fragment serves the warp's kTiles row tiles.
      float s[kTiles][kKeys / 8][4];
#pragma unroll
      for (int m = 0; m < kTiles; ++m)
#pragma unroll
        for (int j = 0; j < kKeys / 8; ++j)
          s[m][j][0] = s[m][j][1] = s[m][j][2] = s[m][j][3] = 0.0f;
#pragma unroll
      for (int kk = 0; kk < D; kk += 16) {
        // A of row tile m: rows 0-7 and 8-15, columns kk and kk + 8.
        uint32_t a[kTiles][4];
#pragma unroll
        for (int m = 0; m < kTiles; ++m)
          loadTiles<false>(a[m], qs + (warpRow + 16 * m + tileRow +
                                       (tile2 & 1) * 8) *
                                          kStride +
                                     kk + (tile2 >> 1) * 8);
#pragma unroll
        for (int j = 0; j < kKeys / 8; j += 2) {
          // B of key tiles j and j + 1: dims kk and kk + 8 of each.
          uint32_t b[4];
          loadTiles<false>(b, ks + ((j + (tile2 >> 1)) * 8 + tileRow) *
                                       kStride +
                                  kk + (tile2 & 1) * 8);
#pragma unroll
          for (int m = 0; m < kTiles; ++m) {
            mma(s[m][j], a[m], b[0], b[1]);
            mma(s[m][j + 1], a[m], b[2], b[3]);
          }
        }
      }

      // The online softmax, row by row (the 4 lanes of a quad share a row).
#pragma unroll
      for (int m = 0; m < kTiles; ++m) {
        float tileMax[2] = {-INFINITY, -INFINITY};
#pragma unroll
        for (int j = 0; j < kKeys / 8; ++j)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            int64_t key = k0 + j * 8 + c2 + (e & 1);
            float value = s[m][j][e] * qScale;
            if (key >= p.t ||
                (p.causal && key > p.queryOffset + rowOf(m, e >> 1)))
              value = -INFINITY;
            s[m][j][e] = value;
            tileMax[e >> 1] = fmaxf(tileMax[e >> 1], value);
          }
        float newMax[2], rescale[2], part[2] = {0.0f, 0.0f};
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          newMax[h] = fmaxf(rowMaxes[m][h], rowMax(tileMax[h]));
          // A row with no visible key so far keeps zeros (newMax = -inf).
          rescale[h] = rowMaxes[m][h] == -INFINITY
                           ? 0.0f
                           : exp2f(rowMaxes[m][h] - newMax[h]);
        }
#pragma unroll
        for (int j = 0; j < kKeys / 8; ++j)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            float pv = s[m][j][e] == -INFINITY
                           ? 0.0f
                           : exp2f(s[m][j][e] - newMax[e >> 1]);
            s[m][j][e] = pv;
            part[e >> 1] += pv;
          }
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          rowSums[m][h] = rowSums[m][h] * rescale[h] + rowSum(part[h]);
          rowMaxes[m][h] = newMax[h];
        }
#pragma unroll
        for (int n = 0; n < D / 8; ++n) {
          o[m][n][0] *= rescale[0];
          o[m][n][1] *= rescale[0];
          o[m][n][2] *= rescale[1];
          o[m][n][3] *= rescale[1];
        }
      }

      // O += P V: each value fragment serves the warp's kTiles row tiles.
#pragma unroll
      for (int kk = 0; kk < kKeys / 16; ++kk) {
        uint32_t a[kTiles][4];
#pragma unroll
        for (int m = 0; m < kTiles; ++m) {
          a[m][0] = packBf16(s[m][2 * kk][0], s[m][2 * kk][1]);
          a[m][1] = packBf16(s[m][2 * kk][2], s[m][2 * kk][3]);
          a[m][2] = packBf16(s[m][2 * kk + 1][0], s[m][2 * kk + 1][1]);
          a[m][3] = packBf16(s[m][2 * kk + 1][2], s[m][2 * kk + 1][3]);
        }
#pragma unroll
        for (int n = 0; n < D / 8; n += 2) {
          // B of column tiles n and n + 1: keys kk * 16 and kk * 16 + 8.
          uint32_t b[4];
          loadTiles<true>(b, vs + (kk * 16 + (tile2 & 1) * 8 + tileRow) *
                                      kStride +
                                 (n + (tile2 >> 1)) * 8);
#pragma unroll
          for (int m = 0; m < kTiles; ++m) {
            mma(o[m][n], a[m], b[0], b[1]);
            mma(o[m][n + 1], a[m], b[2], b[3]);
          }
        }
      }
    } // the warp's work on this tile
    __syncthreads(); // every warp is done with this stage before reuse
    if (kStages == 1 && it + 1 < keyTiles)
      loadKeys(k0 + kKeys, 0);
  }

#pragma unroll
  for (int m = 0; m < kTiles; ++m)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      int64_t row = rowOf(m, h);
      if (row >= p.s)
        continue;
      setLse(row, naturalLse(rowMaxes[m][h], rowSums[m][h]));
      float inv = rowSums[m][h] > 0.0f ? 1.0f / rowSums[m][h] : 0.0f;
#pragma unroll
      for (int n = 0; n < D / 8; ++n)
        *outAt(row, n * 8 + c2) =
            packBf16(o[m][n][2 * h] * inv, o[m][n][2 * h + 1] * inv);
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

// The tensor-core kernels need sm_80 (mma.sync with bf16).
#define PALMRT_ATTENTION_MMA_KERNEL(D)                                         \
  extern "C" __global__ void __launch_bounds__(kAttentionMmaThreads)          \
      palmrt_attention_mma_bf16_##D(AttentionParams p) {                       \
    attendMma<D>(p);                                                           \
  }

PALMRT_ATTENTION_MMA_KERNEL(64)
PALMRT_ATTENTION_MMA_KERNEL(128)
PALMRT_ATTENTION_MMA_KERNEL(256)
