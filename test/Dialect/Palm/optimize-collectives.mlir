// RUN: palm-opt %s -split-input-file -palm-optimize-collectives | FileCheck %s
// RUN: palm-opt %s -split-input-file -palm-optimize-collectives=combine-threshold=0 | FileCheck %s --check-prefix=NOCOMBINE

module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(data = 2, model = 2)
  // An all-reduce sliced over the same axes is a reduce-scatter.
  // CHECK-LABEL: func.func @reduce_then_slice
  func.func @reduce_then_slice(%x: tensor<4x8xf32>) -> tensor<4x4xf32> {
    // CHECK-NEXT: %[[R:.*]] = palm.reduce_scatter %arg0 on @mesh [model] sum dim 1 : tensor<4x8xf32> -> tensor<4x4xf32>
    // CHECK-NEXT: return %[[R]]
    %0 = palm.all_reduce %x on @mesh [model] sum : tensor<4x8xf32>
    %1 = palm.all_slice %0 on @mesh [model] dim 1 : tensor<4x8xf32> -> tensor<4x4xf32>
    return %1 : tensor<4x4xf32>
  }

  // Not when the slice is over other axes.
  // CHECK-LABEL: func.func @reduce_then_other_slice
  func.func @reduce_then_other_slice(%x: tensor<4x8xf32>) -> tensor<4x4xf32> {
    // CHECK-NEXT: palm.all_reduce
    // CHECK-NEXT: palm.all_slice
    %0 = palm.all_reduce %x on @mesh [model] sum : tensor<4x8xf32>
    %1 = palm.all_slice %0 on @mesh [data] dim 1 : tensor<4x8xf32> -> tensor<4x4xf32>
    return %1 : tensor<4x4xf32>
  }

  // A gather sliced back is its operand, and an even slice gathered back.
  // CHECK-LABEL: func.func @gather_slice_cancel
  func.func @gather_slice_cancel(%x: tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
    // CHECK-NEXT: return %arg0, %arg0
    %0 = palm.all_gather %x on @mesh [model] dim 0 : tensor<4x8xf32> -> tensor<8x8xf32>
    %1 = palm.all_slice %0 on @mesh [model] dim 0 : tensor<8x8xf32> -> tensor<4x8xf32>
    %2 = palm.all_slice %x on @mesh [data] dim 1 : tensor<4x8xf32> -> tensor<4x4xf32>
    %3 = palm.all_gather %2 on @mesh [data] dim 1 : tensor<4x4xf32> -> tensor<4x8xf32>
    return %1, %3 : tensor<4x8xf32>, tensor<4x8xf32>
  }

  // An uneven slice gathered back has padding: it stays.
  // CHECK-LABEL: func.func @uneven_slice_gather
  func.func @uneven_slice_gather(%x: tensor<5x8xf32>) -> tensor<6x8xf32> {
    // CHECK-NEXT: palm.all_slice
    // CHECK-NEXT: palm.all_gather
    %0 = palm.all_slice %x on @mesh [data] dim 0 : tensor<5x8xf32> -> tensor<3x8xf32>
    %1 = palm.all_gather %0 on @mesh [data] dim 0 : tensor<3x8xf32> -> tensor<6x8xf32>
    return %1 : tensor<6x8xf32>
  }

  // Identical gathers of one value are one gather.
  // CHECK-LABEL: func.func @merge_identical
  func.func @merge_identical(%w: tensor<4x8xf32>) -> (tensor<8x8xf32>, tensor<8x8xf32>, tensor<4x16xf32>) {
    // CHECK-NEXT: %[[G:.*]] = palm.all_gather %arg0 on @mesh [data] dim 0
    // CHECK-NEXT: %[[H:.*]] = palm.all_gather %arg0 on @mesh [data] dim 1
    // CHECK-NEXT: return %[[G]], %[[G]], %[[H]]
    %0 = palm.all_gather %w on @mesh [data] dim 0 : tensor<4x8xf32> -> tensor<8x8xf32>
    %1 = palm.all_gather %w on @mesh [data] dim 0 : tensor<4x8xf32> -> tensor<8x8xf32>
    %2 = palm.all_gather %w on @mesh [data] dim 1 : tensor<4x8xf32> -> tensor<4x16xf32>
    return %0, %1, %2 : tensor<8x8xf32>, tensor<8x8xf32>, tensor<4x16xf32>
  }

  // Small independent all-reduces over the same axes run as one.
  // CHECK-LABEL: func.func @combine
  // NOCOMBINE-LABEL: func.func @combine
  func.func @combine(%a: tensor<2x3xf32>, %b: tensor<4xf32>) -> (tensor<2x3xf32>, tensor<4xf32>) {
    // CHECK-NEXT: %[[A:.*]] = palm.reshape %arg0 : tensor<2x3xf32> -> tensor<6xf32>
    // CHECK-NEXT: %[[C:.*]] = tensor.concat dim(0) %[[A]], %arg1 : (tensor<6xf32>, tensor<4xf32>) -> tensor<10xf32>
    // CHECK-NEXT: %[[R:.*]] = palm.all_reduce %[[C]] on @mesh [model] sum : tensor<10xf32>
    // CHECK-NEXT: %[[RA:.*]] = tensor.extract_slice %[[R]][0] [6] [1]
    // CHECK-NEXT: %[[A2:.*]] = palm.reshape %[[RA]] : tensor<6xf32> -> tensor<2x3xf32>
    // CHECK-NEXT: %[[RB:.*]] = tensor.extract_slice %[[R]][6] [4] [1]
    // CHECK-NEXT: return %[[A2]], %[[RB]]
    // NOCOMBINE-COUNT-2: palm.all_reduce
    %0 = palm.all_reduce %a on @mesh [model] sum : tensor<2x3xf32>
    %1 = palm.all_reduce %b on @mesh [model] sum : tensor<4xf32>
    return %0, %1 : tensor<2x3xf32>, tensor<4xf32>
  }

  // Dependent all-reduces cannot run together.
  // CHECK-LABEL: func.func @dependent
  func.func @dependent(%a: tensor<4xf32>) -> tensor<4xf32> {
    // CHECK-COUNT-2: palm.all_reduce
    %0 = palm.all_reduce %a on @mesh [model] max : tensor<4xf32>
    %1 = palm.silu %0 : tensor<4xf32>
    %2 = palm.all_reduce %1 on @mesh [model] max : tensor<4xf32>
    return %2 : tensor<4xf32>
  }
}
