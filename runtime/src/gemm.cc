//===- gemm.cc - batched GEMM: OpenBLAS on the host, cuBLASLt on cuda -----===//

#include "bf16.h"
#include "blas_library.h"
#include "context.h"
#include "process.h"
#include "trace.h"

#include "palmrt/palmrt.h"

#include "absl/strings/str_cat.h"

#include <climits>
#include <vector>

using namespace palmrt;

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

std::vector<float> widen(const void *in, int64_t count) {
  std::vector<float> out(count);
  const auto *src = static_cast<const uint16_t *>(in);
  for (int64_t i = 0; i < count; ++i)
    out[i] = bf16ToFloat(src[i]);
  return out;
}

} // namespace

extern "C" void palmrt_gemm(palmrt_context *ctx, int32_t dtype, int64_t batch,
                            int64_t m, int64_t n, int64_t k, const void *a,
                            int32_t trans_a, const void *b, int32_t trans_b,
                            void *c) {
  if (ctx && ctx->device)
    return ctx->device->gemm(dtype, batch, m, n, k, a, trans_a != 0, b,
                             trans_b != 0, c);
  TraceScope trace("gemm", "gemm");
  if (trace.active())
    trace.setArgs(absl::StrCat("\"batch\":", batch, ",\"m\":", m, ",\"n\":", n,
                               ",\"k\":", k, ",\"ta\":", trans_a,
                               ",\"tb\":", trans_b));
  if (batch <= 0 || m <= 0 || n <= 0)
    return;
  switch (dtype) {
  case PALMRT_F32:
    sgemmBatch(batch, m, n, k, static_cast<const float *>(a), trans_a,
               static_cast<const float *>(b), trans_b, static_cast<float *>(c));
    return;
  case PALMRT_BF16: {
    // No bf16 GEMM on the host yet: widen, multiply in f32, round once.
    std::vector<float> wa = widen(a, batch * m * k),
                       wb = widen(b, batch * k * n);
    std::vector<float> wc(batch * m * n);
    sgemmBatch(batch, m, n, k, wa.data(), trans_a, wb.data(), trans_b,
               wc.data());
    auto *out = static_cast<uint16_t *>(c);
    for (int64_t i = 0; i < batch * m * n; ++i)
      out[i] = floatToBf16(wc[i]);
    return;
  }
  default:
    fatal(absl::StrCat("palmrt_gemm: element type ", dtype,
                       " is not supported on the host (f32 and bf16 are)"));
  }
}
