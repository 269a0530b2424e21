// RUN: palm-opt %s -split-input-file -palm-lower-to-runtime | FileCheck %s

// A reshape is a view: the GEMM reads the embedding's memory; a result an
// op computes goes straight into its buffer (slot 2, after the 2
// arguments); a result that is a view of an argument is copied into its
// buffer (slot 3); an unused tensor constant vanishes.
module attributes {palm.level = #palm.level<local>} {
  // CHECK-NOT: dense<0.000000e+00>
  // CHECK-LABEL: func.func @palm_forward
  // CHECK: %[[X:.*]] = llvm.load
  // CHECK: %[[W:.*]] = llvm.load
  // CHECK: %[[SLOT:.*]] = llvm.getelementptr %arg0[%c2_i64{{[_0-9]*}}]
  // CHECK: %[[OUT:.*]] = llvm.load %[[SLOT]]
  // CHECK-NOT: arith.constant dense
  // CHECK: call @palmrt_gemm(%arg2, %c0_i32{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c16_i64{{[_0-9]*}}, %c4_i64{{[_0-9]*}}, %c8_i64{{[_0-9]*}}, %[[X]], %c0_i32{{[_0-9]*}}, %[[W]], %c0_i32{{[_0-9]*}}, %[[OUT]])
  // The view, 16 x 8 f32, is copied into buffer 3.
  // CHECK: %[[SLOT3:.*]] = llvm.getelementptr %arg0[%c3_i64]
  // CHECK: %[[DST:.*]] = llvm.load %[[SLOT3]]
  // CHECK: "llvm.intr.memcpy"(%[[DST]], %[[X]], %c512_i64)
  // CHECK-NEXT: return
  func.func @view(%x: tensor<2x8x8xf32>, %w: tensor<8x4xf32>) -> (tensor<16x4xf32>, tensor<16x8xf32>) {
    %c = arith.constant dense<0.0> : tensor<4xf32>
    %0 = palm.reshape %x : tensor<2x8x8xf32> -> tensor<16x8xf32>
    %1 = palm.dot_general %0, %w, contracting_dims = [1] x [0] : (tensor<16x8xf32>, tensor<8x4xf32>) -> tensor<16x4xf32>
    return %1, %0 : tensor<16x4xf32>, tensor<16x8xf32>
  }
}
