// RUN: palm-opt %s -palm-lower-to-runtime | FileCheck %s

// The arena's placement. %n (1 KiB) is read by %a's op, so the two overlap;
// %b (4 KiB) is defined after %n's last use and overlaps %a. First fit in
// definition order puts %n at 0, %a at 1024 and %b, which no longer fits
// below %a, at 5120: 9216 bytes. Placing the largest first puts %a at 0, %b
// at 4096 and %n in the gap above %a (it never overlaps %b): 8192 bytes,
// the most that is ever live at once. (A product, not a sum: a sum of %a
// and %b would be %b's GEMM's epilogue, below.)
// CHECK: llvm.mlir.global external constant @palm_arena_bytes(8192 : i64)
module attributes {palm.level = #palm.level<local>} {
  func.func @f(%x: tensor<1x256xf32>, %s: tensor<256xf32>,
               %w1: tensor<256x1024xf32>, %w2: tensor<1024x1024xf32>)
      -> tensor<1x1024xf32> {
    %n = palm.layer_norm %x, %s : (tensor<1x256xf32>, tensor<256xf32>) -> tensor<1x256xf32>
    %a = palm.dot_general %n, %w1, contracting_dims = [1] x [0] : (tensor<1x256xf32>, tensor<256x1024xf32>) -> tensor<1x1024xf32>
    %b = palm.dot_general %a, %w2, contracting_dims = [1] x [0] : (tensor<1x1024xf32>, tensor<1024x1024xf32>) -> tensor<1x1024xf32>
    %y = palm.mul %a, %b : tensor<1x1024xf32>
    return %y : tensor<1x1024xf32>
  }
}
