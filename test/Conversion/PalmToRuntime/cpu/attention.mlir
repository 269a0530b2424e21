// RUN: palm-opt %s -split-input-file -palm-lower-to-runtime | FileCheck %s

// Attention calls the runtime's fused attention on both targets: the
// element type's code, the shapes, and for a query-head shard its global
// head offset (from palmrt_group_index), heads per key/value head, the
// global head count and the queries' global position (0 when whole).
module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(model = 2)
  // CHECK-LABEL: func.func @palm_forward
  // CHECK: %[[Q:.*]] = llvm.load
  // CHECK: %[[K:.*]] = llvm.load
  // CHECK: %[[OUT:.*]] = llvm.load
  // CHECK: %[[G:.*]] = call @palmrt_group_index(%arg2, %c0_i32{{[_0-9]*}})
  // CHECK: %[[OFF:.*]] = arith.muli %[[G]], %c2_i64{{[_0-9]*}}
  // b 2, s 8, t 8, h 2, g 1, dk 4, dv 4, causal; the head offset, 4 heads
  // per key/value head, 4 heads in all.
  // CHECK: %[[NULL:.*]] = llvm.mlir.zero : !llvm.ptr
  // CHECK: call @palmrt_attention(%arg2, %c0_i32{{[_0-9]*}}, %[[Q]], %[[K]], %[[K]], %[[OUT]], %c2_i64{{[_0-9]*}}, %c8_i64{{[_0-9]*}}, %c8_i64{{[_0-9]*}}, %c2_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c4_i64{{[_0-9]*}}, %c4_i64{{[_0-9]*}}, %c1_i32{{[_0-9]*}}, %cst{{.*}}, %[[OFF]], %c4_i64{{[_0-9]*}}, %c4_i64{{[_0-9]*}}, %c0_i64{{[_0-9]*}}, %[[NULL]])
  func.func @mqa(%q: tensor<2x8x2x4xf32>, %k: tensor<2x8x1x4xf32>) -> tensor<2x8x2x4xf32> {
    %0 = palm.attention %q, %k, %k {causal, heads_shard = #palm.dim_shard<@mesh, [model], 4>} : (tensor<2x8x2x4xf32>, tensor<2x8x1x4xf32>, tensor<2x8x1x4xf32>) -> tensor<2x8x2x4xf32>
    return %0 : tensor<2x8x2x4xf32>
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  // CHECK-LABEL: func.func @palm_forward
  // Not causal, scale 0.5, keys of 6 positions, values of 2 elements.
  // CHECK: %cst = arith.constant 5.000000e-01 : f32
  // CHECK: %[[NULL:.*]] = llvm.mlir.zero : !llvm.ptr
  // CHECK: call @palmrt_attention(%arg2, %c0_i32{{[_0-9]*}}, %{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %c1_i64{{[_0-9]*}}, %c8_i64{{[_0-9]*}}, %c6_i64{{[_0-9]*}}, %c4_i64{{[_0-9]*}}, %c4_i64{{[_0-9]*}}, %c4_i64{{[_0-9]*}}, %c2_i64{{[_0-9]*}}, %c0_i32{{[_0-9]*}}, %cst, %c0_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c4_i64{{[_0-9]*}}, %c0_i64{{[_0-9]*}}, %[[NULL]])
  func.func @cross(%q: tensor<1x8x4x4xf32>, %k: tensor<1x6x4x4xf32>, %v: tensor<1x6x4x2xf32>) -> tensor<1x8x4x2xf32> {
    %0 = palm.attention %q, %k, %v {scale = 0.5 : f32} : (tensor<1x8x4x4xf32>, tensor<1x6x4x4xf32>, tensor<1x6x4x2xf32>) -> tensor<1x8x4x2xf32>
    return %0 : tensor<1x8x4x2xf32>
  }
}

// -----

// Grouped heads split with the query heads, and queries split along the
// sequence: the head offset is shifted by the query heads the preceding
// key/value heads serve (group index * 1 kv head * 4 heads per group), so
// the runtime indexes the local key/value heads; the query offset is the
// shard's first global position.
module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(data = 2, model = 2)
  // CHECK-LABEL: func.func @palm_forward
  // CHECK: %[[GH:.*]] = call @palmrt_group_index(%arg2, %c[[MODEL:[0-9]+]]_i32{{[_0-9]*}})
  // CHECK: %[[HOFF:.*]] = arith.muli %[[GH]], %c4_i64
  // CHECK: %[[GK:.*]] = call @palmrt_group_index(%arg2, %c[[MODEL]]_i32{{[_0-9]*}})
  // CHECK: %[[KOFF:.*]] = arith.muli %[[GK]], %c1_i64
  // CHECK: %[[SKIP:.*]] = arith.muli %[[KOFF]], %c4_i64
  // CHECK: %[[OFF:.*]] = arith.subi %[[HOFF]], %[[SKIP]]
  // CHECK: %[[HEADS:.*]] = arith.subi %c8_i64{{[_0-9]*}}, %[[SKIP]]
  // CHECK: %[[GS:.*]] = call @palmrt_group_index(%arg2, %c{{[0-9]+}}_i32{{[_0-9]*}})
  // CHECK: %[[QOFF:.*]] = arith.muli %[[GS]], %c8_i64
  // CHECK: %[[NULL:.*]] = llvm.mlir.zero : !llvm.ptr
  // CHECK: call @palmrt_attention(%arg2, %c0_i32{{[_0-9]*}}, %{{.*}}, %c1_i32{{[_0-9]*}}, %cst{{.*}}, %[[OFF]], %c4_i64{{[_0-9]*}}, %[[HEADS]], %[[QOFF]], %[[NULL]])
  func.func @grouped_query_shard(%q: tensor<2x8x4x4xf32>, %k: tensor<2x16x1x4xf32>) -> tensor<2x8x4x4xf32> {
    %0 = palm.attention %q, %k, %k {causal, heads_shard = #palm.dim_shard<@mesh, [model], 8>, kv_heads_shard = #palm.dim_shard<@mesh, [model], 2>, seq_shard = #palm.dim_shard<@mesh, [data], 16>} : (tensor<2x8x4x4xf32>, tensor<2x16x1x4xf32>, tensor<2x16x1x4xf32>) -> tensor<2x8x4x4xf32>
    return %0 : tensor<2x8x4x4xf32>
  }
}
