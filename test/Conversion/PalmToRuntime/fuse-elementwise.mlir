// RUN: palm-opt %s -split-input-file -palm-fuse-elementwise | FileCheck %s
// RUN: palm-opt %s -split-input-file -palm-fuse-elementwise -palm-fuse-elementwise | FileCheck %s

// A chain is one fusion; its inputs are the leaves in order of first use.
module attributes {palm.level = #palm.level<local>} {
  // CHECK-LABEL: func.func @chain
  // CHECK-SAME: (%[[A:.*]]: tensor<8xf32>, %[[B:.*]]: tensor<8xf32>)
  // CHECK:      %[[F:.*]] = palm.fusion(%[[A]], %[[B]]) : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32> {
  // CHECK-NEXT: ^bb0(%[[X:.*]]: tensor<8xf32>, %[[Y:.*]]: tensor<8xf32>):
  // CHECK-NEXT:   %[[S:.*]] = palm.add %[[X]], %[[Y]]
  // CHECK-NEXT:   %[[T:.*]] = palm.silu %[[S]]
  // CHECK-NEXT:   %[[U:.*]] = palm.scale %[[T]] {factor = 2.000000e+00 : f32}
  // CHECK-NEXT:   palm.yield %[[U]] : tensor<8xf32>
  // CHECK-NEXT: }
  // CHECK-NEXT: return %[[F]]
  func.func @chain(%a: tensor<8xf32>, %b: tensor<8xf32>) -> tensor<8xf32> {
    %0 = palm.add %a, %b : tensor<8xf32>
    %1 = palm.silu %0 : tensor<8xf32>
    %2 = palm.scale %1 {factor = 2.0 : f32} : tensor<8xf32>
    return %2 : tensor<8xf32>
  }
}

// -----

// A value read twice is stored: it roots its own fusion and is a leaf of
// its readers' (SwiGLU's silu(x) * x, where x is the GEMM's result). Leaves
// keep their first-use order and appear once.
module attributes {palm.level = #palm.level<local>} {
  // CHECK-LABEL: func.func @shared
  // CHECK-SAME: (%[[A:.*]]: tensor<4xf32>, %[[B:.*]]: tensor<4xf32>)
  // CHECK:      %[[F0:.*]] = palm.fusion(%[[A]], %[[B]])
  // CHECK:        palm.mul
  // CHECK-NEXT:   palm.yield
  // CHECK:      %[[F1:.*]] = palm.fusion(%[[F0]], %[[B]])
  // CHECK-NEXT: ^bb0(%[[X:.*]]: tensor<4xf32>, %[[Y:.*]]: tensor<4xf32>):
  // CHECK-NEXT:   %[[S:.*]] = palm.silu %[[X]]
  // CHECK-NEXT:   %[[M:.*]] = palm.mul %[[S]], %[[X]]
  // CHECK-NEXT:   %[[P:.*]] = palm.add %[[M]], %[[Y]]
  // CHECK-NEXT:   palm.yield %[[P]]
  // CHECK:      return %[[F1]]
  func.func @shared(%a: tensor<4xf32>, %b: tensor<4xf32>) -> tensor<4xf32> {
    %0 = palm.mul %a, %b : tensor<4xf32>
    %1 = palm.silu %0 : tensor<4xf32>
    %2 = palm.mul %1, %0 : tensor<4xf32>
    %3 = palm.add %2, %b : tensor<4xf32>
    return %3 : tensor<4xf32>
  }
}

// -----

// An elementwise result read by another kind of op is stored; a lone
// elementwise op is a fusion of one.
module attributes {palm.level = #palm.level<local>} {
  // CHECK-LABEL: func.func @boundary
  // CHECK:      %[[C:.*]] = palm.fusion
  // CHECK:        palm.convert
  // CHECK:      palm.dot_general %[[C]]
  // CHECK:      palm.fusion
  // CHECK-NEXT: ^bb0
  // CHECK-NEXT:   palm.silu
  // CHECK-NEXT:   palm.yield
  func.func @boundary(%x: tensor<4x8xbf16>, %w: tensor<8x2xf32>) -> tensor<4x2xf32> {
    %0 = palm.convert %x : tensor<4x8xbf16> -> tensor<4x8xf32>
    %1 = palm.dot_general %0, %w, contracting_dims = [1] x [0] : (tensor<4x8xf32>, tensor<8x2xf32>) -> tensor<4x2xf32>
    %2 = palm.silu %1 : tensor<4x2xf32>
    return %2 : tensor<4x2xf32>
  }
}
