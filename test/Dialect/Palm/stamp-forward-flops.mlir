// RUN: palm-opt %s -split-input-file -palm-stamp-forward-flops | FileCheck %s

// 2 M N K for the product (2 * 8 * 32 * 16 = 8192) plus 4 b h s t d for the
// attention (2 * 2 * 8 * 4 * 8 * (4 + 4) = 8192), causal or not.
// CHECK: module attributes {palm.forward_flops = 16384 : i64}
// CHECK-LABEL: func.func @dot_and_attention
func.func @dot_and_attention(%x: tensor<8x16xf32>, %w: tensor<16x32xf32>,
                             %q: tensor<2x8x4x4xf32>, %k: tensor<2x8x1x4xf32>)
    -> (tensor<8x32xf32>, tensor<2x8x4x4xf32>) {
  %y = palm.dot_general %x, %w, contracting_dims = [1] x [0] : (tensor<8x16xf32>, tensor<16x32xf32>) -> tensor<8x32xf32>
  %a = palm.attention %q, %k, %k {causal} : (tensor<2x8x4x4xf32>, tensor<2x8x1x4xf32>, tensor<2x8x1x4xf32>) -> tensor<2x8x4x4xf32>
  return %y, %a : tensor<8x32xf32>, tensor<2x8x4x4xf32>
}

// -----

// Elementwise ops cost no model FLOPs; a global module still gets a stamp.
// CHECK: module attributes {palm.forward_flops = 0 : i64}
// CHECK-LABEL: func.func @elementwise
func.func @elementwise(%x: tensor<8xf32>) -> tensor<8xf32> {
  %0 = palm.silu %x : tensor<8xf32>
  return %0 : tensor<8xf32>
}

// -----

// A local module has lost its logical shapes: it is not stamped.
// CHECK: module attributes {palm.level = #palm.level<local>} {
// CHECK-LABEL: func.func @local
module attributes {palm.level = #palm.level<local>} {
  func.func @local(%x: tensor<8x16xf32>, %w: tensor<16x32xf32>) -> tensor<8x32xf32> {
    %y = palm.dot_general %x, %w, contracting_dims = [1] x [0] : (tensor<8x16xf32>, tensor<16x32xf32>) -> tensor<8x32xf32>
    return %y : tensor<8x32xf32>
  }
}

// -----

// ... and the count taken before partitioning is kept as it is.
// CHECK: module attributes {palm.forward_flops = 99 : i64, palm.level = #palm.level<local>} {
// CHECK-LABEL: func.func @stamped_local
module attributes {palm.forward_flops = 99 : i64, palm.level = #palm.level<local>} {
  func.func @stamped_local(%x: tensor<8x16xf32>, %w: tensor<16x32xf32>) -> tensor<8x32xf32> {
    %y = palm.dot_general %x, %w, contracting_dims = [1] x [0] : (tensor<8x16xf32>, tensor<16x32xf32>) -> tensor<8x32xf32>
    return %y : tensor<8x32xf32>
  }
}
