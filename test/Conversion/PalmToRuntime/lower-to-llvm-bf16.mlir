// RUN: palm-opt %s -palm-lower-to-llvm | FileCheck %s

// f32 -> bf16 in host code is integer arithmetic (round to nearest even,
// NaN kept): an llvm.fptrunc to bf16 would become a call to __truncsfbf2,
// which the link of a palm executable does not provide (found by the
// fuzzer: test/fuzz/regressions/link-convert-to-bf16.mlir).
module attributes {palm.level = #palm.level<local>} {
  // CHECK-LABEL: llvm.func @palm_forward
  // CHECK-NOT: llvm.fptrunc
  // CHECK: llvm.bitcast %{{.*}} : f32 to i32
  // CHECK-NOT: llvm.fptrunc
  // CHECK: llvm.return
  func.func @f(%x: tensor<2x8xf32>) -> tensor<2x8xbf16> {
    %0 = palm.convert %x : tensor<2x8xf32> -> tensor<2x8xbf16>
    return %0 : tensor<2x8xbf16>
  }
}
