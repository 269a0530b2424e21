//===- cuda_gemm.h - palmrt_gemm on cuBLASLt --------------------*- C++ -*-===//

#ifndef PALMRT_SRC_CUDA_CUDA_GEMM_H
#define PALMRT_SRC_CUDA_CUDA_GEMM_H

#include "cuda/dynamic_libraries.h"

#include <map>
#include <memory>
#include <tuple>

namespace palmrt {

/// Row-major batched GEMMs (palmrt.h) as cuBLASLt matmuls on one stream,
/// with f32 accumulation. Each shape is planned once: descriptors and the
/// algorithm cuBLASLt's heuristic picks for it are cached.
class CublasGemm {
public:
  static absl::StatusOr<std::unique_ptr<CublasGemm>>
  create(const CudaDriver &cu, const CublasLt &lt, cu::Stream stream);
  ~CublasGemm();

  /// Enqueues C = op(A) op(B) (+ addend, laid out as C, unless null) for
  /// each of `batch` problems; failures are fatal.
  void run(int32_t dtype, int64_t batch, int64_t m, int64_t n, int64_t k,
           const void *a, bool transA, const void *b, bool transB,
           const void *addend, void *c);

private:
  CublasGemm(const CudaDriver &cu, const CublasLt &lt, cu::Stream stream)
      : cu(cu), lt(lt), stream(stream) {}

  struct Plan {
    lt::MatmulDesc desc = nullptr;
    lt::MatrixLayout a = nullptr, b = nullptr, c = nullptr;
    lt::MatmulAlgo algo{};
    size_t workspace = 0;
  };
  /// dtype, batch, m, n, k, transA, transB, and the alignment (bytes) all
  /// three pointers share, which limits the algorithms cuBLASLt may pick.
  using Key = std::tuple<int32_t, int64_t, int64_t, int64_t, int64_t, bool,
                         bool, int64_t>;
  const Plan &plan(const Key &key);
  void check(lt::Status status, const char *call, const Key &key) const;

  const CudaDriver &cu;
  const CublasLt &lt;
  cu::Stream stream;
  lt::Handle handle = nullptr;
  cu::DevicePtr workspace = 0;
  size_t workspaceBytes = 0;
  std::map<Key, Plan> plans;
};

} // namespace palmrt

#endif // PALMRT_SRC_CUDA_CUDA_GEMM_H
