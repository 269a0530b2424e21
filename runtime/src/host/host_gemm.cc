//===- host_gemm.cc - the CPU backend's batched GEMM: OpenBLAS -----------===//

#include "host/host_device.h"

#include "base/bf16.h"
#include "base/trace.h"
#include "host/blas_library.h"
#include "host/parallel.h"
#include "job/process.h"

#include "palmrt/palmrt.h"

#include "absl/strings/str_cat.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <vector>

namespace palmrt {
namespace {

/// One row-major GEMM c = op(a) op(b) + beta c with OpenBLAS.
void sgemmOne(int64_t m, int64_t n, int64_t k, const float *a, int lda,
              bool transA, const float *b, int ldb, bool transB, float *c,
              int ldc, float beta) {
  blas().sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans,
               transB ? CblasTrans : CblasNoTrans, static_cast<int>(m),
               static_cast<int>(n), static_cast<int>(k), 1.0f, a,
               std::max(lda, 1), b, std::max(ldb, 1), beta, c,
               std::max(ldc, 1));
}

/// Below this many multiply-adds a GEMM runs on one thread: splitting it
/// costs more than it saves.
constexpr int64_t kSplitMacs = int64_t(1) << 22;

/// Parts are multiples of this many rows or columns (OpenBLAS's register
/// blocks on x86 are 4 to 16 wide).
constexpr int64_t kSplitAlign = 16;

/// c = op(a) op(b) on the runtime's threads. OpenBLAS's own threads scale
/// poorly at the sizes of a training step (measured on 2 cores: 1.4x its
/// one-thread speed where two independent halves reach 1.9x), so a large
/// GEMM is cut into one block of rows of c per thread (of columns, when c
/// is much wider than tall), each multiplied by single-threaded OpenBLAS.
/// The blocks are fixed by the thread count, so like OpenBLAS's own
/// threading the last bits of c depend on it.
void sgemmSplit(int64_t m, int64_t n, int64_t k, const float *a, int lda,
                bool transA, const float *b, int ldb, bool transB, float *c,
                float beta) {
  int64_t threads = parallelThreads();
  bool byColumns = n >= 4 * m;
  int64_t extent = byColumns ? n : m;
  int64_t part = (extent + threads - 1) / threads;
  part = (part + kSplitAlign - 1) / kSplitAlign * kSplitAlign;
  if (threads == 1 || m * n * k < kSplitMacs || part >= extent) {
    sgemmOne(m, n, k, a, lda, transA, b, ldb, transB, c, static_cast<int>(n),
             beta);
    return;
  }
  parallelForWithBlas(extent, part, [&](int64_t begin, int64_t end) {
    if (byColumns)
      // Columns [begin, end) of op(b) and of c.
      sgemmOne(m, end - begin, k, a, lda, transA,
               transB ? b + begin * ldb : b + begin, ldb, transB, c + begin,
               static_cast<int>(n), beta);
    else
      // Rows [begin, end) of op(a) and of c.
      sgemmOne(end - begin, n, k, transA ? a + begin : a + begin * lda, lda,
               transA, b, ldb, transB, c + begin * n, static_cast<int>(n),
               beta);
  });
}

/// c = op(a) op(b) for each problem, plus c's values on entry when
/// `accumulate`.
void sgemmBatch(int64_t batch, int64_t m, int64_t n, int64_t k, const float *a,
                int32_t transA, const float *b, int32_t transB, float *c,
                bool accumulate) {
  float beta = accumulate ? 1.0f : 0.0f;
  if (m > INT_MAX || n > INT_MAX || k > INT_MAX)
    fatal(absl::StrCat("palmrt_gemm: [", m, " x ", k, "] x [", k, " x ", n,
                       "] exceeds OpenBLAS's 32-bit sizes"));
  int lda = static_cast<int>(transA ? m : k);
  int ldb = static_cast<int>(transB ? k : n);
  if (batch > 1 && batch >= parallelThreads() &&
      batch * m * n * k >= kSplitMacs) {
    // Whole GEMMs of the batch on each thread.
    parallelForWithBlas(batch, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        sgemmOne(m, n, k, a + i * m * k, lda, transA, b + i * k * n, ldb,
                 transB, c + i * m * n, static_cast<int>(n), beta);
    });
    return;
  }
  for (int64_t i = 0; i < batch; ++i)
    sgemmSplit(m, n, k, a + i * m * k, lda, transA, b + i * k * n, ldb, transB,
               c + i * m * n, beta);
}

} // namespace

void HostDevice::gemm(int32_t dtype, int64_t batch, int64_t m, int64_t n,
                      int64_t k, const void *a, bool transA, const void *b,
                      bool transB, const void *addend, void *c) {
  TraceScope trace("gemm", "gemm");
  if (trace.active())
    trace.setArgs(absl::StrCat("\"batch\":", batch, ",\"m\":", m, ",\"n\":", n,
                               ",\"k\":", k, ",\"ta\":", transA ? 1 : 0,
                               ",\"tb\":", transB ? 1 : 0));
  if (batch <= 0 || m <= 0 || n <= 0)
    return;
  int64_t count = batch * m * n;
  switch (dtype) {
  case PALMRT_F32:
    // The addend first, then the products added onto it (beta = 1).
    if (addend)
      std::memcpy(c, addend, count * sizeof(float));
    sgemmBatch(batch, m, n, k, static_cast<const float *>(a), transA,
               static_cast<const float *>(b), transB, static_cast<float *>(c),
               addend != nullptr);
    return;
  case PALMRT_BF16: {
    // No bf16 GEMM on the host yet: widen, multiply in f32, round once.
    std::vector<float> wa = widenBf16(a, batch * m * k),
                       wb = widenBf16(b, batch * k * n);
    std::vector<float> wc =
        addend ? widenBf16(addend, count) : std::vector<float>(count);
    sgemmBatch(batch, m, n, k, wa.data(), transA, wb.data(), transB,
               wc.data(), addend != nullptr);
    narrowToBf16(wc.data(), c, batch * m * n);
    return;
  }
  default:
    fatal(absl::StrCat("palmrt_gemm: element type ", dtype,
                       " is not supported on the host (f32 and bf16 are)"));
  }
}

} // namespace palmrt
