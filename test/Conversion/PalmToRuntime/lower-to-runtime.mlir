// RUN: palm-opt %s -split-input-file -palm-lower-to-runtime | FileCheck %s

// An elementwise chain is one loop; the intermediate results are never
// stored. The program description and the arena size are globals.
module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(model = 2)
  // CHECK-DAG: llvm.mlir.global external constant @palm_arena_bytes(256 : i64)
  // CHECK-LABEL: func.func @palm_forward(%arg0: !llvm.ptr, %arg1: !llvm.ptr, %arg2: !llvm.ptr)
  // CHECK: scf.for
  // CHECK:   llvm.load {{.*}} : !llvm.ptr -> f32
  // CHECK:   llvm.load {{.*}} : !llvm.ptr -> f32
  // CHECK:   arith.addf
  // CHECK:   math.exp
  // CHECK:   arith.divf
  // CHECK:   arith.mulf
  // CHECK:   llvm.store
  // CHECK-NOT: scf.for
  // CHECK: "llvm.intr.memcpy"
  func.func @chain(%a: tensor<8xf32>, %b: tensor<8xf32>) -> (tensor<8xf32> {palm.name = "out"}) {
    %0 = palm.add %a, %b : tensor<8xf32>
    %1 = palm.silu %0 : tensor<8xf32>
    %2 = palm.scale %1 {factor = 2.0 : f32} : tensor<8xf32>
    return %2 : tensor<8xf32>
  }
}

// -----

// Kernels and collectives become palmrt calls; a shard offset comes from
// palmrt_group_index; a reshape is a view.
module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(data = 2, model = 2)
  // CHECK-DAG: func.func private @palmrt_embedding_f32(!llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i64, i64, i64)
  // CHECK-DAG: func.func private @palmrt_all_reduce(!llvm.ptr, !llvm.ptr, !llvm.ptr, i64, i32, i32, i32)
  // CHECK-DAG: func.func private @palmrt_gemm(!llvm.ptr, i32, i64, i64, i64, i64, !llvm.ptr, i32, !llvm.ptr, i32, !llvm.ptr)
  // CHECK-LABEL: func.func @palm_forward
  // CHECK: %[[G:.*]] = call @palmrt_group_index(%arg2, %c0_i32)
  // CHECK: %[[OFF:.*]] = arith.muli %[[G]], %c17_i64
  // CHECK: call @palmrt_embedding_f32({{.*}}, %c16_i64{{[_0-9]*}}, %c17_i64{{[_0-9]*}}, %c8_i64{{[_0-9]*}}, %[[OFF]])
  // CHECK: call @palmrt_all_reduce(%arg2, {{.*}}, %c128_i64{{[_0-9]*}}, %c0_i32{{[_0-9]*}}, %c0_i32{{[_0-9]*}}, %c0_i32{{[_0-9]*}})
  // Logits: [b*s, d] x [V, d]^T: m = 16, n = 17, k = 8, B transposed.
  // CHECK: call @palmrt_gemm(%arg2, %c0_i32{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c16_i64{{[_0-9]*}}, %c17_i64{{[_0-9]*}}, %c8_i64{{[_0-9]*}}, %{{[0-9]+}}, %c0_i32{{[_0-9]*}}, %{{[0-9]+}}, %c1_i32
  func.func @lookup(%t: tensor<17x8xf32>, %ids: tensor<2x8xi32>) -> tensor<2x8x17xf32> {
    %0 = palm.embedding %t[%ids] {vocab_shard = #palm.dim_shard<@mesh, [model], 33>} : (tensor<17x8xf32>, tensor<2x8xi32>) -> tensor<2x8x8xf32>
    %1 = palm.all_reduce %0 on @mesh [model] sum : tensor<2x8x8xf32>
    %2 = palm.reshape %1 : tensor<2x8x8xf32> -> tensor<16x8xf32>
    %3 = palm.dot_general %2, %t, contracting_dims = [1] x [1] : (tensor<16x8xf32>, tensor<17x8xf32>) -> tensor<16x17xf32>
    %4 = palm.reshape %3 : tensor<16x17xf32> -> tensor<2x8x17xf32>
    return %4 : tensor<2x8x17xf32>
  }
}

// -----

// Buffers whose lives do not overlap share arena memory: four 4 KiB values
// in a chain need two slots.
module attributes {palm.level = #palm.level<local>} {
  // CHECK: llvm.mlir.global external constant @palm_arena_bytes(8192 : i64)
  func.func @reuse(%x: tensor<32x32xf32>, %s: tensor<32xf32>) -> tensor<32x32xf32> {
    %0 = palm.layer_norm %x, %s : (tensor<32x32xf32>, tensor<32xf32>) -> tensor<32x32xf32>
    %1 = palm.layer_norm %0, %s : (tensor<32x32xf32>, tensor<32xf32>) -> tensor<32x32xf32>
    %2 = palm.layer_norm %1, %s : (tensor<32x32xf32>, tensor<32xf32>) -> tensor<32x32xf32>
    %3 = palm.layer_norm %2, %s : (tensor<32x32xf32>, tensor<32xf32>) -> tensor<32x32xf32>
    return %3 : tensor<32x32xf32>
  }
}
