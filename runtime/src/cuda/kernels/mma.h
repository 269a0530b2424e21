//===- mma.h - tensor-core helpers of the attention kernels -----*- C++ -*-===//
//
// cp.async, ldmatrix and mma.sync.m16n8k16 (bf16 inputs, f32 accumulation)
// for the tensor-core kernels of attention.cu and attention_grad.cu (sm_80
// and later). Fragment layouts (PTX ISA, mma.m16n8k16 with .bf16): with
// g = lane / 4 and c = 2 * (lane % 4), A (16 x 16, row major) registers
// a0..a3 hold (g, c..c+1), (g+8, c..c+1), (g, c+8..c+9), (g+8, c+8..c+9); B
// (16 x 8, column major) b0, b1 hold rows c..c+1 and c+8..c+9 of column g;
// C/D (16 x 8, f32) hold (g, c), (g, c+1), (g+8, c), (g+8, c+1). So the
// accumulators of two adjacent 8-column tiles, rounded to bf16 in pairs,
// are the A operand of one 16 x 16 tile.
//
//===----------------------------------------------------------------------===//

#ifndef PALMRT_SRC_CUDA_KERNELS_MMA_H
#define PALMRT_SRC_CUDA_KERNELS_MMA_H

#include <cuda_bf16.h>
#include <stdint.h>

namespace palmrt::mma {

/// Copies 16 bytes from global to shared memory without waiting (cp.async,
/// bypassing L1); with `valid` false it writes zeros and reads nothing.
__device__ inline void copyAsync(void *shared, const void *global,
                                 bool valid) {
  auto address = static_cast<uint32_t>(__cvta_generic_to_shared(shared));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;"
               :
               : "r"(address), "l"(global), "r"(valid ? 16 : 0)
               : "memory");
}
__device__ inline void commitCopies() {
  asm volatile("cp.async.commit_group;" ::: "memory");
}
/// Waits until at most `Pending` committed groups of copies are in flight.
template <int Pending> __device__ inline void waitCopies() {
  asm volatile("cp.async.wait_group %0;" ::"n"(Pending) : "memory");
}

/// ldmatrix.x4: lane i gives the address of row i % 8 of tile i / 8; r[m]
/// receives the lane's fragment of tile m (transposed with Trans).
template <bool Trans>
__device__ inline void loadTiles(uint32_t (&r)[4], const __nv_bfloat16 *row) {
  auto address = static_cast<uint32_t>(__cvta_generic_to_shared(row));
  if (Trans)
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 "
                 "{%0, %1, %2, %3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(address));
  else
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 "
                 "{%0, %1, %2, %3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(address));
}

/// Two floats as bf16 in one register, `lo` in the low half.
__device__ inline uint32_t packBf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t *>(&v);
}

/// c += a * b for one 16 x 8 x 16 tile.
__device__ inline void mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                           uint32_t b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
               "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
               "{%0, %1, %2, %3};"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0),
                 "r"(b1));
}

/// The A operand of the 16 x 16 tile whose columns are the accumulator
/// tiles lo and hi (8 columns each), rounded to bf16.
__device__ inline void accumulatorsAsA(uint32_t (&a)[4], const float (&lo)[4],
                                       const float (&hi)[4]) {
  a[0] = packBf16(lo[0], lo[1]);
  a[1] = packBf16(lo[2], lo[3]);
  a[2] = packBf16(hi[0], hi[1]);
  a[3] = packBf16(hi[2], hi[3]);
}

} // namespace palmrt::mma

#endif // PALMRT_SRC_CUDA_KERNELS_MMA_H
