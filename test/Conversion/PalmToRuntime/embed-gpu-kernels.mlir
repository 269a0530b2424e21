// RUN: palm-opt %s -split-input-file -palm-embed-gpu-kernels | FileCheck %s

// The PTX of the compiled kernel module becomes the image the launches
// point at; the binary and the container mark go.
// CHECK-LABEL: module {
// CHECK:       llvm.mlir.global private constant @__palm_gpu_image(".version 8.0\0A.target sm_80\0A\00")
// CHECK-NOT:   gpu.binary
// CHECK:       llvm.mlir.addressof @__palm_gpu_image
module attributes {gpu.container_module} {
  llvm.mlir.global private constant @__palm_gpu_image("\00") : !llvm.array<1 x i8>
  gpu.binary @palm_kernels [#gpu.object<#nvvm.target, assembly = ".version 8.0\0A.target sm_80\0A">]
  func.func @palm_forward() -> !llvm.ptr {
    %0 = llvm.mlir.addressof @__palm_gpu_image : !llvm.ptr
    return %0 : !llvm.ptr
  }
}

// -----

// A CPU program (no kernel module) is left alone.
// CHECK-LABEL: module {
// CHECK-NEXT:  func.func @palm_forward()
module {
  func.func @palm_forward() {
    return
  }
}
