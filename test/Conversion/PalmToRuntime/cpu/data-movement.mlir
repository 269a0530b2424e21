// RUN: palm-opt %s -split-input-file -palm-lower-to-runtime | FileCheck %s

// Transposes, slices, concatenations and padding masks (any element type,
// by element size).
module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(model = 2)
  // CHECK-DAG: llvm.mlir.global private constant @__palm_i64_0(dense<[2, 3, 4]>
  // CHECK-DAG: llvm.mlir.global private constant @__palm_i64_1(dense<[2, 0, 1]>
  // CHECK-DAG: llvm.mlir.global private constant @__palm_i64_4(dense<[0, 1, 0]>
  // CHECK-DAG: llvm.mlir.global private constant @__palm_i64_7(dense<0> : tensor<2xi64>)
  // CHECK-DAG: llvm.mlir.global private constant @__palm_i64_10(dense<[0, 5]>
  // CHECK-LABEL: func.func @palm_forward
  // CHECK: %[[X:.*]] = llvm.load
  // CHECK: %[[Y:.*]] = llvm.load
  // CHECK: %[[Z:.*]] = llvm.load
  // CHECK: %[[T:.*]] = llvm.load
  // CHECK: %[[S:.*]] = llvm.load
  // CHECK: %[[C:.*]] = llvm.load
  // CHECK: %[[M:.*]] = llvm.load
  // Rank 3, in shape, permutation, 4-byte elements.
  // CHECK: %[[IN:.*]] = llvm.mlir.addressof @__palm_i64_0
  // CHECK: %[[PERM:.*]] = llvm.mlir.addressof @__palm_i64_1
  // CHECK: call @palmrt_transpose(%[[X]], %[[T]], %c3_i32{{[_0-9]*}}, %[[IN]], %[[PERM]], %c4_i64{{[_0-9]*}})
  // CHECK: call @palmrt_extract_slice(%[[X]], %[[S]], %c3_i32{{[_0-9]*}}, %{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %c4_i64{{[_0-9]*}})
  // The concatenation writes each input at its offset (0, then 5), 2-byte elements.
  // CHECK: call @palmrt_insert_slice(%[[Y]], %[[C]], %c2_i32{{[_0-9]*}}, %{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %c2_i64{{[_0-9]*}})
  // CHECK: call @palmrt_insert_slice(%[[Z]], %[[C]], %c2_i32{{[_0-9]*}}, %{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %c2_i64{{[_0-9]*}})
  // The mask keeps min(max(7 - 4 i, 0), 4) of dim 2.
  // CHECK: call @palmrt_group_index
  // CHECK: %[[V:.*]] = arith.minsi
  // CHECK: call @palmrt_mask_padding(%[[X]], %[[M]], %c3_i32{{[_0-9]*}}, %{{[0-9]+}}, %c2_i32{{[_0-9]*}}, %[[V]], %c4_i64{{[_0-9]*}})
  func.func @move(%x: tensor<2x3x4xf32>, %y: tensor<2x5xbf16>, %z: tensor<2x3xbf16>) -> (tensor<4x2x3xf32>, tensor<2x2x4xf32>, tensor<2x8xbf16>, tensor<2x3x4xf32>) {
    %0 = palm.transpose %x, permutation = [2, 0, 1] : tensor<2x3x4xf32> -> tensor<4x2x3xf32>
    %1 = tensor.extract_slice %x[0, 1, 0] [2, 2, 4] [1, 1, 1] : tensor<2x3x4xf32> to tensor<2x2x4xf32>
    %2 = tensor.concat dim(1) %y, %z : (tensor<2x5xbf16>, tensor<2x3xbf16>) -> tensor<2x8xbf16>
    %3 = palm.mask_padding %x dim 2 shard <@mesh, [model], 7> : tensor<2x3x4xf32>
    return %0, %1, %2, %3 : tensor<4x2x3xf32>, tensor<2x2x4xf32>, tensor<2x8xbf16>, tensor<2x3x4xf32>
  }
}

// -----

// The resharder's zero padding of an uneven dimension (before a
// reduce-scatter): the shapes before and after, 2-byte elements.
module attributes {palm.level = #palm.level<local>} {
  // CHECK-DAG: llvm.mlir.global private constant @__palm_i64_0(dense<[9, 8]> : tensor<2xi64>)
  // CHECK-DAG: llvm.mlir.global private constant @__palm_i64_1(dense<[10, 8]> : tensor<2xi64>)
  // CHECK-LABEL: func.func @palm_forward
  // CHECK: %[[X:.*]] = llvm.load
  // CHECK: %[[OUT:.*]] = llvm.load
  // CHECK: %[[IN:.*]] = llvm.mlir.addressof @__palm_i64_0
  // CHECK: %[[TO:.*]] = llvm.mlir.addressof @__palm_i64_1
  // CHECK: call @palmrt_pad(%[[X]], %[[OUT]], %c2_i32{{[_0-9]*}}, %[[IN]], %[[TO]], %c2_i64{{[_0-9]*}})
  // CHECK-NOT: tensor.
  func.func @pad(%x: tensor<9x8xbf16>) -> tensor<10x8xbf16> {
    %zero = arith.constant 0.0 : bf16
    %0 = tensor.pad %x low[0, 0] high[1, 0] {
    ^bb0(%i: index, %j: index):
      tensor.yield %zero : bf16
    } : tensor<9x8xbf16> to tensor<10x8xbf16>
    return %0 : tensor<10x8xbf16>
  }
}
