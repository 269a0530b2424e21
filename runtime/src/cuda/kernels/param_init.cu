//===- param_init.cu - parameters generated where they live ---------------===//
//
// The counter-based parameter generator of generator.h on the GPU: each
// element is a pure function of (seed, name, global index), computed by the
// transform the CPU uses (base/normal_init.h, exactly rounded double
// operations only), so a GPU-generated shard is bit for bit the CPU's. A
// model of billions of parameters starts in the time of one pass over its
// memory instead of minutes on the host.
//
//===----------------------------------------------------------------------===//

#include "../../base/normal_init.h"
#include "kernel_params.h"

extern "C" __global__ void palmrt_init_normal(palmrt::InitNormalParams p) {
  namespace ni = palmrt::normal_init;
  int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       i < p.elements; i += step) {
    int64_t rest = i, global = 0, stride = 1;
    bool padding = false;
    for (int32_t d = p.rank - 1; d >= 0; --d) {
      int64_t at = p.offset[d] + rest % p.localShape[d];
      rest /= p.localShape[d];
      padding |= at >= p.globalShape[d];
      global += at * stride;
      stride *= p.globalShape[d];
    }
    double v =
        padding ? 0.0
                : ni::mul(p.stddev,
                          ni::parameterNormal(p.seed, p.nameHash,
                                              static_cast<uint64_t>(global)));
    float f = __double2float_rn(v);
    if (p.bf16)
      static_cast<uint16_t *>(p.out)[i] = ni::bf16OfFloat(f);
    else
      static_cast<float *>(p.out)[i] = f;
  }
}
