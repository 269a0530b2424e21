// RUN: palm-opt %s -split-input-file -palm-lower-to-runtime | FileCheck %s

// dot_general is one batched GEMM, operands in place: A [m, k] or [k, m]
// (trans_a), B [k, n] or [n, k] (trans_b), leading batch dimensions.
module attributes {palm.level = #palm.level<local>} {
  // CHECK-LABEL: func.func @palm_forward
  // CHECK: %[[A:.*]] = llvm.load
  // CHECK: %[[B:.*]] = llvm.load
  // CHECK: %[[C:.*]] = llvm.load
  // [m, k] x [k, n]: batch 1, m 4, n 5, k 8, neither transposed.
  // CHECK: call @palmrt_gemm(%arg2, %c0_i32{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c4_i64{{[_0-9]*}}, %c5_i64{{[_0-9]*}}, %c8_i64{{[_0-9]*}}, %[[A]], %c0_i32{{[_0-9]*}}, %[[B]], %c0_i32{{[_0-9]*}}, %[[C]])
  func.func @plain(%a: tensor<4x8xf32>, %b: tensor<8x5xf32>) -> tensor<4x5xf32> {
    %0 = palm.dot_general %a, %b, contracting_dims = [1] x [0] : (tensor<4x8xf32>, tensor<8x5xf32>) -> tensor<4x5xf32>
    return %0 : tensor<4x5xf32>
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  // CHECK-LABEL: func.func @palm_forward
  // A [k, m] and B [n, k]: both transposed.
  // CHECK: call @palmrt_gemm(%arg2, %c0_i32{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c4_i64{{[_0-9]*}}, %c5_i64{{[_0-9]*}}, %c8_i64{{[_0-9]*}}, %{{[0-9]+}}, %c1_i32{{[_0-9]*}}, %{{[0-9]+}}, %c1_i32{{[_0-9]*}}, %{{[0-9]+}})
  func.func @transposed(%a: tensor<8x4xf32>, %b: tensor<5x8xf32>) -> tensor<4x5xf32> {
    %0 = palm.dot_general %a, %b, contracting_dims = [0] x [1] : (tensor<8x4xf32>, tensor<5x8xf32>) -> tensor<4x5xf32>
    return %0 : tensor<4x5xf32>
  }
}

// -----

// Two contracting dimensions (heads x head_dim of an output projection) and
// a leading batch dimension.
module attributes {palm.level = #palm.level<local>} {
  // CHECK-LABEL: func.func @palm_forward
  // [2*6, 3*4] x [3*4, 10], then 3 batches of [6, 4] x [4, 5].
  // CHECK: call @palmrt_gemm(%arg2, %c0_i32{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c12_i64{{[_0-9]*}}, %c10_i64{{[_0-9]*}}, %c12_i64{{[_0-9]*}}, %{{[0-9]+}}, %c0_i32{{[_0-9]*}}, %{{[0-9]+}}, %c0_i32{{[_0-9]*}}, %{{[0-9]+}})
  // CHECK: call @palmrt_gemm(%arg2, %c0_i32{{[_0-9]*}}, %c3_i64{{[_0-9]*}}, %c6_i64{{[_0-9]*}}, %c5_i64{{[_0-9]*}}, %c4_i64{{[_0-9]*}}, %{{[0-9]+}}, %c0_i32{{[_0-9]*}}, %{{[0-9]+}}, %c0_i32{{[_0-9]*}}, %{{[0-9]+}})
  func.func @multi(%a: tensor<2x6x3x4xf32>, %w: tensor<3x4x10xf32>, %p: tensor<3x6x4xf32>, %q: tensor<3x4x5xf32>) -> (tensor<2x6x10xf32>, tensor<3x6x5xf32>) {
    %0 = palm.dot_general %a, %w, contracting_dims = [2, 3] x [0, 1] : (tensor<2x6x3x4xf32>, tensor<3x4x10xf32>) -> tensor<2x6x10xf32>
    %1 = palm.dot_general %p, %q, contracting_dims = [2] x [1], batch_dims = [0] x [0] : (tensor<3x6x4xf32>, tensor<3x4x5xf32>) -> tensor<3x6x5xf32>
    return %0, %1 : tensor<2x6x10xf32>, tensor<3x6x5xf32>
  }
}
