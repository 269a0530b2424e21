// RUN: palm-opt %s -split-input-file -palm-lower-to-runtime=target=cuda | FileCheck %s

// Every collective calls its palmrt function with the communicator group of
// its mesh axes (numbered in order of first use), the element type's code
// and, for sum/max reductions, the reduction's code.
module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(data = 2, model = 4)
  // CHECK-LABEL: func.func @palm_forward
  // The same calls as on the CPU (the cuda backend serves them with NCCL).
  // CHECK: call @palmrt_all_reduce(%arg2, %{{[0-9]+}}, %{{[0-9]+}}, %c32_i64{{[_0-9]*}}, %c0_i32{{[_0-9]*}}, %c1_i32{{[_0-9]*}}, %c0_i32{{[_0-9]*}})
  // CHECK: call @palmrt_all_gather(%arg2, %{{[0-9]+}}, %{{[0-9]+}}, %c2_i32{{[_0-9]*}}, %{{[0-9]+}}, %c1_i32{{[_0-9]*}}, %c0_i32{{[_0-9]*}}, %c0_i32{{[_0-9]*}})
  // CHECK: call @palmrt_reduce_scatter(%arg2, %{{[0-9]+}}, %{{[0-9]+}}, %c2_i32{{[_0-9]*}}, %{{[0-9]+}}, %c1_i32{{[_0-9]*}}, %c0_i32{{[_0-9]*}}, %c0_i32{{[_0-9]*}}, %c0_i32{{[_0-9]*}})
  // CHECK: call @palmrt_all_to_all(%arg2, %{{[0-9]+}}, %{{[0-9]+}}, %c2_i32{{[_0-9]*}}, %{{[0-9]+}}, %c1_i32{{[_0-9]*}}, %c0_i32{{[_0-9]*}}, %c0_i32{{[_0-9]*}}, %c0_i32{{[_0-9]*}})
  // CHECK: call @palmrt_collective_permute(%arg2, %{{[0-9]+}}, %{{[0-9]+}}, %c32_i64{{[_0-9]*}}, %c1_i32{{[_0-9]*}}, %c0_i32{{[_0-9]*}}, %c4_i64{{[_0-9]*}}, %{{[0-9]+}})
  // CHECK: call @palmrt_all_slice(%arg2, %{{[0-9]+}}, %{{[0-9]+}}, %c2_i32{{[_0-9]*}}, %{{[0-9]+}}, %c0_i32{{[_0-9]*}}, %c0_i32{{[_0-9]*}}, %c1_i32{{[_0-9]*}})
  // Every result is a collective's, computed in its buffer.
  // CHECK-NOT: palmrt_launch
  // CHECK-NOT: palmrt_copy
  // CHECK: return
  func.func @all(%x: tensor<4x8xf32>, %h: tensor<4x8xbf16>, %u: tensor<9x8xf32>) -> (tensor<4x8xf32>, tensor<4x32xf32>, tensor<4x2xf32>, tensor<16x2xf32>, tensor<4x8xbf16>, tensor<5x8xf32>) {
    %0 = palm.all_reduce %x on @mesh [model] max : tensor<4x8xf32>
    %1 = palm.all_gather %x on @mesh [model] dim 1 : tensor<4x8xf32> -> tensor<4x32xf32>
    %2 = palm.reduce_scatter %x on @mesh [model] sum dim 1 : tensor<4x8xf32> -> tensor<4x2xf32>
    %3 = palm.all_to_all %x on @mesh [model] split 1 concat 0 : tensor<4x8xf32> -> tensor<16x2xf32>
    %4 = palm.collective_permute %h on @mesh [model] pairs [0 -> 1, 1 -> 2, 2 -> 3, 3 -> 0] : tensor<4x8xbf16>
    %5 = palm.all_slice %u on @mesh [data] dim 0 : tensor<9x8xf32> -> tensor<5x8xf32>
    return %0, %1, %2, %3, %4, %5 : tensor<4x8xf32>, tensor<4x32xf32>, tensor<4x2xf32>, tensor<16x2xf32>, tensor<4x8xbf16>, tensor<5x8xf32>
  }
}
