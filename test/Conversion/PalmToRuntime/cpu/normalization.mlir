// RUN: palm-opt %s -split-input-file -palm-lower-to-runtime | FileCheck %s

// Layer norm and RoPE.
module attributes {palm.level = #palm.level<local>} {
  // CHECK-LABEL: func.func @palm_forward
  // CHECK: %cst = arith.constant 9.99999974E-6 : f32
  // CHECK: call @palmrt_layer_norm_f32(%{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %c16_i64{{[_0-9]*}}, %c16_i64{{[_0-9]*}}, %cst)
  // CHECK: %[[BASE:.*]] = arith.constant 5.000000e+05 : f32
  // CHECK: call @palmrt_rope_f32(%{{[0-9]+}}, %{{[0-9]+}}, %c2_i64{{[_0-9]*}}, %c8_i64{{[_0-9]*}}, %c4_i64{{[_0-9]*}}, %c4_i64{{[_0-9]*}}, %[[BASE]], %c0_i64{{[_0-9]*}}, %c0_i32{{[_0-9]*}})
  func.func @norm_rope(%x: tensor<2x8x16xf32>, %s: tensor<16xf32>, %q: tensor<2x8x4x4xf32>) -> (tensor<2x8x16xf32>, tensor<2x8x4x4xf32>) {
    %0 = palm.layer_norm %x, %s {epsilon = 1.0e-05 : f32} : (tensor<2x8x16xf32>, tensor<16xf32>) -> tensor<2x8x16xf32>
    %1 = palm.rope %q {base = 5.0e+05 : f32} : tensor<2x8x4x4xf32>
    return %0, %1 : tensor<2x8x16xf32>, tensor<2x8x4x4xf32>
  }
}

// -----

// Buffers whose lives do not overlap share arena memory: of four 4 KiB
// values in a chain the three intermediates need two slots; the last is
// computed in the result's buffer (slot 2, after the 2 arguments).
module attributes {palm.level = #palm.level<local>} {
  // CHECK: llvm.mlir.global external constant @palm_arena_bytes(8192 : i64)
  // CHECK-LABEL: func.func @palm_forward
  // CHECK: %[[X:.*]] = llvm.load
  // CHECK: %[[S:.*]] = llvm.load
  // CHECK: %[[P0:.*]] = llvm.getelementptr %arg1[%c0_i64{{[_0-9]*}}]
  // CHECK: %[[P1:.*]] = llvm.getelementptr %arg1[%c4096_i64{{[_0-9]*}}]
  // CHECK: %[[P2:.*]] = llvm.getelementptr %arg1[%c0_i64{{[_0-9]*}}]
  // CHECK: %[[SLOT:.*]] = llvm.getelementptr %arg0[%c2_i64{{[_0-9]*}}]
  // CHECK: %[[P3:.*]] = llvm.load %[[SLOT]]
  // CHECK: call @palmrt_layer_norm_f32(%[[X]], %[[S]], %[[P0]],
  // CHECK: call @palmrt_layer_norm_f32(%[[P0]], %[[S]], %[[P1]],
  // CHECK: call @palmrt_layer_norm_f32(%[[P1]], %[[S]], %[[P2]],
  // CHECK: call @palmrt_layer_norm_f32(%[[P2]], %[[S]], %[[P3]],
  func.func @reuse(%x: tensor<32x32xf32>, %s: tensor<32xf32>) -> tensor<32x32xf32> {
    %0 = palm.layer_norm %x, %s : (tensor<32x32xf32>, tensor<32xf32>) -> tensor<32x32xf32>
    %1 = palm.layer_norm %0, %s : (tensor<32x32xf32>, tensor<32xf32>) -> tensor<32x32xf32>
    %2 = palm.layer_norm %1, %s : (tensor<32x32xf32>, tensor<32xf32>) -> tensor<32x32xf32>
    %3 = palm.layer_norm %2, %s : (tensor<32x32xf32>, tensor<32xf32>) -> tensor<32x32xf32>
    return %3 : tensor<32x32xf32>
  }
}

// -----

// RoPE on a shard of the sequence rotates at the shard's global positions:
// the offset is this device's index along the axes times the local length.
module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(x = 2)
  // CHECK-LABEL: func.func @palm_forward
  // CHECK: %[[G:.*]] = call @palmrt_group_index(%arg2, %c{{[0-9]+}}_i32{{[_0-9]*}})
  // CHECK: %[[OFF:.*]] = arith.muli %[[G]], %c3_i64
  // CHECK: call @palmrt_rope_f32(%{{[0-9]+}}, %{{[0-9]+}}, %c1_i64{{[_0-9]*}}, %c3_i64{{[_0-9]*}}, %c2_i64{{[_0-9]*}}, %c4_i64{{[_0-9]*}}, %{{.*}}, %[[OFF]], %c0_i32{{[_0-9]*}})
  func.func @rope_shard(%q: tensor<1x3x2x4xf32>) -> tensor<1x3x2x4xf32> {
    %0 = palm.rope %q {seq_shard = #palm.dim_shard<@mesh, [x], 6>} : tensor<1x3x2x4xf32>
    return %0 : tensor<1x3x2x4xf32>
  }
}

// -----

// A layer norm over split features: the moments over the shard's valid
// features (13 over 2 shards of 7: 7 or 6, from the group index), then the
// merge of the gathered moments and the normalization.
module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(x = 2)
  // CHECK-LABEL: func.func @palm_forward
  // CHECK: %[[G:.*]] = call @palmrt_group_index(%arg2, %c{{[0-9]+}}_i32{{[_0-9]*}})
  // CHECK: %[[VALID:.*]] = arith.minsi
  // CHECK: call @palmrt_row_moments_f32(%{{[0-9]+}}, %{{[0-9]+}}, %c4_i64{{[_0-9]*}}, %c7_i64{{[_0-9]*}}, %[[VALID]])
  // CHECK: call @palmrt_layer_norm_merged_f32(%{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %{{[0-9]+}}, %c4_i64{{[_0-9]*}}, %c7_i64{{[_0-9]*}}, %c2_i64{{[_0-9]*}}, %{{.*}})
  func.func @split(%x: tensor<4x7xf32>, %s: tensor<7xf32>, %all: tensor<2x3x4xf32>) -> (tensor<1x3x4xf32>, tensor<4x7xf32>) {
    %m = palm.row_moments %x shard <@mesh, [x], 13> : tensor<4x7xf32> -> tensor<1x3x4xf32>
    %y = palm.layer_norm_merged %x, %s, %all : (tensor<4x7xf32>, tensor<7xf32>, tensor<2x3x4xf32>) -> tensor<4x7xf32>
    return %m, %y : tensor<1x3x4xf32>, tensor<4x7xf32>
  }
}
