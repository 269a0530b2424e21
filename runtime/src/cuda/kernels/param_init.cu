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

#include "param_init.h"

extern "C" __global__ void palmrt_init_normal(palmrt::InitNormalParams p) {
  int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       i < p.elements; i += step)
    palmrt::initNormalElement(p, i);
}
