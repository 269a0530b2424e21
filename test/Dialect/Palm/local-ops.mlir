// Round trip of the local pieces of sharded ops and of the local-level
// attributes of the Transformer ops.
// RUN: palm-opt %s | palm-opt | FileCheck %s
// RUN: palm-opt %s -mlir-print-op-generic | palm-opt | FileCheck %s

module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(data = 2, model = 4)

  // CHECK-LABEL: func.func @masked_embedding
  func.func @masked_embedding(%t: tensor<13x16xf32>, %ids: tensor<2x8xi32>) -> tensor<2x8x16xf32> {
    // CHECK: palm.embedding %{{.*}}[%{{.*}}] {vocab_shard = #palm.dim_shard<@mesh, [model], 50>}
    %0 = palm.embedding %t[%ids] {vocab_shard = #palm.dim_shard<@mesh, [model], 50>} : (tensor<13x16xf32>, tensor<2x8xi32>) -> tensor<2x8x16xf32>
    return %0 : tensor<2x8x16xf32>
  }

  // CHECK-LABEL: func.func @sharded_heads
  func.func @sharded_heads(%q: tensor<2x8x2x4xf32>, %k: tensor<2x8x2x4xf32>) -> tensor<2x8x2x4xf32> {
    // CHECK: palm.attention {{.*}} {causal, heads_shard = #palm.dim_shard<@mesh, [model], 8>}
    %0 = palm.attention %q, %k, %k {causal, heads_shard = #palm.dim_shard<@mesh, [model], 8>} : (tensor<2x8x2x4xf32>, tensor<2x8x2x4xf32>, tensor<2x8x2x4xf32>) -> tensor<2x8x2x4xf32>
    return %0 : tensor<2x8x2x4xf32>
  }

  // CHECK-LABEL: func.func @grouped_heads_and_query_shard
  // Two of 8 query heads with their one of 4 key/value heads, and queries
  // 8..15 of 16 attending causally over all 16 keys.
  func.func @grouped_heads_and_query_shard(%q: tensor<2x8x2x4xf32>, %k: tensor<2x16x1x4xf32>) -> tensor<2x8x2x4xf32> {
    // CHECK: palm.attention {{.*}} {causal, heads_shard = #palm.dim_shard<@mesh, [model], 8>, kv_heads_shard = #palm.dim_shard<@mesh, [model], 4>, seq_shard = #palm.dim_shard<@mesh, [data], 16>}
    %0 = palm.attention %q, %k, %k {causal, heads_shard = #palm.dim_shard<@mesh, [model], 8>, kv_heads_shard = #palm.dim_shard<@mesh, [model], 4>, seq_shard = #palm.dim_shard<@mesh, [data], 16>} : (tensor<2x8x2x4xf32>, tensor<2x16x1x4xf32>, tensor<2x16x1x4xf32>) -> tensor<2x8x2x4xf32>
    return %0 : tensor<2x8x2x4xf32>
  }

  // CHECK-LABEL: func.func @rope_sequence_shard
  func.func @rope_sequence_shard(%x: tensor<2x8x2x4xf32>) -> tensor<2x8x2x4xf32> {
    // CHECK: palm.rope %{{.*}} {seq_shard = #palm.dim_shard<@mesh, [data], 16>}
    %0 = palm.rope %x {seq_shard = #palm.dim_shard<@mesh, [data], 16>} : tensor<2x8x2x4xf32>
    return %0 : tensor<2x8x2x4xf32>
  }

  // CHECK-LABEL: func.func @local_cross_entropy
  func.func @local_cross_entropy(%l: tensor<3x8x32xf32>, %t: tensor<3x8xi32>) -> tensor<f32> {
    // CHECK: palm.cross_entropy {{.*}} {token_count = 40 : i64, token_shards = [#palm.dim_shard<@mesh, [data], 5>, unit]}
    %0 = palm.cross_entropy %l, %t {token_count = 40 : i64, token_shards = [#palm.dim_shard<@mesh, [data], 5>, unit]} : (tensor<3x8x32xf32>, tensor<3x8xi32>) -> tensor<f32>
    return %0 : tensor<f32>
  }

  // CHECK-LABEL: func.func @sharded_softmax
  func.func @sharded_softmax(%l: tensor<2x8x13xf32>, %t: tensor<2x8xi32>) -> tensor<f32> {
    // CHECK: palm.softmax_max %{{.*}} shard <@mesh, [model], 50> : tensor<2x8x13xf32> -> tensor<2x8xf32>
    %m = palm.softmax_max %l shard <@mesh, [model], 50> : tensor<2x8x13xf32> -> tensor<2x8xf32>
    %gm = palm.all_reduce %m on @mesh [model] max : tensor<2x8xf32>
    // CHECK: palm.softmax_sums %{{.*}}, %{{.*}}, %{{.*}} shard <@mesh, [model], 50> : (tensor<2x8x13xf32>, tensor<2x8xf32>, tensor<2x8xi32>) -> tensor<2x2x8xf32>
    %s = palm.softmax_sums %l, %gm, %t shard <@mesh, [model], 50> : (tensor<2x8x13xf32>, tensor<2x8xf32>, tensor<2x8xi32>) -> tensor<2x2x8xf32>
    %gs = palm.all_reduce %s on @mesh [model] sum : tensor<2x2x8xf32>
    // CHECK: palm.cross_entropy_loss %{{.*}}, %{{.*}} {token_count = 16 : i64, z_loss = 0.000000e+00 : f32} : (tensor<2x8xf32>, tensor<2x2x8xf32>) -> tensor<f32>
    %loss = palm.cross_entropy_loss %gm, %gs {z_loss = 0.0 : f32, token_count = 16 : i64} : (tensor<2x8xf32>, tensor<2x2x8xf32>) -> tensor<f32>
    return %loss : tensor<f32>
  }

  // CHECK-LABEL: func.func @mask
  func.func @mask(%x: tensor<2x8x3xf32>) -> tensor<2x8x3xf32> {
    // CHECK: palm.mask_padding %{{.*}} dim 2 shard <@mesh, [model], 10> : tensor<2x8x3xf32>
    %0 = palm.mask_padding %x dim 2 shard <@mesh, [model], 10> : tensor<2x8x3xf32>
    return %0 : tensor<2x8x3xf32>
  }

  // CHECK-LABEL: func.func @fusion
  func.func @fusion(%a: tensor<2x8xbf16>, %b: tensor<2x8xf32>) -> tensor<2x8xf32> {
    // CHECK: %[[R:.*]] = palm.fusion(%{{.*}}, %{{.*}}) : (tensor<2x8xbf16>, tensor<2x8xf32>) -> tensor<2x8xf32> {
    // CHECK: ^bb0(%[[X:.*]]: tensor<2x8xbf16>, %[[Y:.*]]: tensor<2x8xf32>):
    // CHECK:   %[[C:.*]] = palm.convert %[[X]] : tensor<2x8xbf16> -> tensor<2x8xf32>
    // CHECK:   %[[S:.*]] = palm.add %[[C]], %[[Y]] : tensor<2x8xf32>
    // CHECK:   palm.yield %[[S]] : tensor<2x8xf32>
    // CHECK: }
    %0 = palm.fusion(%a, %b) : (tensor<2x8xbf16>, tensor<2x8xf32>) -> tensor<2x8xf32> {
    ^bb0(%x: tensor<2x8xbf16>, %y: tensor<2x8xf32>):
      %1 = palm.convert %x : tensor<2x8xbf16> -> tensor<2x8xf32>
      %2 = palm.add %1, %y : tensor<2x8xf32>
      palm.yield %2 : tensor<2x8xf32>
    }
    return %0 : tensor<2x8xf32>
  }
}
