//===- kernels_grad.cc - the backwards of the f32 Transformer kernels -----===//
//
// Each backward sums in a fixed order (rows, then ids or heads, one after
// the other), so gradients are bitwise reproducible. The work is split over
// the pool's threads (parallel.h) only where the split keeps every sum in
// that order: attention by batch element and key/value head (each owns its
// rows of dk and dv), the embedding by columns, the cross-entropy by token;
// layer norm's dscale sums fixed chunks of rows, then the chunks in order.
// Attention's backward is flash style: it recomputes each block's
// probabilities from the forward's log-sum-exp instead of storing them, and
// does the five matrix products of a block with OpenBLAS (on the block's
// thread).
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
#include <utility>
#include <vector>

namespace palmrt {
namespace {

constexpr int64_t kGradRows = 128, kGradKeys = 256;

struct AttentionGradScratch {
  std::vector<float> probs = std::vector<float>(kGradRows * kGradKeys);
  std::vector<float> dprobs = std::vector<float>(kGradRows * kGradKeys);
  std::vector<float> delta = std::vector<float>(kGradRows);
};

/// One block of query rows and the key/value head they read, laid out as
/// attendRows in kernels.cc takes them: row r (of q, out, dout and dq, at
/// stride ldq or ldo) is at position q0 + r / rowsPerPosition, its lse is
/// lse[(r / rowsPerPosition) * ldl + r % rowsPerPosition], and it is padding
/// (no gradient in or out) when r % rowsPerPosition >= realPerPosition.
struct GradRows {
  const float *q, *out, *dout, *lse;
  float *dq;
  int64_t ldq, ldo, ldl;
  int64_t rows, rowsPerPosition, realPerPosition, q0;
  const float *k, *v;
  float *dk, *dv;
  int64_t ldk, ldv;
};

/// Adds this block's contributions to dk and dv and writes its rows of dq
/// (which must be zero on entry), streaming over key blocks. With P the
/// probabilities exp(scale q.k - lse) and D_r = dout_r . out_r:
/// dS = P * (dout v^T - D), dq = scale dS k, dk += scale dS^T q,
/// dv += P^T dout.
PALMRT_INLINE void attendRowsGrad(const GradRows &a, int64_t t, int64_t dk,
                                  int64_t dv, int32_t causal, float scale,
                                  AttentionGradScratch &scratch) {
  const BlasLibrary &lib = blas();
  float *probs = scratch.probs.data();
  float *dprobs = scratch.dprobs.data();
  float *delta = scratch.delta.data();
  for (int64_t r = 0; r < a.rows; ++r) {
    const float *o = a.out + r * a.ldo, *d = a.dout + r * a.ldo;
    float sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t c = 0; c < dv; ++c)
      sum += o[c] * d[c];
    delta[r] = sum;
  }
  int64_t lastPosition = a.q0 + (a.rows - 1) / a.rowsPerPosition;
  int64_t keyEnd = causal ? std::min(t, lastPosition + 1) : t;
  for (int64_t k0 = 0; k0 < keyEnd; k0 += kGradKeys) {
    int64_t nk = std::min(kGradKeys, keyEnd - k0);
    lib.sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, a.rows, nk, dk, scale,
              a.q, a.ldq, a.k + k0 * a.ldk, a.ldk, 0.0f, probs, kGradKeys);
    lib.sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, a.rows, nk, dv, 1.0f,
              a.dout, a.ldo, a.v + k0 * a.ldv, a.ldv, 0.0f, dprobs, kGradKeys);
    for (int64_t r = 0; r < a.rows; ++r) {
      float *p = probs + r * kGradKeys, *dp = dprobs + r * kGradKeys;
      int64_t position = a.q0 + r / a.rowsPerPosition;
      int64_t valid =
          causal ? std::clamp<int64_t>(position - k0 + 1, 0, nk) : nk;
      if (r % a.rowsPerPosition >= a.realPerPosition)
        valid = 0;
      // scale q.k <= lse up to rounding, so the argument is at most a few
      // ulp above 0, where expNonPositive is still exact enough.
      float l =
          a.lse[(r / a.rowsPerPosition) * a.ldl + (r % a.rowsPerPosition)];
      float dr = delta[r];
#pragma omp simd
      for (int64_t j = 0; j < valid; ++j) {
        float e = expNonPositive(p[j] - l);
        p[j] = e;
        dp[j] = e * (dp[j] - dr);
      }
      std::fill(p + valid, p + nk, 0.0f);
      std::fill(dp + valid, dp + nk, 0.0f);
    }
    lib.sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, a.rows, dk, nk, scale,
              dprobs, kGradKeys, a.k + k0 * a.ldk, a.ldk, 1.0f, a.dq, a.ldq);
    lib.sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nk, dk, a.rows, scale,
              dprobs, kGradKeys, a.q, a.ldq, 1.0f, a.dk + k0 * a.ldk, a.ldk);
    lib.sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nk, dv, a.rows, 1.0f,
              probs, kGradKeys, a.dout, a.ldo, 1.0f, a.dv + k0 * a.ldv, a.ldv);
  }
}

} // namespace
} // namespace palmrt

using namespace palmrt;

extern "C" {

PALMRT_KERNEL void palmrt_attention_grad_f32(
    const float *q, const float *k, const float *v, const float *out,
    const float *lse, const float *dout, float *dq, float *dk, float *dv,
    int64_t b, int64_t s, int64_t t, int64_t h, int64_t g, int64_t dk_size,
    int64_t dv_size, int32_t causal, float scale, int64_t head_offset,
    int64_t heads_per_group, int64_t global_heads, int64_t query_offset) {
  TraceScope trace("attention_grad", "kernel");
  if (trace.active())
    trace.setArgs(absl::StrCat("\"b\":", b, ",\"s\":", s, ",\"t\":", t,
                               ",\"h\":", h, ",\"g\":", g, ",\"dk\":", dk_size,
                               ",\"dv\":", dv_size));
  int64_t realHeads =
      attentionRealHeads("palmrt_attention_grad_f32", h, g, head_offset,
                         heads_per_group, global_heads);
  if (b <= 0 || h <= 0)
    return;
  std::fill_n(dq, std::max<int64_t>(b * s * h * dk_size, 0), 0.0f);
  std::fill_n(dk, std::max<int64_t>(b * t * g * dk_size, 0), 0.0f);
  std::fill_n(dv, std::max<int64_t>(b * t * g * dv_size, 0), 0.0f);
  if (s <= 0 || t <= 0 || realHeads == 0)
    return;
  int64_t ldk = g * dk_size, ldv = g * dv_size;
  bool oneKvHead =
      h <= kGradRows && head_offset / heads_per_group ==
                            (head_offset + realHeads - 1) / heads_per_group;
  // The block of `rows` query rows from flat row `row` of [b, s, h] (with
  // leading dimensions in rows) reading key/value head kvHead of batch bi.
  auto block = [&](int64_t bi, int64_t kvHead, int64_t row, int64_t rowStride,
                   int64_t rows, int64_t rowsPerPosition,
                   int64_t realPerPosition, int64_t q0,
                   AttentionGradScratch &scratch) {
    GradRows a;
    a.q = q + row * dk_size;
    a.out = out + row * dv_size;
    a.dout = dout + row * dv_size;
    a.lse = lse + row;
    a.dq = dq + row * dk_size;
    a.ldq = rowStride * dk_size;
    a.ldo = rowStride * dv_size;
    a.ldl = h;
    a.rows = rows;
    a.rowsPerPosition = rowsPerPosition;
    a.realPerPosition = realPerPosition;
    a.q0 = query_offset + q0;
    a.k = k + bi * t * ldk + kvHead * dk_size;
    a.v = v + bi * t * ldv + kvHead * dv_size;
    a.dk = dk + bi * t * ldk + kvHead * dk_size;
    a.dv = dv + bi * t * ldv + kvHead * dv_size;
    a.ldk = ldk;
    a.ldv = ldv;
    attendRowsGrad(a, t, dk_size, dv_size, causal, scale, scratch);
  };
  if (oneKvHead) {
    // As in the forward: every real head reads one key/value head, so the
    // rows of all heads at a block of positions are one operand, and the
    // padding heads among them are masked out. A batch element's blocks
    // add to its own dk and dv, in order, on one thread.
    int64_t kvHead = head_offset / heads_per_group;
    int64_t positions = std::max<int64_t>(1, kGradRows / h);
    kernelForWithBlas(b, 1, [&](int64_t begin, int64_t end) {
      AttentionGradScratch scratch;
      for (int64_t bi = begin; bi < end; ++bi)
        for (int64_t q0 = 0; q0 < s; q0 += positions)
          block(bi, kvHead, (bi * s + q0) * h, 1,
                std::min(positions, s - q0) * h, h, realHeads, q0, scratch);
    });
    return;
  }
  // Each (batch element, key/value head) on one thread, its query heads in
  // order, so each key/value head's sum over its query heads runs in a fixed
  // order.
  int64_t firstKv = head_offset / heads_per_group;
  int64_t kvHeads =
      (head_offset + realHeads - 1) / heads_per_group - firstKv + 1;
  kernelForWithBlas(b * kvHeads, 1, [&](int64_t begin, int64_t end) {
    AttentionGradScratch scratch;
    for (int64_t item = begin; item < end; ++item) {
      int64_t bi = item / kvHeads, kvHead = firstKv + item % kvHeads;
      for (int64_t hi = 0; hi < realHeads; ++hi) {
        if ((head_offset + hi) / heads_per_group != kvHead)
          continue;
        for (int64_t q0 = 0; q0 < s; q0 += kGradRows)
          block(bi, kvHead, (bi * s + q0) * h + hi, h,
                std::min(kGradRows, s - q0), 1, 1, q0, scratch);
      }
    }
  });
}

PALMRT_KERNEL void palmrt_layer_norm_grad_f32(const float *x,
                                              const float *scale,
                                              const float *dy, float *dx,
                                              float *dscale, int64_t rows,
                                              int64_t cols, float eps) {
  TraceScope trace("layer_norm_grad", "kernel");
  if (trace.active())
    trace.setArgs(absl::StrCat("\"rows\":", rows, ",\"cols\":", cols));
  if (cols <= 0)
    return;
  float inv = 1.0f / static_cast<float>(cols);
  // dscale sums over every row: in double, since rows run to batch x
  // sequence; each chunk of kRows rows into its own partial (rows in
  // order), then the partials in chunk order.
  constexpr int64_t kRows = 32;
  int64_t chunks = chunkCount(rows, kRows);
  std::vector<double> dscaleSum(std::max<int64_t>(chunks, 1) * cols, 0.0);
  kernelFor(rows, kRows, [&](int64_t begin, int64_t end) {
    double *partial = dscaleSum.data() + (begin / kRows) * cols;
    std::vector<float> xhat(cols);
    for (int64_t r = begin; r < end; ++r) {
      const float *xr = x + r * cols, *dyr = dy + r * cols;
      // The statistics exactly as the forward computes them.
      // (Not a structured binding: omp simd cannot capture one.)
      std::pair<float, float> moments = rowMoments(xr, cols);
      float mean = moments.first;
      float rstd = 1.0f / std::sqrt(moments.second * inv + eps);
      float sumG = 0, sumGx = 0;
#pragma omp simd reduction(+ : sumG, sumGx)
      for (int64_t c = 0; c < cols; ++c) {
        float xh = (xr[c] - mean) * rstd;
        float gc = dyr[c] * scale[c];
        xhat[c] = xh;
        sumG += gc;
        sumGx += gc * xh;
      }
      float meanG = sumG * inv, meanGx = sumGx * inv;
      float *dxr = dx + r * cols;
#pragma omp simd
      for (int64_t c = 0; c < cols; ++c)
        dxr[c] = rstd * (dyr[c] * scale[c] - meanG - xhat[c] * meanGx);
#pragma omp simd
      for (int64_t c = 0; c < cols; ++c)
        partial[c] += static_cast<double>(dyr[c]) * xhat[c];
    }
  });
  for (int64_t c = 0; c < cols; ++c) {
    double sum = 0.0;
    for (int64_t i = 0; i < chunks; ++i)
      sum += dscaleSum[i * cols + c];
    dscale[c] = static_cast<float>(sum);
  }
}

void palmrt_embedding_grad_f32(const int32_t *ids, const float *dy,
                               float *dtable, int64_t num_ids, int64_t rows,
                               int64_t d, int64_t row_offset) {
  TraceScope trace("embedding_grad", "kernel");
  if (trace.active())
    trace.setArgs(
        absl::StrCat("\"ids\":", num_ids, ",\"rows\":", rows, ",\"d\":", d));
  kernelFor(rows, 256, [&](int64_t begin, int64_t end) {
    std::fill(dtable + begin * d, dtable + end * d, 0.0f);
  });
  // By columns: each thread adds its columns of every id's row, ids in
  // order, so each element sums in id order.
  kernelFor(d, 64, [&](int64_t e0, int64_t e1) {
    for (int64_t i = 0; i < num_ids; ++i) {
      int64_t row = static_cast<int64_t>(ids[i]) - row_offset;
      if (row < 0 || row >= rows)
        continue;
      float *dst = dtable + row * d;
      const float *src = dy + i * d;
#pragma omp simd
      for (int64_t e = e0; e < e1; ++e)
        dst[e] += src[e];
    }
  });
}

PALMRT_KERNEL void palmrt_cross_entropy_grad_f32(
    const float *logits, const int32_t *targets, const float *dloss,
    const float *max, const float *sums, float *dlogits, int32_t token_rank,
    const int64_t *token_shape, const int64_t *valid_extent, int64_t vocab,
    int64_t valid, int64_t offset, float z_loss, int64_t token_count) {
  TraceScope trace("cross_entropy_grad", "kernel");
  int64_t tokens = product(token_rank, token_shape);
  valid = std::clamp<int64_t>(valid, 0, vocab);
  float factor =
      static_cast<float>(static_cast<double>(dloss ? dloss[0] : 1.0f) /
                         static_cast<double>(token_count));
  std::vector<char> isReal(std::max<int64_t>(tokens, 0), 0);
  for (int64_t i : validTokens(token_rank, token_shape, valid_extent))
    isReal[i] = 1;
  // Each token's row on its own (any split gives the same rows); each row
  // written once: zero where there is no gradient.
  kernelFor(tokens, 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float *row = logits + i * vocab;
      float *drow = dlogits + i * vocab;
      std::fill(drow + valid, drow + vocab, 0.0f);
      if (!isReal[i]) {
        std::fill(drow, drow + valid, 0.0f);
        continue;
      }
      int64_t target = static_cast<int64_t>(targets[i]) - offset;
      float m, sum;
      if (!max) {
        // The whole vocabulary is here, so its range can be checked (a
        // shard cannot tell a target of another shard from a bad one).
        if (target < 0 || target >= valid)
          fatal(absl::StrCat("palmrt_cross_entropy_grad_f32: target ",
                             targets[i], " of token ", i,
                             " is outside the vocabulary [0, ", valid, ")"));
        m = rowMax(row, valid);
        sum = sumExp(row, valid, m);
      } else {
        m = max[i];
        sum = sums[i];
      }
      // No class anywhere (an empty vocabulary): no softmax to
      // differentiate.
      if (!(sum > 0) || m == kNegInf) {
        std::fill(drow, drow + valid, 0.0f);
        continue;
      }
      double logZ = m + std::log(static_cast<double>(sum));
      // softmax_c = exp(x_c - m) / sum; z-loss d(z logZ^2)/dx_c adds
      // 2 z logZ softmax_c.
      float coeff = static_cast<float>((1.0 + 2.0 * z_loss * logZ) /
                                       static_cast<double>(sum)) *
                    factor;
#pragma omp simd
      for (int64_t c = 0; c < valid; ++c)
        drow[c] = expNonPositive(row[c] - m) * coeff;
      if (target >= 0 && target < valid)
        drow[target] -= factor;
    }
  });
}

} // extern "C"
