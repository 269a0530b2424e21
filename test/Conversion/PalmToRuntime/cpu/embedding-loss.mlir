// RUN: palm-opt %s -split-input-file -palm-lower-to-runtime | FileCheck %s

// The lookup of a vocabulary shard passes its first row's global index.
module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(data = 2, model = 2)
  // CHECK-LABEL: func.func @palm_forward
  // CHECK: %[[G:.*]] = call @palmrt_group_index(%arg2, %c0_i32{{[_0-9]*}})
  // CHECK: %[[OFF:.*]] = arith.muli %[[G]], %c17_i64{{[_0-9]*}}
  // 16 ids, rows 17 of 8, the shard's first row.
  // CHECK: call @palmrt_embedding_f32(%{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %c16_i64{{[_0-9]*}}, %c17_i64{{[_0-9]*}}, %c8_i64{{[_0-9]*}}, %[[OFF]])
  func.func @lookup(%t: tensor<17x8xf32>, %ids: tensor<2x8xi32>) -> tensor<2x8x8xf32> {
    %0 = palm.embedding %t[%ids] {vocab_shard = #palm.dim_shard<@mesh, [model], 33>} : (tensor<17x8xf32>, tensor<2x8xi32>) -> tensor<2x8x8xf32>
    return %0 : tensor<2x8x8xf32>
  }
}

// -----

// The loss of a token shard counts only its valid tokens.
module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(data = 2)
  // CHECK-DAG: llvm.mlir.global private constant @__palm_i64_0(dense<[3, 8]> : tensor<2xi64>)
  // CHECK-LABEL: func.func @palm_forward
  // Tokens [3, 8]: the first dimension's shard holds min(max(5 - 3 i, 0), 3)
  // valid tokens, the second all 8.
  // CHECK: %[[TOKENS:.*]] = llvm.mlir.addressof @__palm_i64_0
  // CHECK: %[[G:.*]] = call @palmrt_group_index(%arg2, %c0_i32{{[_0-9]*}})
  // CHECK: %[[OFF:.*]] = arith.muli %[[G]], %c3_i64{{[_0-9]*}}
  // CHECK: %[[REST:.*]] = arith.subi %c5_i64{{[_0-9]*}}, %[[OFF]]
  // CHECK: %[[POS:.*]] = arith.maxsi %[[REST]], %c0_i64{{[_0-9]*}}
  // CHECK: %[[VALID:.*]] = arith.minsi %[[POS]], %c3_i64{{[_0-9]*}}
  // CHECK: %[[EXTENTS:.*]] = llvm.alloca
  // CHECK: llvm.store %[[VALID]]
  // CHECK: llvm.store %c8_i64{{[_0-9]*}}
  // CHECK: call @palmrt_cross_entropy_f32(%{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %c2_i32{{[_0-9]*}}, %[[TOKENS]], %[[EXTENTS]], %c32_i64{{[_0-9]*}}, %cst{{.*}}, %c40_i64{{[_0-9]*}})
  // CHECK-NOT: call
  func.func @loss(%l: tensor<3x8x32xf32>, %t: tensor<3x8xi32>) -> tensor<f32> {
    %0 = palm.cross_entropy %l, %t {token_count = 40 : i64, token_shards = [#palm.dim_shard<@mesh, [data], 5>, unit]} : (tensor<3x8x32xf32>, tensor<3x8xi32>) -> tensor<f32>
    return %0 : tensor<f32>
  }
}

// -----

// A loss over a vocabulary shard: the shard's maximum, then (after the
// all_reduce the partitioner puts between them) its sums and target logit,
// then the loss of the combined statistics.
module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(model = 4)
  // CHECK-LABEL: func.func @palm_forward
  // The shard of 13 classes of 50 holds min(max(50 - 13 i, 0), 13).
  // CHECK: %[[G:.*]] = call @palmrt_group_index(%arg2, %c0_i32{{[_0-9]*}})
  // CHECK: %[[OFF:.*]] = arith.muli %[[G]], %c13_i64{{[_0-9]*}}
  // CHECK: %[[REST:.*]] = arith.subi %c50_i64{{[_0-9]*}}, %[[OFF]]
  // CHECK: %[[V:.*]] = arith.minsi
  // CHECK: call @palmrt_softmax_max_f32(%{{[0-9]+}}, %{{[0-9]+}}, %c16_i64{{[_0-9]*}}, %c13_i64{{[_0-9]*}}, %[[V]])
  // CHECK: %[[G2:.*]] = call @palmrt_group_index
  // CHECK: %[[OFF2:.*]] = arith.muli %[[G2]]
  // CHECK: %[[V2:.*]] = arith.minsi
  // CHECK: call @palmrt_softmax_sums_f32(%{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %c16_i64{{[_0-9]*}}, %c13_i64{{[_0-9]*}}, %[[V2]], %[[OFF2]])
  // CHECK: call @palmrt_cross_entropy_loss_f32(%{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %c2_i32{{[_0-9]*}}, %{{[0-9]+}}, %{{[0-9]+}}, %cst{{.*}}, %c16_i64{{[_0-9]*}})
  func.func @sharded(%l: tensor<2x8x13xf32>, %gm: tensor<2x8xf32>, %t: tensor<2x8xi32>, %gs: tensor<2x2x8xf32>) -> (tensor<2x8xf32>, tensor<2x2x8xf32>, tensor<f32>) {
    %m = palm.softmax_max %l shard <@mesh, [model], 50> : tensor<2x8x13xf32> -> tensor<2x8xf32>
    %s = palm.softmax_sums %l, %gm, %t shard <@mesh, [model], 50> : (tensor<2x8x13xf32>, tensor<2x8xf32>, tensor<2x8xi32>) -> tensor<2x2x8xf32>
    %loss = palm.cross_entropy_loss %gm, %gs {z_loss = 1.0e-04 : f32, token_count = 16 : i64} : (tensor<2x8xf32>, tensor<2x2x8xf32>) -> tensor<f32>
    return %m, %s, %loss : tensor<2x8xf32>, tensor<2x2x8xf32>, tensor<f32>
  }
}
