// RUN: palm-opt %s -split-input-file -verify-diagnostics -palm-embed-gpu-kernels

module attributes {gpu.container_module} {
  llvm.mlir.global private constant @__palm_gpu_image("\00") : !llvm.array<1 x i8>
  // expected-error@+1 {{expected one compiled object, found 2}}
  gpu.binary @palm_kernels [#gpu.object<#nvvm.target, assembly = "a">, #gpu.object<#nvvm.target<chip = "sm_90">, assembly = "b">]
}

// -----

module attributes {gpu.container_module} {
  llvm.mlir.global private constant @__palm_gpu_image("\00") : !llvm.array<1 x i8>
  // expected-error@+1 {{expected the kernels as PTX (format isa)}}
  gpu.binary @palm_kernels [#gpu.object<#nvvm.target, offload = "bitcode">]
}
