//===- host_gemm.cc - the CPU backend's batched GEMM: OpenBLAS -----------===//

#include "host/host_device.h"

#include "base/bf16.h"
#include "base/trace.h"
#include "host/blas_library.h"
#include "job/process.h"

#include "palmrt/palmrt.h"

#include "absl/strings/str_cat.h"

#include <climits>
#include <vector>

namespace palmrt {
namespace {

void sgemmBatch(int64_t batch, int64_t m, int64_t n, int64_t k, const float *a,
                int32_t transA, const float *b, int32_t transB, float *c) {
  if (m > INT_MAX || n > INT_MAX || k > INT_MAX)
    fatal(absl::StrCat("palmrt_gemm: [", m, " x ", k, "] x [", k, " x ", n,
                       "] exceeds OpenBLAS's 32-bit sizes"));
  int lda = static_cast<int>(transA ? m : k);
  int ldb = static_cast<int>(transB ? k : n);
  const BlasLibrary &lib = blas();
  for (int64_t i = 0; i < batch; ++i)
    lib.sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans,
              transB ? CblasTrans : CblasNoTrans, static_cast<int>(m),
              static_cast<int>(n), static_cast<int>(k), 1.0f, a + i * m * k,
              std::max(lda, 1), b + i * k * n, std::max(ldb, 1), 0.0f,
              c + i * m * n, std::max(static_cast<int>(n), 1));
}

} // namespace

void HostDevice::gemm(int32_t dtype, int64_t batch, int64_t m, int64_t n,
                      int64_t k, const void *a, bool transA, const void *b,
                      bool transB, void *c) {
  TraceScope trace("gemm", "gemm");
  if (trace.active())
    trace.setArgs(absl::StrCat("\"batch\":", batch, ",\"m\":", m, ",\"n\":", n,
                               ",\"k\":", k, ",\"ta\":", transA ? 1 : 0,
                               ",\"tb\":", transB ? 1 : 0));
  if (batch <= 0 || m <= 0 || n <= 0)
    return;
  switch (dtype) {
  case PALMRT_F32:
    sgemmBatch(batch, m, n, k, static_cast<const float *>(a), transA,
               static_cast<const float *>(b), transB, static_cast<float *>(c));
    return;
  case PALMRT_BF16: {
    // No bf16 GEMM on the host yet: widen, multiply in f32, round once.
    std::vector<float> wa = widenBf16(a, batch * m * k),
                       wb = widenBf16(b, batch * k * n);
    std::vector<float> wc(batch * m * n);
    sgemmBatch(batch, m, n, k, wa.data(), transA, wb.data(), transB,
               wc.data());
    narrowToBf16(wc.data(), c, batch * m * n);
    return;
  }
  default:
    fatal(absl::StrCat("palmrt_gemm: element type ", dtype,
                       " is not supported on the host (f32 and bf16 are)"));
  }
}

} // namespace palmrt
