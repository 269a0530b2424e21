// RUN: palm-opt %s -split-input-file -palm-lower-to-runtime=target=cuda | FileCheck %s

// Layer norm and RoPE.
module attributes {palm.level = #palm.level<local>} {
  // CHECK-DAG: llvm.mlir.global private constant @__palm_str_0("palm_k0_layer_norm\00")
  // CHECK-DAG: llvm.mlir.global private constant @__palm_str_1("palm_k1_rope\00")
  // CHECK-LABEL: func.func @palm_forward
  // Layer norm: 16 rows of a warp each, 2 blocks of 256 threads.
  // CHECK: %[[K0:.*]] = llvm.mlir.addressof @__palm_str_0
  // CHECK: call @palmrt_launch(%arg2, %{{[0-9]+}}, %[[K0]], %c2_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c256_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c0_i32{{[_0-9]*}}, %{{[0-9]+}})
  // RoPE: a thread per (batch, position, pair): 2 * 8 * 2 = 32, one block.
  // CHECK: %[[K1:.*]] = llvm.mlir.addressof @__palm_str_1
  // CHECK: call @palmrt_launch(%arg2, %{{[0-9]+}}, %[[K1]], %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c256_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c0_i32{{[_0-9]*}}, %{{[0-9]+}})
  // CHECK: gpu.func @palm_k0_layer_norm(%arg0: !llvm.ptr, %arg1: !llvm.ptr, %arg2: !llvm.ptr, %arg3: i64, %arg4: i64, %arg5: f32) kernel
  // Two passes over the row (mean, then squared deviations), by warp shuffles.
  // CHECK-COUNT-5: gpu.shuffle xor
  // CHECK-COUNT-5: gpu.shuffle xor
  // CHECK: math.sqrt
  // CHECK: gpu.func @palm_k1_rope(%arg0: !llvm.ptr, %arg1: !llvm.ptr, %arg2: f32, %arg3: i64) kernel
  // CHECK: math.exp2
  // CHECK: math.floor
  // CHECK: math.cos
  // CHECK: math.sin
  // CHECK: scf.for
  func.func @norm_rope(%x: tensor<2x8x16xf32>, %s: tensor<16xf32>, %q: tensor<2x8x4x4xf32>) -> (tensor<2x8x16xf32>, tensor<2x8x4x4xf32>) {
    %0 = palm.layer_norm %x, %s {epsilon = 1.0e-05 : f32} : (tensor<2x8x16xf32>, tensor<16xf32>) -> tensor<2x8x16xf32>
    %1 = palm.rope %q {base = 5.0e+05 : f32} : tensor<2x8x4x4xf32>
    return %0, %1 : tensor<2x8x16xf32>, tensor<2x8x4x4xf32>
  }
}

// -----

// Buffers whose lives do not overlap share arena memory: four 4 KiB values
// in a chain need two slots.
module attributes {palm.level = #palm.level<local>} {
  // CHECK: llvm.mlir.global external constant @palm_arena_bytes(8192 : i64)
  // CHECK-LABEL: func.func @palm_forward
  // One kernel, launched four times over 32 rows.
  // CHECK: %[[K0:.*]] = llvm.mlir.addressof @__palm_str_0
  // CHECK: call @palmrt_launch(%arg2, %{{[0-9]+}}, %[[K0]], %c4_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c256_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c0_i32{{[_0-9]*}}, %{{[0-9]+}})
  // CHECK: call @palmrt_launch(%arg2, %{{[0-9]+}}, %{{[0-9]+}}, %c4_i64
  // CHECK: call @palmrt_launch(%arg2, %{{[0-9]+}}, %{{[0-9]+}}, %c4_i64
  // CHECK: call @palmrt_launch(%arg2, %{{[0-9]+}}, %{{[0-9]+}}, %c4_i64
  // CHECK: gpu.func @palm_k0_layer_norm
  // CHECK-NOT: gpu.func
  func.func @reuse(%x: tensor<32x32xf32>, %s: tensor<32xf32>) -> tensor<32x32xf32> {
    %0 = palm.layer_norm %x, %s : (tensor<32x32xf32>, tensor<32xf32>) -> tensor<32x32xf32>
    %1 = palm.layer_norm %0, %s : (tensor<32x32xf32>, tensor<32xf32>) -> tensor<32x32xf32>
    %2 = palm.layer_norm %1, %s : (tensor<32x32xf32>, tensor<32xf32>) -> tensor<32x32xf32>
    %3 = palm.layer_norm %2, %s : (tensor<32x32xf32>, tensor<32xf32>) -> tensor<32x32xf32>
    return %3 : tensor<32x32xf32>
  }
}

// -----

// RoPE on a shard of the sequence: the kernel adds the shard's first global
// position to each row's local position.
module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(x = 2)
  // CHECK-LABEL: func.func @palm_forward
  // CHECK: %[[G:.*]] = call @palmrt_group_index(%arg2, %c{{[0-9]+}}_i32{{[_0-9]*}})
  // CHECK: %[[OFF:.*]] = arith.muli %[[G]], %c3_i64
  // CHECK: llvm.store %[[OFF]]
  // CHECK: call @palmrt_launch
  // CHECK: gpu.func @palm_k0_rope(%arg0: !llvm.ptr, %arg1: !llvm.ptr, %arg2: f32, %arg3: i64) kernel
  // CHECK: arith.addi %{{.*}}, %arg3 : i64
  // CHECK: math.cos
  func.func @rope_shard(%q: tensor<1x3x2x4xf32>) -> tensor<1x3x2x4xf32> {
    %0 = palm.rope %q {seq_shard = #palm.dim_shard<@mesh, [x], 6>} : tensor<1x3x2x4xf32>
    return %0 : tensor<1x3x2x4xf32>
  }
}
