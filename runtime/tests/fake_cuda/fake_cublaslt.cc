//===- fake_cublaslt.cc - a libcublasLt.so.13 on the host, for tests ------===//
//
// Implements the part of cuBLASLt the cuda backend uses with cuBLASLt's
// documented semantics: column-major matrices described by layouts (rows,
// cols, ld, batch count and stride), D = alpha op(A) op(B) + beta C with
// op from the descriptor's TRANSA/TRANSB. Attributes are checked for their
// sizes as the real library does, shapes for consistency, and every operand
// for lying in the fake driver's device memory. Products accumulate in
// double, which makes this a reference for the backend's row-major mapping.
//
//===----------------------------------------------------------------------===//

#include "base/bf16.h"
#include "fake_device_memory.h"

#include <cublasLt.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

struct FakeDesc {
  cublasComputeType_t compute;
  int32_t transA = CUBLAS_OP_N, transB = CUBLAS_OP_N;
};

struct FakeLayout {
  cudaDataType type;
  uint64_t rows, cols;
  int64_t ld;
  int32_t batch = 1;
  int64_t stride = 0;
};

struct FakePreference {
  uint64_t workspace = 0;
  uint32_t alignment[4] = {256, 256, 256, 256};
};

constexpr uint64_t kAlgoMark = 0x70616c6d;

[[noreturn]] void fail(const char *message) {
  std::fprintf(stderr, "fake libcublasLt: %s\n", message);
  std::fflush(stderr);
  std::abort();
}

void checkRange(const void *p, size_t bytes, const char *what) {
  checkDeviceRange("fake libcublasLt", p, bytes, what);
}

size_t elemBytes(cudaDataType type) { return type == CUDA_R_16BF ? 2 : 4; }

/// Checks once that every element a matrix's layout addresses lies in device
/// memory: the span from its first to its last element.
void checkMatrix(const void *base, const FakeLayout &l, const char *what) {
  if (l.rows == 0 || l.cols == 0 || l.batch <= 0)
    return;
  int64_t last = (l.batch - 1) * l.stride +
                 static_cast<int64_t>(l.cols - 1) * l.ld +
                 static_cast<int64_t>(l.rows - 1);
  checkRange(base, (last + 1) * elemBytes(l.type), what);
}

/// Element (r, c) of problem `batch` (inside a checkMatrix'ed span).
double load(const void *base, const FakeLayout &l, int64_t batch, uint64_t r,
            uint64_t c) {
  const char *at = static_cast<const char *>(base) +
                   (batch * l.stride + static_cast<int64_t>(c) * l.ld +
                    static_cast<int64_t>(r)) *
                       elemBytes(l.type);
  if (l.type == CUDA_R_16BF) {
    uint16_t v;
    std::memcpy(&v, at, 2);
    return palmrt::bf16ToFloat(v);
  }
  float f;
  std::memcpy(&f, at, 4);
  return f;
}

void store(void *base, const FakeLayout &l, int64_t batch, uint64_t r,
           uint64_t c, double value) {
  char *at = static_cast<char *>(base) +
             (batch * l.stride + static_cast<int64_t>(c) * l.ld +
              static_cast<int64_t>(r)) *
                 elemBytes(l.type);
  float f = static_cast<float>(value);
  if (l.type == CUDA_R_16BF) {
    uint16_t v = palmrt::floatToBf16(f);
    std::memcpy(at, &v, 2);
  } else {
    std::memcpy(at, &f, 4);
  }
}

template <typename T>
cublasStatus_t setValue(T &slot, const void *buf, size_t bytes) {
  if (!buf || bytes != sizeof(T))
    return CUBLAS_STATUS_INVALID_VALUE;
  std::memcpy(&slot, buf, sizeof(T));
  return CUBLAS_STATUS_SUCCESS;
}

/// The [rows, cols] of op(X) for layout `l` under `op`.
void opShape(const FakeLayout &l, int32_t op, uint64_t *rows, uint64_t *cols) {
  *rows = op == CUBLAS_OP_N ? l.rows : l.cols;
  *cols = op == CUBLAS_OP_N ? l.cols : l.rows;
}

bool consistent(const FakeDesc &d, const FakeLayout &a, const FakeLayout &b,
                const FakeLayout &c, const FakeLayout &dl) {
  uint64_t am, ak, bk, bn;
  opShape(a, d.transA, &am, &ak);
  opShape(b, d.transB, &bk, &bn);
  return ak == bk && c.rows == am && c.cols == bn && dl.rows == c.rows &&
         dl.cols == c.cols && a.batch == c.batch && b.batch == c.batch &&
         dl.batch == c.batch && a.type == b.type && a.type == c.type;
}

} // namespace

extern "C" {

cublasStatus_t cublasLtCreate(cublasLtHandle_t *handle) {
  *handle = reinterpret_cast<cublasLtHandle_t>(new int(0));
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtDestroy(cublasLtHandle_t handle) {
  delete reinterpret_cast<int *>(handle);
  return CUBLAS_STATUS_SUCCESS;
}

size_t cublasLtGetVersion(void) { return 130000; }

const char *cublasLtGetStatusName(cublasStatus_t status) {
  switch (status) {
  case CUBLAS_STATUS_SUCCESS:
    return "CUBLAS_STATUS_SUCCESS";
  case CUBLAS_STATUS_INVALID_VALUE:
    return "CUBLAS_STATUS_INVALID_VALUE";
  case CUBLAS_STATUS_NOT_SUPPORTED:
    return "CUBLAS_STATUS_NOT_SUPPORTED";
  default:
    return "CUBLAS_STATUS_INTERNAL_ERROR";
  }
}

cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t *desc,
                                        cublasComputeType_t compute,
                                        cudaDataType_t scale) {
  if (compute != CUBLAS_COMPUTE_32F || scale != CUDA_R_32F)
    return CUBLAS_STATUS_NOT_SUPPORTED;
  *desc = reinterpret_cast<cublasLtMatmulDesc_t>(new FakeDesc{compute});
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t desc) {
  delete reinterpret_cast<FakeDesc *>(desc);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t
cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t desc,
                               cublasLtMatmulDescAttributes_t attr,
                               const void *buf, size_t bytes) {
  auto *d = reinterpret_cast<FakeDesc *>(desc);
  if (attr == CUBLASLT_MATMUL_DESC_TRANSA)
    return setValue(d->transA, buf, bytes);
  if (attr == CUBLASLT_MATMUL_DESC_TRANSB)
    return setValue(d->transB, buf, bytes);
  return CUBLAS_STATUS_INVALID_VALUE;
}

cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t *layout,
                                          cudaDataType type, uint64_t rows,
                                          uint64_t cols, int64_t ld) {
  if (ld < static_cast<int64_t>(rows) || ld < 1 ||
      (type != CUDA_R_32F && type != CUDA_R_16BF))
    return CUBLAS_STATUS_INVALID_VALUE;
  *layout = reinterpret_cast<cublasLtMatrixLayout_t>(
      new FakeLayout{type, rows, cols, ld});
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t layout) {
  delete reinterpret_cast<FakeLayout *>(layout);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t
cublasLtMatrixLayoutSetAttribute(cublasLtMatrixLayout_t layout,
                                 cublasLtMatrixLayoutAttribute_t attr,
                                 const void *buf, size_t bytes) {
  auto *l = reinterpret_cast<FakeLayout *>(layout);
  if (attr == CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT)
    return setValue(l->batch, buf, bytes);
  if (attr == CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET)
    return setValue(l->stride, buf, bytes);
  return CUBLAS_STATUS_INVALID_VALUE;
}

cublasStatus_t
cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t *pref) {
  *pref = reinterpret_cast<cublasLtMatmulPreference_t>(new FakePreference);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t
cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t pref) {
  delete reinterpret_cast<FakePreference *>(pref);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t
cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t pref,
                                     cublasLtMatmulPreferenceAttributes_t attr,
                                     const void *buf, size_t bytes) {
  auto *p = reinterpret_cast<FakePreference *>(pref);
  switch (attr) {
  case CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES:
    return setValue(p->workspace, buf, bytes);
  case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES:
  case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES:
  case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES:
  case CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES:
    return setValue(
        p->alignment[attr - CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES], buf,
        bytes);
  default:
    return CUBLAS_STATUS_INVALID_VALUE;
  }
}

cublasStatus_t cublasLtMatmulAlgoGetHeuristic(
    cublasLtHandle_t, cublasLtMatmulDesc_t desc, cublasLtMatrixLayout_t a,
    cublasLtMatrixLayout_t b, cublasLtMatrixLayout_t c,
    cublasLtMatrixLayout_t d, cublasLtMatmulPreference_t pref, int requested,
    cublasLtMatmulHeuristicResult_t results[], int *returned) {
  if (requested < 1)
    return CUBLAS_STATUS_INVALID_VALUE;
  auto *p = reinterpret_cast<FakePreference *>(pref);
  *returned = 0;
  if (!consistent(*reinterpret_cast<FakeDesc *>(desc),
                  *reinterpret_cast<FakeLayout *>(a),
                  *reinterpret_cast<FakeLayout *>(b),
                  *reinterpret_cast<FakeLayout *>(c),
                  *reinterpret_cast<FakeLayout *>(d)))
    return CUBLAS_STATUS_NOT_SUPPORTED;
  std::memset(&results[0], 0, sizeof(results[0]));
  results[0].algo.data[0] = kAlgoMark;
  // Asks for some workspace when allowed, so the backend must pass it.
  results[0].workspaceSize = p->workspace >= 4096 ? 4096 : 0;
  results[0].state = CUBLAS_STATUS_SUCCESS;
  results[0].wavesCount = 1.0f;
  *returned = 1;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmul(cublasLtHandle_t, cublasLtMatmulDesc_t desc,
                              const void *alpha, const void *A,
                              cublasLtMatrixLayout_t aDesc, const void *B,
                              cublasLtMatrixLayout_t bDesc, const void *beta,
                              const void *C, cublasLtMatrixLayout_t cDesc,
                              void *D, cublasLtMatrixLayout_t dDesc,
                              const cublasLtMatmulAlgo_t *algo, void *workspace,
                              size_t workspaceBytes, cudaStream_t stream) {
  const auto &d = *reinterpret_cast<FakeDesc *>(desc);
  const auto &a = *reinterpret_cast<FakeLayout *>(aDesc);
  const auto &b = *reinterpret_cast<FakeLayout *>(bDesc);
  const auto &c = *reinterpret_cast<FakeLayout *>(cDesc);
  const auto &dl = *reinterpret_cast<FakeLayout *>(dDesc);
  if (!algo || algo->data[0] != kAlgoMark || !stream)
    fail("cublasLtMatmul without an algorithm from the heuristic or a stream");
  if (!consistent(d, a, b, c, dl))
    return CUBLAS_STATUS_INVALID_VALUE;
  checkRange(workspace, workspaceBytes, "matmul workspace");
  checkMatrix(A, a, "A");
  checkMatrix(B, b, "B");
  checkMatrix(D, dl, "matmul D");
  float alphaValue, betaValue;
  std::memcpy(&alphaValue, alpha, 4);
  std::memcpy(&betaValue, beta, 4);
  if (betaValue != 0)
    checkMatrix(C, c, "C");
  uint64_t m = c.rows, n = c.cols,
           k = d.transA == CUBLAS_OP_N ? a.cols : a.rows;
  std::vector<double> out(m * n);
  // op(A) by rows and op(B) by columns, unpacked once per batch, so the
  // products below read contiguous memory (the same sums, in the same
  // order, as reading the layouts element by element).
  std::vector<double> rowsA(m * k), colsB(n * k);
  for (int32_t batch = 0; batch < c.batch; ++batch) {
    for (uint64_t i = 0; i < m; ++i)
      for (uint64_t l = 0; l < k; ++l)
        rowsA[i * k + l] = d.transA == CUBLAS_OP_N ? load(A, a, batch, i, l)
                                                   : load(A, a, batch, l, i);
    for (uint64_t j = 0; j < n; ++j)
      for (uint64_t l = 0; l < k; ++l)
        colsB[j * k + l] = d.transB == CUBLAS_OP_N ? load(B, b, batch, l, j)
                                                   : load(B, b, batch, j, l);
    for (uint64_t j = 0; j < n; ++j)
      for (uint64_t i = 0; i < m; ++i) {
        const double *x = &rowsA[i * k], *y = &colsB[j * k];
        double sum = 0;
        for (uint64_t l = 0; l < k; ++l)
          sum += x[l] * y[l];
        out[j * m + i] =
            alphaValue * sum +
            (betaValue != 0 ? betaValue * load(C, c, batch, i, j) : 0.0);
      }
    for (uint64_t j = 0; j < n; ++j)
      for (uint64_t i = 0; i < m; ++i)
        store(D, dl, batch, i, j, out[j * m + i]);
  }
  return CUBLAS_STATUS_SUCCESS;
}

} // extern "C"
