//===- embedded_kernels.h - palmrt's own GPU modules ------------*- C++ -*-===//
//
// Fatbins nvcc built from kernels/*.cu at build time (sm_80 and sm_90
// machine code plus compute_90 PTX), embedded as byte arrays by
// embed_file.cmake and loaded with cuModuleLoadData.
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_SRC_CUDA_EMBEDDED_KERNELS_H
#define PALMRT_SRC_CUDA_EMBEDDED_KERNELS_H

#include <cstddef>

extern "C" {
extern const unsigned char palmrt_attention_fatbin[];
extern const size_t palmrt_attention_fatbin_size;
extern const unsigned char palmrt_attention_grad_fatbin[];
extern const size_t palmrt_attention_grad_fatbin_size;
extern const unsigned char palmrt_block_copy_fatbin[];
extern const size_t palmrt_block_copy_fatbin_size;
extern const unsigned char palmrt_param_init_fatbin[];
extern const size_t palmrt_param_init_fatbin_size;
}

#endif // PALMRT_SRC_CUDA_EMBEDDED_KERNELS_H
