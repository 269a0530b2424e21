//===- param_init.h - one element of a generated parameter ------*- C++ -*-===//
//
// The body of palmrt_init_normal (param_init.cu), shared with the emulated
// driver of the tests, which runs it natively for every launch except where
// a test asks for the PTX to be interpreted (interpreting the generator for
// millions of parameters would take minutes).
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_SRC_CUDA_KERNELS_PARAM_INIT_H
#define PALMRT_SRC_CUDA_KERNELS_PARAM_INIT_H

#include "../../base/bf16.h"
#include "../../base/normal_init.h"
#include "kernel_params.h"

namespace palmrt {

/// Writes element `i` of `p.out` (kernel_params.h, InitNormalParams).
PALMRT_HOST_DEVICE inline void initNormalElement(const InitNormalParams &p,
                                                 int64_t i) {
  namespace ni = normal_init;
  int64_t rest = i, global = 0, stride = 1;
  bool padding = false;
  for (int32_t d = p.rank - 1; d >= 0; --d) {
    int64_t at = p.offset[d] + rest % p.localShape[d];
    rest /= p.localShape[d];
    padding |= at >= p.globalShape[d];
    global += at * stride;
    stride *= p.globalShape[d];
  }
  double v = padding
                 ? 0.0
                 : ni::mul(p.stddev,
                           ni::parameterNormal(p.seed, p.nameHash,
                                               static_cast<uint64_t>(global)));
#ifdef __CUDA_ARCH__
  float f = __double2float_rn(v);
#else
  float f = static_cast<float>(v);
#endif
  if (p.bf16)
    static_cast<uint16_t *>(p.out)[i] = floatToBf16(f);
  else
    static_cast<float *>(p.out)[i] = f;
}

} // namespace palmrt

#endif // PALMRT_SRC_CUDA_KERNELS_PARAM_INIT_H
