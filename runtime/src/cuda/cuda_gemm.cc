//===- cuda_gemm.cc - palmrt_gemm on cuBLASLt -----------------------------===//
//
// cuBLASLt is column-major. A row-major [r, c] matrix read column-major is
// its transpose, so row-major C = op(A) op(B) is column-major
// C^T = op(B)^T op(A)^T: cuBLASLt's first operand is our B, its second our
// A, each with our transpose flag, and C is an [n, m] column-major matrix.
//
//===----------------------------------------------------------------------===//

#include "cuda/cuda_gemm.h"

#include "job/process.h"

#include "palmrt/palmrt.h"

#include "absl/strings/str_cat.h"

#include <climits>

namespace palmrt {
namespace {

// What NVIDIA recommends for Hopper; enough for every algorithm elsewhere.
constexpr size_t kWorkspaceBytes = 32 << 20;

std::string describeKey(int32_t dtype, int64_t batch, int64_t m, int64_t n,
                        int64_t k, bool transA, bool transB) {
  return absl::StrCat(dtype == PALMRT_BF16 ? "bf16" : "f32", " ", batch, " x [",
                      m, " x ", k, "]", transA ? "^T" : "", " x [", k, " x ", n,
                      "]", transB ? "^T" : "");
}

} // namespace

absl::StatusOr<std::unique_ptr<CublasGemm>>
CublasGemm::create(const CudaDriver &cu, const CublasLt &lt,
                   cu::Stream stream) {
  std::unique_ptr<CublasGemm> g(new CublasGemm(cu, lt, stream));
  if (lt::Status s = lt.Create(&g->handle); s != lt::kSuccess)
    return absl::UnavailableError(absl::StrCat(
        "cuBLASLt does not start (cublasLtCreate: ", lt.statusString(s), ")"));
  if (cu::Result r = cu.MemAlloc(&g->workspace, kWorkspaceBytes);
      r != cu::kSuccess)
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate cuBLASLt's workspace of ",
                     kWorkspaceBytes, " bytes: ", cu.errorString(r)));
  g->workspaceBytes = kWorkspaceBytes;
  return g;
}

CublasGemm::~CublasGemm() {
  for (auto &[key, p] : plans) {
    for (lt::MatrixLayout l : {p.a, p.b, p.c})
      if (l)
        lt.MatrixLayoutDestroy(l);
    if (p.desc)
      lt.MatmulDescDestroy(p.desc);
  }
  if (workspace)
    cu.MemFree(workspace);
  if (handle)
    lt.Destroy(handle);
}

void CublasGemm::check(lt::Status status, const char *call,
                       const Key &key) const {
  if (status == lt::kSuccess)
    return;
  auto [dtype, batch, m, n, k, transA, transB, align] = key;
  fatal(absl::StrCat("palmrt_gemm: ", call, " failed for ",
                     describeKey(dtype, batch, m, n, k, transA, transB), ": ",
                     lt.statusString(status)));
}

const CublasGemm::Plan &CublasGemm::plan(const Key &key) {
  auto [it, added] = plans.try_emplace(key);
  Plan &p = it->second;
  if (!added)
    return p;
  auto [dtype, batch, m, n, k, transA, transB, align] = key;
  int type = dtype == PALMRT_BF16 ? lt::kTypeBf16 : lt::kTypeF32;
  check(lt.MatmulDescCreate(&p.desc, lt::kComputeF32, lt::kTypeF32),
        "cublasLtMatmulDescCreate", key);
  int32_t opFirst = transB ? lt::kOpT : lt::kOpN;
  int32_t opSecond = transA ? lt::kOpT : lt::kOpN;
  check(lt.MatmulDescSetAttribute(p.desc, lt::kDescTransA, &opFirst,
                                  sizeof(opFirst)),
        "cublasLtMatmulDescSetAttribute", key);
  check(lt.MatmulDescSetAttribute(p.desc, lt::kDescTransB, &opSecond,
                                  sizeof(opSecond)),
        "cublasLtMatmulDescSetAttribute", key);

  // Our B: [k, n] row-major is [n, k] column-major with ld n; [n, k] (trans)
  // is [k, n] with ld k. Likewise our A with m. C is [n, m], ld n.
  struct Shape {
    lt::MatrixLayout *layout;
    uint64_t rows, cols;
    int64_t stride;
  } shapes[] = {
      {&p.a, static_cast<uint64_t>(transB ? k : n),
       static_cast<uint64_t>(transB ? n : k), n * k},
      {&p.b, static_cast<uint64_t>(transA ? m : k),
       static_cast<uint64_t>(transA ? k : m), m * k},
      {&p.c, static_cast<uint64_t>(n), static_cast<uint64_t>(m), m * n},
  };
  int32_t count = static_cast<int32_t>(batch);
  for (const Shape &s : shapes) {
    check(lt.MatrixLayoutCreate(s.layout, type, s.rows, s.cols,
                                static_cast<int64_t>(s.rows)),
          "cublasLtMatrixLayoutCreate", key);
    if (batch == 1)
      continue;
    check(lt.MatrixLayoutSetAttribute(*s.layout, lt::kLayoutBatchCount, &count,
                                      sizeof(count)),
          "cublasLtMatrixLayoutSetAttribute", key);
    check(lt.MatrixLayoutSetAttribute(*s.layout, lt::kLayoutBatchStride,
                                      &s.stride, sizeof(s.stride)),
          "cublasLtMatrixLayoutSetAttribute", key);
  }

  lt::MatmulPreference pref = nullptr;
  check(lt.MatmulPreferenceCreate(&pref), "cublasLtMatmulPreferenceCreate",
        key);
  uint64_t maxWorkspace = workspaceBytes;
  check(lt.MatmulPreferenceSetAttribute(pref, lt::kPrefMaxWorkspaceBytes,
                                        &maxWorkspace, sizeof(maxWorkspace)),
        "cublasLtMatmulPreferenceSetAttribute", key);
  uint32_t alignment = static_cast<uint32_t>(align);
  for (int attribute : {lt::kPrefMinAlignmentA, lt::kPrefMinAlignmentB,
                        lt::kPrefMinAlignmentC, lt::kPrefMinAlignmentD})
    check(lt.MatmulPreferenceSetAttribute(pref, attribute, &alignment,
                                          sizeof(alignment)),
          "cublasLtMatmulPreferenceSetAttribute", key);
  lt::HeuristicResult result{};
  int returned = 0;
  lt::Status s = lt.MatmulAlgoGetHeuristic(handle, p.desc, p.a, p.b, p.c, p.c,
                                           pref, 1, &result, &returned);
  lt.MatmulPreferenceDestroy(pref);
  check(s, "cublasLtMatmulAlgoGetHeuristic", key);
  if (returned < 1 || result.state != lt::kSuccess)
    fatal(absl::StrCat("palmrt_gemm: cuBLASLt has no algorithm for ",
                       describeKey(dtype, batch, m, n, k, transA, transB),
                       " with ", align, "-byte aligned operands"));
  p.algo = result.algo;
  p.workspace = result.workspaceSize;
  return p;
}

void CublasGemm::run(int32_t dtype, int64_t batch, int64_t m, int64_t n,
                     int64_t k, const void *a, bool transA, const void *b,
                     bool transB, const void *addend, void *c) {
  if (dtype != PALMRT_F32 && dtype != PALMRT_BF16)
    fatal(absl::StrCat("palmrt_gemm: element type ", dtype,
                       " is not supported on cuda (f32 and bf16 are)"));
  if (batch <= 0 || m <= 0 || n <= 0)
    return;
  int64_t elemBytes = dtype == PALMRT_BF16 ? 2 : 4;
  auto devicePtr = [](const void *p) {
    return static_cast<cu::DevicePtr>(reinterpret_cast<uintptr_t>(p));
  };
  if (k <= 0) {
    // No products: C is the addend, or zeros.
    size_t bytes = static_cast<size_t>(batch * m * n * elemBytes);
    cu::Result r =
        addend ? cu.MemcpyDtoDAsync(devicePtr(c), devicePtr(addend), bytes,
                                    stream)
               : cu.MemsetD8Async(devicePtr(c), 0, bytes, stream);
    if (r != cu::kSuccess)
      fatal(absl::StrCat("palmrt_gemm: ",
                         addend ? "cuMemcpyDtoDAsync" : "cuMemsetD8Async",
                         " failed: ", cu.errorString(r)));
    return;
  }
  if (batch > INT_MAX)
    fatal(absl::StrCat("palmrt_gemm: a batch of ", batch,
                       " problems exceeds cuBLASLt's 32-bit count"));
  uintptr_t bits = reinterpret_cast<uintptr_t>(a) |
                   reinterpret_cast<uintptr_t>(b) |
                   reinterpret_cast<uintptr_t>(c) |
                   reinterpret_cast<uintptr_t>(addend);
  int64_t align = 256;
  while (align > 1 && bits % align != 0)
    align /= 2;
  Key key{dtype, batch, m, n, k, transA, transB, align};
  const Plan &p = plan(key);
  // With an addend cuBLASLt's epilogue adds it: D = A B + 1 * C, C the
  // addend and D the result (same layout).
  float alpha = 1.0f, beta = addend ? 1.0f : 0.0f;
  const void *cIn = addend ? addend : c;
  check(lt.Matmul(handle, p.desc, &alpha, b, p.a, a, p.b, &beta, cIn, p.c, c,
                  p.c,
                  &p.algo,
                  reinterpret_cast<void *>(static_cast<uintptr_t>(workspace)),
                  p.workspace, stream),
        "cublasLtMatmul", key);
}

} // namespace palmrt
