// RUN: palm-opt %s -split-input-file -palm-lower-to-runtime=target=cuda | FileCheck %s

// dot_general is one batched GEMM, operands in place: A [m, k] or [k, m]
// (trans_a), B [k, n] or [n, k] (trans_b), leading batch dimensions.
module attributes {palm.level = #palm.level<local>} {
  // CHECK-LABEL: func.func @palm_forward
  // CHECK: call @palmrt_gemm(%arg2, %c0_i32{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c4_i64{{[_0-9]*}}, %c5_i64{{[_0-9]*}}, %c8_i64{{[_0-9]*}}, %{{[0-9]+}}, %c0_i32{{[_0-9]*}}, %{{[0-9]+}}, %c0_i32{{[_0-9]*}}, %{{[0-9]+}})
  // CHECK-NOT: palmrt_launch
  func.func @plain(%a: tensor<4x8xf32>, %b: tensor<8x5xf32>) -> tensor<4x5xf32> {
    %0 = palm.dot_general %a, %b, contracting_dims = [1] x [0] : (tensor<4x8xf32>, tensor<8x5xf32>) -> tensor<4x5xf32>
    return %0 : tensor<4x5xf32>
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  // CHECK-LABEL: func.func @palm_forward
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
  // CHECK: call @palmrt_gemm(%arg2, %c0_i32{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c12_i64{{[_0-9]*}}, %c10_i64{{[_0-9]*}}, %c12_i64{{[_0-9]*}}, %{{[0-9]+}}, %c0_i32{{[_0-9]*}}, %{{[0-9]+}}, %c0_i32{{[_0-9]*}}, %{{[0-9]+}})
  // CHECK: call @palmrt_gemm(%arg2, %c0_i32{{[_0-9]*}}, %c3_i64{{[_0-9]*}}, %c6_i64{{[_0-9]*}}, %c5_i64{{[_0-9]*}}, %c4_i64{{[_0-9]*}}, %{{[0-9]+}}, %c0_i32{{[_0-9]*}}, %{{[0-9]+}}, %c0_i32{{[_0-9]*}}, %{{[0-9]+}})
  func.func @multi(%a: tensor<2x6x3x4xf32>, %w: tensor<3x4x10xf32>, %p: tensor<3x6x4xf32>, %q: tensor<3x4x5xf32>) -> (tensor<2x6x10xf32>, tensor<3x6x5xf32>) {
    %0 = palm.dot_general %a, %w, contracting_dims = [2, 3] x [0, 1] : (tensor<2x6x3x4xf32>, tensor<3x4x10xf32>) -> tensor<2x6x10xf32>
    %1 = palm.dot_general %p, %q, contracting_dims = [2] x [1], batch_dims = [0] x [0] : (tensor<3x6x4xf32>, tensor<3x4x5xf32>) -> tensor<3x6x5xf32>
    return %0, %1 : tensor<2x6x10xf32>, tensor<3x6x5xf32>
  }
}

// -----

// bf16 operands pass their dtype code (cuBLASLt accumulates in f32).
module attributes {palm.level = #palm.level<local>} {
  // CHECK-LABEL: func.func @palm_forward
  // CHECK: call @palmrt_gemm(%arg2, %c1_i32{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c4_i64{{[_0-9]*}}, %c5_i64{{[_0-9]*}}, %c8_i64{{[_0-9]*}}, %{{[0-9]+}}, %c0_i32{{[_0-9]*}}, %{{[0-9]+}}, %c1_i32{{[_0-9]*}}, %{{[0-9]+}})
  // CHECK-NOT: palmrt_copy
  func.func @bf16(%a: tensor<4x8xbf16>, %b: tensor<5x8xbf16>) -> tensor<4x5xbf16> {
    %0 = palm.dot_general %a, %b, contracting_dims = [1] x [1] : (tensor<4x8xbf16>, tensor<5x8xbf16>) -> tensor<4x5xbf16>
    return %0 : tensor<4x5xbf16>
  }
}
