// RUN: palm-opt %s -split-input-file -palm-lower-to-runtime=target=cuda | FileCheck %s

// bf16 attention calls the runtime's fused attention (a tensor-core kernel): the
// element type's code, the shapes, and for a query-head shard its global
// head offset (from palmrt_group_index), heads per key/value head and the
// global head count.
module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(model = 2)
  // CHECK-LABEL: func.func @palm_forward
  // CHECK: %[[G:.*]] = call @palmrt_group_index(%arg2, %c0_i32{{[_0-9]*}})
  // CHECK: %[[OFF:.*]] = arith.muli %[[G]], %c2_i64{{[_0-9]*}}
  // CHECK: call @palmrt_attention(%arg2, %c1_i32{{[_0-9]*}}, %{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %c2_i64{{[_0-9]*}}, %c8_i64{{[_0-9]*}}, %c8_i64{{[_0-9]*}}, %c2_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c4_i64{{[_0-9]*}}, %c4_i64{{[_0-9]*}}, %c1_i32{{[_0-9]*}}, %cst{{.*}}, %[[OFF]], %c4_i64{{[_0-9]*}}, %c4_i64{{[_0-9]*}}, %c0_i64{{[_0-9]*}})
  // CHECK-NOT: palmrt_launch
  func.func @mqa(%q: tensor<2x8x2x4xbf16>, %k: tensor<2x8x1x4xbf16>) -> tensor<2x8x2x4xbf16> {
    %0 = palm.attention %q, %k, %k {causal, heads_shard = #palm.dim_shard<@mesh, [model], 4>} : (tensor<2x8x2x4xbf16>, tensor<2x8x1x4xbf16>, tensor<2x8x1x4xbf16>) -> tensor<2x8x2x4xbf16>
    return %0 : tensor<2x8x2x4xbf16>
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  // CHECK-LABEL: func.func @palm_forward
  // CHECK: %cst = arith.constant 5.000000e-01 : f32
  // CHECK: call @palmrt_attention(%arg2, %c1_i32{{[_0-9]*}}, %{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %c1_i64{{[_0-9]*}}, %c8_i64{{[_0-9]*}}, %c6_i64{{[_0-9]*}}, %c4_i64{{[_0-9]*}}, %c4_i64{{[_0-9]*}}, %c4_i64{{[_0-9]*}}, %c2_i64{{[_0-9]*}}, %c0_i32{{[_0-9]*}}, %cst, %c0_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c4_i64{{[_0-9]*}}, %c0_i64{{[_0-9]*}})
  func.func @cross(%q: tensor<1x8x4x4xbf16>, %k: tensor<1x6x4x4xbf16>, %v: tensor<1x6x4x2xbf16>) -> tensor<1x8x4x2xbf16> {
    %0 = palm.attention %q, %k, %v {scale = 0.5 : f32} : (tensor<1x8x4x4xbf16>, tensor<1x6x4x4xbf16>, tensor<1x6x4x2xbf16>) -> tensor<1x8x4x2xbf16>
    return %0 : tensor<1x8x4x2xbf16>
  }
}
