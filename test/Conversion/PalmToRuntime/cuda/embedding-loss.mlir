// RUN: palm-opt %s -split-input-file -palm-lower-to-runtime=target=cuda | FileCheck %s

// The lookup of a vocabulary shard passes its first row's global index.
module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(data = 2, model = 2)
  // CHECK-DAG: llvm.mlir.global private constant @__palm_str_0("palm_k0_embedding\00")
  // CHECK-LABEL: func.func @palm_forward
  // CHECK: %[[G:.*]] = call @palmrt_group_index(%arg2, %c0_i32{{[_0-9]*}})
  // CHECK: %[[OFF:.*]] = arith.muli %[[G]], %c17_i64{{[_0-9]*}}
  // The kernel's arguments: table, ids, result, 128 elements, 17 rows of 8,
  // and last the row offset.
  // CHECK: llvm.store %c128_i64{{.*}} : i64, !llvm.ptr
  // CHECK: llvm.store %c17_i64{{.*}} : i64, !llvm.ptr
  // CHECK: llvm.store %c8_i64{{.*}} : i64, !llvm.ptr
  // CHECK: %[[SLOT:.*]] = llvm.alloca %{{.*}} x i64
  // CHECK: llvm.store %[[OFF]], %[[SLOT]]
  // 128 output elements, a thread each.
  // CHECK: %[[K0:.*]] = llvm.mlir.addressof @__palm_str_0
  // CHECK: call @palmrt_launch(%arg2, %{{[0-9]+}}, %[[K0]], %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c256_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c0_i32{{[_0-9]*}}, %{{[0-9]+}})
  // Ids outside the shard read row 0 and select zero.
  // CHECK: gpu.func @palm_k0_embedding(%arg0: !llvm.ptr, %arg1: !llvm.ptr, %arg2: !llvm.ptr, %arg3: i64, %arg4: i64, %arg5: i64, %arg6: i64) kernel
  // CHECK: llvm.load %{{.*}} : !llvm.ptr -> i32
  // CHECK: arith.select
  // CHECK: llvm.load %{{.*}} : !llvm.ptr -> f32
  // CHECK: arith.select
  func.func @lookup(%t: tensor<17x8xf32>, %ids: tensor<2x8xi32>) -> tensor<2x8x8xf32> {
    %0 = palm.embedding %t[%ids] {vocab_shard = #palm.dim_shard<@mesh, [model], 33>} : (tensor<17x8xf32>, tensor<2x8xi32>) -> tensor<2x8x8xf32>
    return %0 : tensor<2x8x8xf32>
  }
}

// -----

// The loss of a token shard counts only its valid tokens.
module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(data = 2)
  // CHECK-DAG: llvm.mlir.global private constant @__palm_str_0("palm_k0_cross_entropy\00")
  // CHECK-DAG: llvm.mlir.global private constant @__palm_str_1("palm_k1_sum_f32\00")
  // CHECK-LABEL: func.func @palm_forward
  // The per-token losses in arena scratch; the result in its buffer (slot
  // 2, after the 2 arguments).
  // CHECK: %[[SLOT:.*]] = llvm.getelementptr %arg0[%c2_i64{{[_0-9]*}}]
  // CHECK: %[[OUT:.*]] = llvm.load %[[SLOT]]
  // CHECK: %[[SCRATCH:.*]] = llvm.getelementptr %arg1[%c0_i64{{[_0-9]*}}]
  // CHECK: %[[VALID:.*]] = arith.minsi
  // 24 tokens of a warp each: 3 blocks; then one warp sums them.
  // CHECK: %[[K0:.*]] = llvm.mlir.addressof @__palm_str_0
  // CHECK: call @palmrt_launch(%arg2, %{{[0-9]+}}, %[[K0]], %c3_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c256_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c0_i32{{[_0-9]*}}, %{{[0-9]+}})
  // CHECK: %[[K1:.*]] = llvm.mlir.addressof @__palm_str_1
  // CHECK: call @palmrt_launch(%arg2, %{{[0-9]+}}, %[[K1]], %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c256_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c0_i32{{[_0-9]*}}, %{{[0-9]+}})
  // CHECK: gpu.func @palm_k0_cross_entropy(%arg0: !llvm.ptr, %arg1: !llvm.ptr, %arg2: !llvm.ptr, %arg3: i64, %arg4: f32, %arg5: i64, %arg6: i64, %arg7: i64) kernel
  // CHECK: gpu.shuffle xor
  // CHECK: math.log2
  // CHECK: gpu.func @palm_k1_sum_f32(%arg0: !llvm.ptr, %arg1: !llvm.ptr, %arg2: i64) kernel
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
  // 16 tokens of a warp each: 2 blocks.
  // CHECK: %[[K0:.*]] = llvm.mlir.addressof @__palm_str_0
  // CHECK: call @palmrt_launch(%arg2, %{{[0-9]+}}, %[[K0]], %c2_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c256_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c0_i32{{[_0-9]*}}, %{{[0-9]+}})
  // CHECK: %[[K1:.*]] = llvm.mlir.addressof @__palm_str_1
  // CHECK: call @palmrt_launch(%arg2, %{{[0-9]+}}, %[[K1]], %c2_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c256_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c0_i32{{[_0-9]*}}, %{{[0-9]+}})
  // CHECK: %[[K2:.*]] = llvm.mlir.addressof @__palm_str_2
  // CHECK: call @palmrt_launch(%arg2, %{{[0-9]+}}, %[[K2]], %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c256_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c0_i32{{[_0-9]*}}, %{{[0-9]+}})
  // CHECK: %[[K3:.*]] = llvm.mlir.addressof @__palm_str_3
  // CHECK: call @palmrt_launch(%arg2, %{{[0-9]+}}, %[[K3]], %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c256_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c0_i32{{[_0-9]*}}, %{{[0-9]+}})
  // CHECK: gpu.func @palm_k0_softmax_max(%arg0: !llvm.ptr, %arg1: !llvm.ptr, %arg2: i64, %arg3: i64, %arg4: i64) kernel
  // CHECK: gpu.func @palm_k1_softmax_sums(%arg0: !llvm.ptr, %arg1: !llvm.ptr, %arg2: !llvm.ptr, %arg3: !llvm.ptr, %arg4: i64, %arg5: i64, %arg6: i64, %arg7: i64) kernel
  // CHECK: gpu.func @palm_k2_cross_entropy_loss(%arg0: !llvm.ptr, %arg1: !llvm.ptr, %arg2: !llvm.ptr, %arg3: f32, %arg4: i64, %arg5: i64, %arg6: i64) kernel
  // CHECK: gpu.func @palm_k3_sum_f32
  func.func @sharded(%l: tensor<2x8x13xf32>, %gm: tensor<2x8xf32>, %t: tensor<2x8xi32>, %gs: tensor<2x2x8xf32>) -> (tensor<2x8xf32>, tensor<2x2x8xf32>, tensor<f32>) {
    %m = palm.softmax_max %l shard <@mesh, [model], 50> : tensor<2x8x13xf32> -> tensor<2x8xf32>
    %s = palm.softmax_sums %l, %gm, %t shard <@mesh, [model], 50> : (tensor<2x8x13xf32>, tensor<2x8xf32>, tensor<2x8xi32>) -> tensor<2x2x8xf32>
    %loss = palm.cross_entropy_loss %gm, %gs {z_loss = 1.0e-04 : f32, token_count = 16 : i64} : (tensor<2x8xf32>, tensor<2x2x8xf32>) -> tensor<f32>
    return %m, %s, %loss : tensor<2x8xf32>, tensor<2x2x8xf32>, tensor<f32>
  }
}
