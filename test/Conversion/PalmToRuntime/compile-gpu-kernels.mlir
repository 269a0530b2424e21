// Compiles the generated kernels to PTX and embeds it in the host module.
// Needs the CUDA toolkit's libdevice, not a GPU.
// REQUIRES: cuda
// RUN: palm-opt %s -palm-lower-to-runtime=target=cuda -palm-compile-gpu-kernels | FileCheck %s --check-prefix=BINARY
// RUN: palm-opt %s -palm-lower-to-runtime=target=cuda -palm-compile-gpu-kernels -palm-embed-gpu-kernels | FileCheck %s --check-prefix=EMBED

// BINARY: gpu.binary @palm_kernels [#gpu.object<#nvvm.target<O = 3, chip = "sm_80">, properties = {{.*}}, assembly = "{{.*}}.target sm_80{{.*}}.visible .entry palm_k0_ew(
// BINARY-NOT: gpu.module

// EMBED: module {
// EMBED: llvm.mlir.global private constant @__palm_gpu_image("{{.*}}.visible .entry palm_k0_ew(
// EMBED-NOT: gpu.binary
// EMBED: call @palmrt_launch
module attributes {palm.level = #palm.level<local>} {
  func.func @f(%a: tensor<64xbf16>, %b: tensor<64xbf16>) -> tensor<64xbf16> {
    %0 = palm.add %a, %b : tensor<64xbf16>
    %1 = palm.silu %0 : tensor<64xbf16>
    return %1 : tensor<64xbf16>
  }
}
