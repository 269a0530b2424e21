// RUN: palm-opt %s -palm-lower-to-llvm | FileCheck %s

// The whole CPU pipeline: after -palm-lower-to-runtime, scf, arith, math,
// func and cf become the LLVM dialect, ready for translation to LLVM IR.
module attributes {palm.level = #palm.level<local>} {
  // The layer norm's output in the arena; the result in its buffer.
  // CHECK-DAG: llvm.mlir.global external constant @palm_arena_bytes(256 : i64)
  // CHECK-DAG: llvm.func @palmrt_layer_norm_f32(
  // CHECK-LABEL: llvm.func @palm_forward(%arg0: !llvm.ptr, %arg1: !llvm.ptr, %arg2: !llvm.ptr)
  // CHECK: llvm.call @palmrt_layer_norm_f32
  // The fused loop is now branches.
  // CHECK: llvm.cond_br
  // CHECK: llvm.intr.floor
  // CHECK-NOT: "llvm.intr.memcpy"
  // CHECK: llvm.return
  // CHECK-NOT: scf.
  // CHECK-NOT: func.
  // CHECK-NOT: arith.
  func.func @f(%x: tensor<2x8xf32>, %s: tensor<8xf32>) -> tensor<2x8xf32> {
    %0 = palm.layer_norm %x, %s : (tensor<2x8xf32>, tensor<8xf32>) -> tensor<2x8xf32>
    %1 = palm.silu %0 : tensor<2x8xf32>
    return %1 : tensor<2x8xf32>
  }
}
