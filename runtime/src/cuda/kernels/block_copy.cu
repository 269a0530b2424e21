//===- block_copy.cu - strided block copies for the cuda backend ----------===//
//
// The one data-movement kernel of the runtime: packing pieces of a tensor
// around NCCL calls (collectives along a dimension other than the outermost)
// and all_slice. The launcher merges contiguous dimensions and picks the
// widest word the addresses allow, so most copies are 16-byte words over
// one or two dimensions.
//
//===----------------------------------------------------------------------===//

#include "kernel_params.h"

namespace {

template <typename Word>
__device__ void copyBlock(const palmrt::BlockCopyParams &p) {
  const Word *src = static_cast<const Word *>(p.src);
  Word *dst = static_cast<Word *>(p.dst);
  int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t piece = blockIdx.y; piece < p.pieces; piece += gridDim.y)
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x +
                     threadIdx.x;
         i < p.words; i += step) {
      int64_t from, to;
      palmrt::blockCopyIndex(p, piece, i, &from, &to);
      dst[to] = src[from];
    }
}

} // namespace

extern "C" {
__global__ void palmrt_block_copy_1(palmrt::BlockCopyParams p) {
  copyBlock<unsigned char>(p);
}
__global__ void palmrt_block_copy_2(palmrt::BlockCopyParams p) {
  copyBlock<unsigned short>(p);
}
__global__ void palmrt_block_copy_4(palmrt::BlockCopyParams p) {
  copyBlock<unsigned int>(p);
}
__global__ void palmrt_block_copy_8(palmrt::BlockCopyParams p) {
  copyBlock<uint2>(p);
}
__global__ void palmrt_block_copy_16(palmrt::BlockCopyParams p) {
  copyBlock<uint4>(p);
}
}
