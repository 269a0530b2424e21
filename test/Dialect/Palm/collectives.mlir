// Round trip of the local-level collectives.
// RUN: palm-opt %s | palm-opt | FileCheck %s
// RUN: palm-opt %s -mlir-print-op-generic | palm-opt | FileCheck %s

module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(data = 2, model = 4)

  // CHECK-LABEL: func.func @all_gather
  func.func @all_gather(%x: tensor<4x8xf32>) -> (tensor<4x32xf32>, tensor<32x8xf32>) {
    // CHECK: palm.all_gather %{{.*}} on @mesh [model] dim 1 : tensor<4x8xf32> -> tensor<4x32xf32>
    %0 = palm.all_gather %x on @mesh [model] dim 1 : tensor<4x8xf32> -> tensor<4x32xf32>
    // Two axes, major to minor: groups of 8.
    // CHECK: palm.all_gather %{{.*}} on @mesh [data, model] dim 0 : tensor<4x8xf32> -> tensor<32x8xf32>
    %1 = palm.all_gather %x on @mesh [data, model] dim 0 : tensor<4x8xf32> -> tensor<32x8xf32>
    return %0, %1 : tensor<4x32xf32>, tensor<32x8xf32>
  }

  // CHECK-LABEL: func.func @all_reduce
  func.func @all_reduce(%x: tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
    // CHECK: palm.all_reduce %{{.*}} on @mesh [model] sum : tensor<4x8xf32>
    %0 = palm.all_reduce %x on @mesh [model] sum : tensor<4x8xf32>
    // CHECK: palm.all_reduce %{{.*}} on @mesh [model, data] max : tensor<4x8xf32>
    %1 = palm.all_reduce %x on @mesh [model, data] max : tensor<4x8xf32>
    return %0, %1 : tensor<4x8xf32>, tensor<4x8xf32>
  }

  // CHECK-LABEL: func.func @reduce_scatter
  func.func @reduce_scatter(%x: tensor<4x8xf32>) -> tensor<4x2xf32> {
    // CHECK: palm.reduce_scatter %{{.*}} on @mesh [model] sum dim 1 : tensor<4x8xf32> -> tensor<4x2xf32>
    %0 = palm.reduce_scatter %x on @mesh [model] sum dim 1 : tensor<4x8xf32> -> tensor<4x2xf32>
    return %0 : tensor<4x2xf32>
  }

  // CHECK-LABEL: func.func @all_to_all
  func.func @all_to_all(%x: tensor<4x8xf32>) -> tensor<16x2xf32> {
    // CHECK: palm.all_to_all %{{.*}} on @mesh [model] split 1 concat 0 : tensor<4x8xf32> -> tensor<16x2xf32>
    %0 = palm.all_to_all %x on @mesh [model] split 1 concat 0 : tensor<4x8xf32> -> tensor<16x2xf32>
    return %0 : tensor<16x2xf32>
  }

  // CHECK-LABEL: func.func @collective_permute
  func.func @collective_permute(%x: tensor<4x8xbf16>) -> tensor<4x8xbf16> {
    // CHECK: palm.collective_permute %{{.*}} on @mesh [model] pairs [0 -> 1, 1 -> 2, 2 -> 3, 3 -> 0] : tensor<4x8xbf16>
    %0 = palm.collective_permute %x on @mesh [model] pairs [0 -> 1, 1 -> 2, 2 -> 3, 3 -> 0] : tensor<4x8xbf16>
    return %0 : tensor<4x8xbf16>
  }

  // CHECK-LABEL: func.func @all_slice
  func.func @all_slice(%x: tensor<9x8xf32>) -> (tensor<5x8xf32>, tensor<9x2xf32>) {
    // Uneven: 9 over 2 gives shards of 5, the second padded.
    // CHECK: palm.all_slice %{{.*}} on @mesh [data] dim 0 : tensor<9x8xf32> -> tensor<5x8xf32>
    %0 = palm.all_slice %x on @mesh [data] dim 0 : tensor<9x8xf32> -> tensor<5x8xf32>
    // CHECK: palm.all_slice %{{.*}} on @mesh [model] dim 1 : tensor<9x8xf32> -> tensor<9x2xf32>
    %1 = palm.all_slice %x on @mesh [model] dim 1 : tensor<9x8xf32> -> tensor<9x2xf32>
    return %0, %1 : tensor<5x8xf32>, tensor<9x2xf32>
  }

  // Compute ops work on local shapes too.
  // CHECK-LABEL: func.func @local_compute
  func.func @local_compute(%x: tensor<2x8x16xf32>, %w: tensor<16x32xf32>) -> tensor<2x8x32xf32> {
    // CHECK: palm.dot_general
    %0 = palm.dot_general %x, %w, contracting_dims = [2] x [0] : (tensor<2x8x16xf32>, tensor<16x32xf32>) -> tensor<2x8x32xf32>
    // CHECK: palm.all_reduce
    %1 = palm.all_reduce %0 on @mesh [data] sum : tensor<2x8x32xf32>
    return %1 : tensor<2x8x32xf32>
  }
}
