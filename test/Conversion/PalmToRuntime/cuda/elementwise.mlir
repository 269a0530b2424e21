// RUN: palm-opt %s -split-input-file -palm-lower-to-runtime=target=cuda | FileCheck %s

// An elementwise chain is one fusion: one loop (CPU) or one kernel (CUDA);
// the intermediate results are never stored.
module attributes {palm.level = #palm.level<local>} {
  // CHECK: module attributes {gpu.container_module}
  // CHECK-DAG: llvm.mlir.global private constant @__palm_str_0("palm_k0_ew\00")
  // CHECK-DAG: llvm.mlir.global private constant @__palm_gpu_image
  // CHECK-LABEL: func.func @palm_forward
  // CHECK: %[[SLOT:.*]] = llvm.getelementptr %arg0[%c2_i64]
  // CHECK: %[[OUT:.*]] = llvm.load %[[SLOT]]
  // 8 f32 elements, 4 per thread: one block.
  // CHECK: %[[IMG0:.*]] = llvm.mlir.addressof @__palm_gpu_image
  // CHECK: %[[K0:.*]] = llvm.mlir.addressof @__palm_str_0
  // CHECK: call @palmrt_launch(%arg2, %[[IMG0]], %[[K0]], %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c256_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c0_i32{{[_0-9]*}}, %{{[0-9]+}})
  // CHECK-NOT: palmrt_launch
  // The kernel writes the result's buffer (%[[OUT]]): nothing to copy.
  // CHECK-NOT: palmrt_copy
  // The kernel: result, inputs, count; 16-byte vectors when aligned.
  // CHECK: gpu.module @palm_kernels [#nvvm.target<O = 3, chip = "sm_80">]
  // CHECK: gpu.func @palm_k0_ew(%arg0: !llvm.ptr, %arg1: !llvm.ptr, %arg2: !llvm.ptr, %arg3: i64) kernel
  // CHECK: scf.if
  // CHECK: llvm.load %{{.*}} {alignment = 16 : i64} : !llvm.ptr -> vector<4xf32>
  // CHECK: llvm.load %{{.*}} {alignment = 16 : i64} : !llvm.ptr -> vector<4xf32>
  // CHECK-COUNT-4: math.exp2
  // CHECK: llvm.store %{{.*}} {alignment = 16 : i64} : vector<4xf32>, !llvm.ptr
  // CHECK: } else {
  // CHECK: math.exp2
  // CHECK-NOT: math.exp2
  // CHECK: gpu.return
  func.func @chain(%a: tensor<8xf32>, %b: tensor<8xf32>) -> (tensor<8xf32> {palm.name = "out"}) {
    %0 = palm.add %a, %b : tensor<8xf32>
    %1 = palm.silu %0 : tensor<8xf32>
    %2 = palm.scale %1 {factor = 2.0 : f32} : tensor<8xf32>
    return %2 : tensor<8xf32>
  }
}

// -----

// bf16 is computed in f32: widened after each load, narrowed before each
// store; a value read twice is stored once and re-read by the next fusion.
module attributes {palm.level = #palm.level<local>} {
  // CHECK-LABEL: func.func @palm_forward
  // CHECK: %[[IMG0:.*]] = llvm.mlir.addressof @__palm_gpu_image
  // CHECK: %[[K0:.*]] = llvm.mlir.addressof @__palm_str_0
  // CHECK: call @palmrt_launch(%arg2, %[[IMG0]], %[[K0]], %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c256_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c0_i32{{[_0-9]*}}, %{{[0-9]+}})
  // CHECK: %[[IMG1:.*]] = llvm.mlir.addressof @__palm_gpu_image
  // CHECK: %[[K1:.*]] = llvm.mlir.addressof @__palm_str_1
  // CHECK: call @palmrt_launch(%arg2, %[[IMG1]], %[[K1]], %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c256_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c0_i32{{[_0-9]*}}, %{{[0-9]+}})
  // All bf16: 8 elements (16 bytes) per thread, computed in f32.
  // CHECK: gpu.func @palm_k0_ew(%arg0: !llvm.ptr, %arg1: !llvm.ptr, %arg2: !llvm.ptr, %arg3: i64) kernel
  // CHECK: llvm.load %{{.*}} {alignment = 16 : i64} : !llvm.ptr -> vector<8xbf16>
  // CHECK: arith.extf %{{.*}} : bf16 to f32
  // CHECK: llvm.store %{{.*}} {alignment = 16 : i64} : vector<8xbf16>, !llvm.ptr
  // The widest element (the f32 result) sets 4 per thread.
  // CHECK: gpu.func @palm_k1_ew(%arg0: !llvm.ptr, %arg1: !llvm.ptr, %arg2: i64) kernel
  // CHECK: llvm.load %{{.*}} {alignment = 8 : i64} : !llvm.ptr -> vector<4xbf16>
  // CHECK: llvm.store %{{.*}} {alignment = 16 : i64} : vector<4xf32>, !llvm.ptr
  func.func @bf16(%x: tensor<4x6xbf16>, %y: tensor<4x6xbf16>) -> tensor<4x6xf32> {
    %0 = palm.mul %x, %y : tensor<4x6xbf16>
    %1 = palm.silu %0 : tensor<4x6xbf16>
    %2 = palm.mul %1, %0 : tensor<4x6xbf16>
    %3 = palm.convert %2 : tensor<4x6xbf16> -> tensor<4x6xf32>
    return %3 : tensor<4x6xf32>
  }
}
