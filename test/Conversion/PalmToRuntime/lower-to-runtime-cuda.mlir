// RUN: palm-opt %s -palm-lower-to-runtime=target=cuda | FileCheck %s

// With target=cuda, elementwise chains and layer norm are generated kernels
// launched through palmrt; GEMMs call palmrt_gemm with their element type;
// results are copied with palmrt_copy (device memory).
module attributes {palm.level = #palm.level<local>} {
  // CHECK: module attributes {gpu.container_module}
  // CHECK-DAG: llvm.mlir.global private constant @__palm_gpu_image
  // CHECK-LABEL: func.func @palm_forward
  // CHECK: call @palmrt_launch(%arg2, %{{[0-9]+}}, %{{[0-9]+}}, %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c256_i64
  // CHECK: call @palmrt_gemm(%arg2, %c1_i32,
  // CHECK: call @palmrt_launch
  // CHECK: call @palmrt_copy
  // CHECK: gpu.module @palm_kernels [#nvvm.target<O = 3, chip = "sm_80">]
  // CHECK: gpu.func @palm_k0_layer_norm({{.*}}) kernel
  // CHECK: gpu.shuffle xor
  // CHECK: gpu.func @palm_k1_ew({{.*}}) kernel
  // CHECK: math.exp2
  func.func @f(%x: tensor<4x8xbf16>, %s: tensor<8xbf16>, %w: tensor<8x16xbf16>) -> tensor<4x16xbf16> {
    %0 = palm.layer_norm %x, %s : (tensor<4x8xbf16>, tensor<8xbf16>) -> tensor<4x8xbf16>
    %1 = palm.dot_general %0, %w, contracting_dims = [1] x [0] : (tensor<4x8xbf16>, tensor<8x16xbf16>) -> tensor<4x16xbf16>
    %2 = palm.silu %1 : tensor<4x16xbf16>
    %3 = palm.mul %2, %1 : tensor<4x16xbf16>
    return %3 : tensor<4x16xbf16>
  }
}
