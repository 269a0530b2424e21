//===- kernels.cc - the f32 Transformer kernels ---------------------------===//
//
// Row loops are written so the compiler vectorizes them: reductions carry
// `omp simd` (compiled with -fopenmp-simd, no OpenMP runtime), and exp is a
// branch-free polynomial that vectorizes where libm's would not. On x86-64
// each kernel is also compiled for AVX2 and AVX-512 (x86-64-v3, -v4) and the
// loader picks the version the CPU runs, so one binary is portable and fast.
// Attention streams over key blocks (flash-style online softmax) with the two
// matrix products of each block done by OpenBLAS, so no [s, t] matrix is
// formed. Rows, tokens and (batch element, head) blocks are independent, so
// the kernels split them over the pool's threads (parallel.h); every sum
// stays within one of them, so the results do not depend on the threads.
//
//===----------------------------------------------------------------------===//

#include "base/trace.h"
#include "host/attention_heads.h"
#include "host/blas_library.h"
#include "host/kernel_util.h"
#include "host/parallel.h"
#include "job/process.h"

#include "palmrt/palmrt.h"

#include "absl/strings/str_cat.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

namespace palmrt {
namespace {

/// x[i] = exp(x[i] - m) for i < valid, 0 for valid <= i < n; returns the sum.
PALMRT_INLINE float expInPlace(float *x, int64_t valid, int64_t n, float m) {
  float s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < valid; ++i) {
    float e = expNonPositive(x[i] - m);
    x[i] = e;
    s += e;
  }
  for (int64_t i = std::max<int64_t>(valid, 0); i < n; ++i)
    x[i] = 0;
  return s;
}

constexpr int64_t kAttentionRows = 256, kAttentionKeys = 256;

struct AttentionScratch {
  std::vector<float> scores =
      std::vector<float>(kAttentionRows * kAttentionKeys);
  std::vector<float> runMax = std::vector<float>(kAttentionRows);
  std::vector<float> runSum = std::vector<float>(kAttentionRows);
};

/// Attention of `rows` query rows against keys [0, t): row r (at q + r * ldq,
/// writing out + r * ldo) is at position q0 + r / rowsPerPosition. Keys and
/// values are rows of k and v. Streams over key blocks keeping each row's
/// running maximum and sum (the online softmax), rescaling the partial
/// output when the maximum grows. When lse is not null, row r's log-sum-exp
/// (running maximum plus the log of the running sum, free at the end) goes
/// to lse[r * ldl].
PALMRT_INLINE void attendRows(const float *q, int64_t ldq, const float *k,
                              int64_t ldk, const float *v, int64_t ldv,
                              float *out, int64_t ldo, float *lse, int64_t ldl,
                              int64_t rows, int64_t rowsPerPosition, int64_t q0,
                              int64_t t, int64_t dk, int64_t dv, int32_t causal,
                              float scale, AttentionScratch &scratch) {
  const BlasLibrary &lib = blas();
  float *scores = scratch.scores.data();
  float *runMax = scratch.runMax.data();
  float *runSum = scratch.runSum.data();
  for (int64_t r = 0; r < rows; ++r)
    std::fill_n(out + r * ldo, dv, 0.0f);
  std::fill_n(runMax, rows, kNegInf);
  std::fill_n(runSum, rows, 0.0f);
  int64_t lastPosition = q0 + (rows - 1) / rowsPerPosition;
  int64_t keyEnd = causal ? std::min(t, lastPosition + 1) : t;
  for (int64_t k0 = 0; k0 < keyEnd; k0 += kAttentionKeys) {
    int64_t nk = std::min(kAttentionKeys, keyEnd - k0);
    lib.sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, nk, dk, scale, q,
              ldq, k + k0 * ldk, ldk, 0.0f, scores, kAttentionKeys);
    for (int64_t r = 0; r < rows; ++r) {
      float *row = scores + r * kAttentionKeys;
      int64_t position = q0 + r / rowsPerPosition;
      int64_t valid = causal ? std::min(nk, position - k0 + 1) : nk;
      if (valid <= 0) {
        std::fill_n(row, nk, 0.0f);
        continue;
      }
      float newMax = std::max(runMax[r], rowMax(row, valid));
      float correction = expNonPositive(runMax[r] - newMax);
      runSum[r] = runSum[r] * correction + expInPlace(row, valid, nk, newMax);
      runMax[r] = newMax;
      if (correction != 1.0f) {
        float *orow = out + r * ldo;
#pragma omp simd
        for (int64_t c = 0; c < dv; ++c)
          orow[c] *= correction;
      }
    }
    lib.sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, dv, nk, 1.0f,
              scores, kAttentionKeys, v + k0 * ldv, ldv, 1.0f, out, ldo);
  }
  for (int64_t r = 0; r < rows; ++r) {
    float *orow = out + r * ldo;
    float inv = runSum[r] > 0 ? 1.0f / runSum[r] : 0.0f;
#pragma omp simd
    for (int64_t c = 0; c < dv; ++c)
      orow[c] *= inv;
  }
  if (lse)
    for (int64_t r = 0; r < rows; ++r)
      lse[r * ldl] = runSum[r] > 0 ? runMax[r] + std::log(runSum[r]) : kNegInf;
}

/// yr = (xr - mean) * rstd * scale over n elements.
PALMRT_INLINE void normalizeRow(const float *xr, const float *scale, float *yr,
                                int64_t n, float mean, float rstd) {
#pragma omp simd
  for (int64_t c = 0; c < n; ++c)
    yr[c] = (xr[c] - mean) * rstd * scale[c];
}

} // namespace

std::vector<int64_t> validTokens(int32_t rank, const int64_t *shape,
                                 const int64_t *validExtent) {
  std::vector<int64_t> out;
  std::vector<int64_t> limit(rank);
  for (int32_t d = 0; d < rank; ++d) {
    limit[d] = std::clamp<int64_t>(validExtent[d], 0, shape[d]);
    if (limit[d] == 0)
      return out;
  }
  if (rank == 0)
    return {0};
  std::vector<int64_t> idx(rank, 0);
  while (true) {
    int64_t flat = 0;
    for (int32_t d = 0; d < rank; ++d)
      flat = flat * shape[d] + idx[d];
    for (int64_t i = 0; i < limit[rank - 1]; ++i)
      out.push_back(flat + i);
    int32_t d = rank - 2;
    for (; d >= 0; --d) {
      if (++idx[d] < limit[d])
        break;
      idx[d] = 0;
    }
    if (d < 0)
      return out;
  }
}

#if defined(__x86_64__) && defined(PALMRT_MULTIVERSION)
int kernel_for_detail::cpuLevel() {
  static const int level = __builtin_cpu_supports("x86-64-v4")   ? 4
                           : __builtin_cpu_supports("x86-64-v3") ? 3
                                                                 : 1;
  return level;
}
#endif

int64_t product(int32_t rank, const int64_t *shape) {
  int64_t n = 1;
  for (int32_t d = 0; d < rank; ++d)
    n *= shape[d];
  return n;
}

int64_t attentionRealHeads(const char *who, int64_t h, int64_t g,
                           int64_t head_offset, int64_t heads_per_group,
                           int64_t global_heads) {
  if (heads_per_group <= 0)
    fatal(absl::StrCat(who, ": heads_per_group ", heads_per_group,
                       " must be positive"));
  int64_t realHeads = std::clamp<int64_t>(global_heads - head_offset, 0, h);
  if (realHeads > 0 && (head_offset + realHeads - 1) / heads_per_group >= g)
    fatal(absl::StrCat(who, ": global head ", head_offset + realHeads - 1,
                       " needs key/value head ",
                       (head_offset + realHeads - 1) / heads_per_group,
                       " but only ", g, " are given"));
  return realHeads;
}

} // namespace palmrt

using namespace palmrt;

namespace {

/// cos and sin of RoPE's angles at s positions from an offset, [s, half].
struct RopeTables {
  std::vector<float> cos, sin;
};

/// The tables of one call, computed once and kept: a training step rotates
/// the same positions many times (queries and keys, every layer, forward
/// and backward), and the angles take longer than the rotation.
std::shared_ptr<const RopeTables> ropeTables(int64_t s, int64_t half,
                                             float base, int64_t offset,
                                             bool inverse) {
  using Key = std::tuple<int64_t, int64_t, float, int64_t, bool>;
  static std::mutex mutex;
  static std::map<Key, std::shared_ptr<const RopeTables>> cache;
  Key key{s, half, base, offset, inverse};
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = cache.find(key);
    if (it != cache.end())
      return it->second;
  }
  // Angles in double: p * base^(-2i/d) loses digits in f32 at large p. The
  // inverse rotates by -angle: cos is even, so only sin changes sign.
  auto tables = std::make_shared<RopeTables>();
  tables->cos.resize(s * half);
  tables->sin.resize(s * half);
  double sign = inverse ? -1.0 : 1.0;
  for (int64_t i = 0; i < half; ++i) {
    double freq = std::pow(static_cast<double>(base),
                           -2.0 * static_cast<double>(i) / (2 * half));
    for (int64_t p = 0; p < s; ++p) {
      double angle = static_cast<double>(offset + p) * freq;
      tables->cos[p * half + i] = static_cast<float>(std::cos(angle));
      tables->sin[p * half + i] = static_cast<float>(sign * std::sin(angle));
    }
  }
  std::lock_guard<std::mutex> lock(mutex);
  // A program uses a few shapes; a caller sweeping offsets (a shard of the
  // positions per call, say) must not grow the cache without bound.
  if (cache.size() >= 64)
    cache.clear();
  cache.emplace(key, tables);
  return tables;
}

} // namespace

extern "C" {

PALMRT_KERNEL void palmrt_layer_norm_f32(const float *x, const float *scale,
                                         float *y, int64_t rows, int64_t cols,
                                         float eps) {
  TraceScope trace("layer_norm", "kernel");
  if (trace.active())
    trace.setArgs(absl::StrCat("\"rows\":", rows, ",\"cols\":", cols));
  if (cols <= 0)
    return;
  float inv = 1.0f / static_cast<float>(cols);
  kernelFor(rows, 32, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      auto [mean, sq] = rowMoments(x + r * cols, cols);
      normalizeRow(x + r * cols, scale, y + r * cols, cols, mean,
                   1.0f / std::sqrt(sq * inv + eps));
    }
  });
}

PALMRT_KERNEL void palmrt_row_moments_f32(const float *x, float *moments,
                                          int64_t rows, int64_t cols,
                                          int64_t valid) {
  TraceScope trace("row_moments", "kernel");
  if (trace.active())
    trace.setArgs(absl::StrCat("\"rows\":", rows, ",\"cols\":", cols));
  valid = std::clamp<int64_t>(valid, 0, cols);
  for (int64_t r = 0; r < rows; ++r) {
    auto [mean, sq] = rowMoments(x + r * cols, valid);
    moments[r] = static_cast<float>(valid);
    moments[rows + r] = mean;
    moments[2 * rows + r] = sq;
  }
}

PALMRT_KERNEL void palmrt_layer_norm_merged_f32(const float *x,
                                                const float *scale,
                                                const float *moments, float *y,
                                                int64_t rows, int64_t cols,
                                                int64_t shards, float eps) {
  TraceScope trace("layer_norm_merged", "kernel");
  if (trace.active())
    trace.setArgs(absl::StrCat("\"rows\":", rows, ",\"cols\":", cols,
                               ",\"shards\":", shards));
  for (int64_t r = 0; r < rows; ++r) {
    float n = 0, mean = 0, m2 = 0;
    for (int64_t s = 0; s < shards; ++s) {
      const float *m = moments + 3 * s * rows + r;
      float nb = m[0];
      if (nb <= 0)
        continue;
      float total = n + nb;
      float delta = m[rows] - mean;
      mean += delta * (nb / total);
      m2 += m[2 * rows] + delta * delta * (n * nb / total);
      n = total;
    }
    float rstd = 1.0f / std::sqrt((n > 0 ? m2 / n : 0.0f) + eps);
    normalizeRow(x + r * cols, scale, y + r * cols, cols, mean, rstd);
  }
}

PALMRT_KERNEL void palmrt_rope_f32(const float *x, float *y, int64_t b,
                                   int64_t s, int64_t h, int64_t d, float base,
                                   int64_t position_offset, int32_t inverse) {
  TraceScope trace("rope", "kernel");
  if (trace.active())
    trace.setArgs(
        absl::StrCat("\"b\":", b, ",\"s\":", s, ",\"h\":", h, ",\"d\":", d));
  if (d % 2 != 0)
    fatal(absl::StrCat("palmrt_rope_f32: head size ", d, " is odd"));
  int64_t half = d / 2;
  std::shared_ptr<const RopeTables> tables =
      ropeTables(s, half, base, position_offset, inverse != 0);
  const std::vector<float> &cosTable = tables->cos, &sinTable = tables->sin;
  kernelFor(b * s, 16, [&](int64_t begin, int64_t end) {
    for (int64_t bp = begin; bp < end; ++bp) {
      int64_t bi = bp / s, p = bp % s;
      const float *cs = &cosTable[p * half];
      const float *sn = &sinTable[p * half];
      for (int64_t hi = 0; hi < h; ++hi) {
        int64_t row = ((bi * s + p) * h + hi) * d;
        const float *xr = x + row;
        float *yr = y + row;
        // x and y may alias: read both halves before writing.
#pragma omp simd
        for (int64_t i = 0; i < half; ++i) {
          float lo = xr[i], hi2 = xr[i + half];
          yr[i] = lo * cs[i] - hi2 * sn[i];
          yr[i + half] = hi2 * cs[i] + lo * sn[i];
        }
      }
    }
  });
}

PALMRT_KERNEL void
palmrt_attention_f32(const float *q, const float *k, const float *v, float *out,
                     int64_t b, int64_t s, int64_t t, int64_t h, int64_t g,
                     int64_t dk, int64_t dv, int32_t causal, float scale,
                     int64_t head_offset, int64_t heads_per_group,
                     int64_t global_heads, int64_t query_offset, float *lse) {
  TraceScope trace("attention", "kernel");
  if (trace.active())
    trace.setArgs(absl::StrCat("\"b\":", b, ",\"s\":", s, ",\"t\":", t,
                               ",\"h\":", h, ",\"g\":", g, ",\"dk\":", dk,
                               ",\"dv\":", dv));
  int64_t realHeads = attentionRealHeads(
      "palmrt_attention_f32", h, g, head_offset, heads_per_group, global_heads);
  if (b <= 0 || s <= 0 || h <= 0 || dv <= 0)
    return;
  int64_t ldq = h * dk, ldk = g * dk, ldv = g * dv, ldo = h * dv;
  bool oneKvHead = realHeads > 0 && h <= kAttentionRows &&
                   head_offset / heads_per_group ==
                       (head_offset + realHeads - 1) / heads_per_group;
  if (oneKvHead && t > 0) {
    // Every real head reads the same key/value head (multi-query attention):
    // the rows of all heads at a block of positions are contiguous in q and
    // out, so one product per key block serves them all.
    int64_t kvHead = head_offset / heads_per_group;
    int64_t positions = std::max<int64_t>(1, kAttentionRows / h);
    // Blocks of positions are independent: split them (the blocks of all
    // batch elements) over the threads.
    int64_t blocks = (s + positions - 1) / positions;
    kernelForWithBlas(b * blocks, 1, [&](int64_t begin, int64_t end) {
      AttentionScratch scratch;
      for (int64_t item = begin; item < end; ++item) {
        int64_t bi = item / blocks, q0 = (item % blocks) * positions;
        attendRows(q + (bi * s + q0) * ldq, dk, k + bi * t * ldk + kvHead * dk,
                   ldk, v + bi * t * ldv + kvHead * dv, ldv,
                   out + (bi * s + q0) * ldo, dv,
                   lse ? lse + (bi * s + q0) * h : nullptr, 1,
                   std::min(positions, s - q0) * h, h, query_offset + q0, t, dk,
                   dv, causal, scale, scratch);
      }
    });
    for (int64_t bi = 0; bi < b; ++bi) {
      // Padding heads' rows were computed along (they share the products)
      // but their results are defined as zero and -inf.
      for (int64_t p = 0; p < s; ++p) {
        std::fill_n(out + (bi * s + p) * ldo + realHeads * dv,
                    (h - realHeads) * dv, 0.0f);
        if (lse)
          std::fill_n(lse + (bi * s + p) * h + realHeads, h - realHeads,
                      kNegInf);
      }
    }
    return;
  }
  kernelForWithBlas(b * h, 1, [&](int64_t begin, int64_t end) {
    AttentionScratch scratch;
    for (int64_t item = begin; item < end; ++item) {
      int64_t bi = item / h, hi = item % h;
      float *o = out + bi * s * ldo + hi * dv;
      float *l = lse ? lse + bi * s * h + hi : nullptr;
      if (hi >= realHeads || t <= 0) {
        // No keys: an empty sum, so lse is -inf for real heads too.
        for (int64_t p = 0; p < s; ++p) {
          std::fill_n(o + p * ldo, dv, 0.0f);
          if (l)
            l[p * h] = kNegInf;
        }
        continue;
      }
      int64_t kvHead = (head_offset + hi) / heads_per_group;
      for (int64_t q0 = 0; q0 < s; q0 += kAttentionRows)
        attendRows(q + (bi * s + q0) * ldq + hi * dk, ldq,
                   k + bi * t * ldk + kvHead * dk, ldk,
                   v + bi * t * ldv + kvHead * dv, ldv, o + q0 * ldo, ldo,
                   l ? l + q0 * h : nullptr, h,
                   std::min(kAttentionRows, s - q0), 1, query_offset + q0, t,
                   dk, dv, causal, scale, scratch);
    }
  });
}

void palmrt_embedding_f32(const float *table, const int32_t *ids, float *out,
                          int64_t num_ids, int64_t rows, int64_t d,
                          int64_t row_offset) {
  TraceScope trace("embedding", "kernel");
  if (trace.active())
    trace.setArgs(
        absl::StrCat("\"ids\":", num_ids, ",\"rows\":", rows, ",\"d\":", d));
  kernelFor(num_ids, 64, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      int64_t row = static_cast<int64_t>(ids[i]) - row_offset;
      if (row >= 0 && row < rows)
        std::memcpy(out + i * d, table + row * d, d * sizeof(float));
      else
        std::fill_n(out + i * d, d, 0.0f);
    }
  });
}

PALMRT_KERNEL void palmrt_softmax_max_f32(const float *logits, float *out,
                                          int64_t tokens, int64_t vocab,
                                          int64_t valid) {
  TraceScope trace("softmax_max", "kernel");
  valid = std::min(valid, vocab);
  kernelFor(tokens, 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      out[i] = valid > 0 ? rowMax(logits + i * vocab, valid) : kNegInf;
  });
}

PALMRT_KERNEL void palmrt_softmax_sums_f32(const float *logits,
                                           const float *max,
                                           const int32_t *targets, float *out,
                                           int64_t tokens, int64_t vocab,
                                           int64_t valid, int64_t offset) {
  TraceScope trace("softmax_sums", "kernel");
  valid = std::min(valid, vocab);
  kernelFor(tokens, 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float *row = logits + i * vocab;
      // A max of -inf means no shard holds a valid class: nothing to sum.
      out[i] = valid > 0 && max[i] != kNegInf ? sumExp(row, valid, max[i]) : 0;
      int64_t target = static_cast<int64_t>(targets[i]) - offset;
      out[tokens + i] = target >= 0 && target < valid ? row[target] : 0.0f;
    }
  });
}

PALMRT_KERNEL void palmrt_cross_entropy_f32(
    const float *logits, const int32_t *targets, float *out, int32_t token_rank,
    const int64_t *token_shape, const int64_t *valid_extent, int64_t vocab,
    float z_loss, int64_t token_count) {
  TraceScope trace("cross_entropy", "kernel");
  std::vector<int64_t> real =
      validTokens(token_rank, token_shape, valid_extent);
  for (int64_t i : real) {
    int64_t target = targets[i];
    if (target < 0 || target >= vocab)
      fatal(absl::StrCat("palmrt_cross_entropy_f32: target ", target,
                         " of token ", i, " is outside the vocabulary [0, ",
                         vocab, ")"));
  }
  // Each token's loss on some thread, then the sum in token order.
  std::vector<double> loss(real.size());
  kernelFor(static_cast<int64_t>(real.size()), 16,
              [&](int64_t begin, int64_t end) {
                for (int64_t n = begin; n < end; ++n) {
                  const float *row = logits + real[n] * vocab;
                  float m = rowMax(row, vocab);
                  double logZ =
                      m + std::log(static_cast<double>(sumExp(row, vocab, m)));
                  loss[n] = logZ - row[targets[real[n]]] + z_loss * logZ * logZ;
                }
              });
  double total = 0;
  for (double l : loss)
    total += l;
  out[0] = static_cast<float>(total / static_cast<double>(token_count));
}

PALMRT_KERNEL void
palmrt_cross_entropy_loss_f32(const float *max, const float *sums, float *out,
                              int32_t token_rank, const int64_t *token_shape,
                              const int64_t *valid_extent, float z_loss,
                              int64_t token_count) {
  TraceScope trace("cross_entropy_loss", "kernel");
  int64_t tokens = product(token_rank, token_shape);
  double total = 0;
  for (int64_t i : validTokens(token_rank, token_shape, valid_extent)) {
    double logZ = max[i] + std::log(static_cast<double>(sums[i]));
    total += logZ - sums[tokens + i] + z_loss * logZ * logZ;
  }
  out[0] = static_cast<float>(total / static_cast<double>(token_count));
}

} // extern "C"
