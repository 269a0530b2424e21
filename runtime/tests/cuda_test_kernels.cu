//===- cuda_test_kernels.cu - kernels the cuda tests launch ---------------===//
//
// Compiled to PTX at build time and passed to palmrt_launch the way the
// compiler's generated kernels are. The fake driver (fake_cuda/) runs host
// versions of the same kernels by name; keep the two in step.
//
//===----------------------------------------------------------------------===//

#include <stdint.h>

extern "C" {

/// x[i] += value, i < n.
__global__ void palmrt_test_add(float *x, float value, int64_t n) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n)
    x[i] += value;
}

/// Through `n` floats of dynamic shared memory: out[i] = 2 i + 1. One block.
__global__ void palmrt_test_shared(float *out, int64_t n) {
  extern __shared__ float staged[];
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
    staged[i] = 2.0f * static_cast<float>(i);
  __syncthreads();
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
    out[n - 1 - i] = staged[n - 1 - i] + 1.0f;
}

/// out[i, :] = table[ids[i], :] for ids in [0, rows), zeros otherwise.
__global__ void palmrt_test_embed(const float *table, const int32_t *ids,
                                  float *out, int64_t n, int64_t d,
                                  int64_t rows) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n * d)
    return;
  int64_t row = ids[i / d];
  out[i] = row >= 0 && row < rows ? table[row * d + i % d] : 0.0f;
}

/// out[0] = scale * sum of x[i]^2, i < n. One block of 256 threads.
__global__ void palmrt_test_sum_squares(const float *x, float *out, int64_t n,
                                        float scale) {
  __shared__ float partial[256];
  float sum = 0.0f;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
    sum += x[i] * x[i];
  partial[threadIdx.x] = sum;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride)
      partial[threadIdx.x] += partial[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0)
    out[0] = scale * partial[0];
}

} // extern "C"
