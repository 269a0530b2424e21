// RUN: palm-opt %s -split-input-file -palm-lower-to-runtime | FileCheck %s

// Ops the runtime's calls do not take as written are put into a form they
// take (Legalize.cpp), never refused.

// A contraction over a middle dimension: the lhs is transposed to [4, 3, 8]
// (free, then contracting), then one GEMM of m 12, n 5, k 8.
module attributes {palm.level = #palm.level<local>} {
  // CHECK-LABEL: func.func @palm_forward
  // CHECK: call @palmrt_transpose(%{{[0-9]+}}, %[[T:[0-9]+]], %c3_i32
  // CHECK: call @palmrt_gemm(%arg2, %c0_i32{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c12_i64{{[_0-9]*}}, %c5_i64{{[_0-9]*}}, %c8_i64{{[_0-9]*}}, %[[T]], %c0_i32
  func.func @middle_contraction(%a: tensor<4x8x3xf32>, %b: tensor<8x5xf32>) -> tensor<4x3x5xf32> {
    %0 = palm.dot_general %a, %b, contracting_dims = [1] x [0] : (tensor<4x8x3xf32>, tensor<8x5xf32>) -> tensor<4x3x5xf32>
    return %0 : tensor<4x3x5xf32>
  }
}

// -----

// Batch dimensions that do not lead: both operands are transposed to put
// the batch (3) first; a batched GEMM of m 4, n 5, k 8.
module attributes {palm.level = #palm.level<local>} {
  // CHECK-LABEL: func.func @palm_forward
  // CHECK: call @palmrt_transpose
  // CHECK: call @palmrt_gemm(%arg2, %c0_i32{{[_0-9]*}}, %c3_i64{{[_0-9]*}}, %c4_i64{{[_0-9]*}}, %c5_i64{{[_0-9]*}}, %c8_i64
  func.func @batch_not_leading(%a: tensor<4x3x8xf32>, %b: tensor<3x8x5xf32>) -> tensor<3x4x5xf32> {
    %0 = palm.dot_general %a, %b, contracting_dims = [2] x [1], batch_dims = [1] x [0] : (tensor<4x3x8xf32>, tensor<3x8x5xf32>) -> tensor<3x4x5xf32>
    return %0 : tensor<3x4x5xf32>
  }
}

// -----

// Contracting dimensions paired out of order: the rhs is transposed so that
// its contracting dimensions follow the lhs's order.
module attributes {palm.level = #palm.level<local>} {
  // CHECK-LABEL: func.func @palm_forward
  // CHECK: call @palmrt_transpose
  // CHECK: call @palmrt_gemm(%arg2, %c0_i32{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c2_i64{{[_0-9]*}}, %c5_i64{{[_0-9]*}}, %c12_i64
  func.func @crossed_pairs(%a: tensor<2x3x4xf32>, %b: tensor<4x3x5xf32>) -> tensor<2x5xf32> {
    %0 = palm.dot_general %a, %b, contracting_dims = [1, 2] x [1, 0] : (tensor<2x3x4xf32>, tensor<4x3x5xf32>) -> tensor<2x5xf32>
    return %0 : tensor<2x5xf32>
  }
}

// -----

// bf16 on the CPU, whose heavy kernels compute in f32: the layer norm runs
// on f32 copies of its operands and its result is rounded back to bf16.
module attributes {palm.level = #palm.level<local>} {
  // CHECK-LABEL: func.func @palm_forward
  // CHECK: arith.extf %{{.*}} : bf16 to f32
  // CHECK: arith.extf %{{.*}} : bf16 to f32
  // CHECK: call @palmrt_layer_norm_f32
  // CHECK: arith.truncf %{{.*}} : f32 to bf16
  func.func @bf16_layer_norm(%x: tensor<2x16xbf16>, %s: tensor<16xbf16>) -> tensor<2x16xbf16> {
    %0 = palm.layer_norm %x, %s : (tensor<2x16xbf16>, tensor<16xbf16>) -> tensor<2x16xbf16>
    return %0 : tensor<2x16xbf16>
  }
}

// -----

// bf16 GEMM on the CPU: f32 operands, f32 product, rounded back.
module attributes {palm.level = #palm.level<local>} {
  // CHECK-LABEL: func.func @palm_forward
  // CHECK: call @palmrt_gemm(%arg2, %c0_i32
  // CHECK: arith.truncf %{{.*}} : f32 to bf16
  func.func @bf16_gemm(%a: tensor<4x8xbf16>, %b: tensor<8x5xbf16>) -> tensor<4x5xbf16> {
    %0 = palm.dot_general %a, %b, contracting_dims = [1] x [0] : (tensor<4x8xbf16>, tensor<8x5xbf16>) -> tensor<4x5xbf16>
    return %0 : tensor<4x5xbf16>
  }
}
