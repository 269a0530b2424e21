// RUN: palm-opt %s -split-input-file -palm-lower-to-runtime=target=cuda | FileCheck %s

// Transposes, slices, concatenations and padding masks (any element type,
// by element size).
module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(model = 2)
  // CHECK-DAG: llvm.mlir.global private constant @__palm_str_0("palm_k0_transpose\00")
  // CHECK-DAG: llvm.mlir.global private constant @__palm_str_1("palm_k1_slice\00")
  // CHECK-DAG: llvm.mlir.global private constant @__palm_str_2("palm_k2_insert\00")
  // CHECK-DAG: llvm.mlir.global private constant @__palm_str_3("palm_k3_insert\00")
  // CHECK-DAG: llvm.mlir.global private constant @__palm_str_4("palm_k4_mask\00")
  // CHECK-LABEL: func.func @palm_forward
  // CHECK: %[[K0:.*]] = llvm.mlir.addressof @__palm_str_0
  // CHECK: call @palmrt_launch(%arg2, %{{[0-9]+}}, %[[K0]], %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c256_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c0_i32{{[_0-9]*}}, %{{[0-9]+}})
  // CHECK: %[[K1:.*]] = llvm.mlir.addressof @__palm_str_1
  // CHECK: call @palmrt_launch(%arg2, %{{[0-9]+}}, %[[K1]], %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c256_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c0_i32{{[_0-9]*}}, %{{[0-9]+}})
  // CHECK: %[[K2:.*]] = llvm.mlir.addressof @__palm_str_2
  // CHECK: call @palmrt_launch(%arg2, %{{[0-9]+}}, %[[K2]], %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c256_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c0_i32{{[_0-9]*}}, %{{[0-9]+}})
  // CHECK: %[[K3:.*]] = llvm.mlir.addressof @__palm_str_3
  // CHECK: call @palmrt_launch(%arg2, %{{[0-9]+}}, %[[K3]], %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c256_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c0_i32{{[_0-9]*}}, %{{[0-9]+}})
  // CHECK: %[[V:.*]] = arith.minsi
  // CHECK: llvm.store %[[V]]
  // CHECK: %[[K4:.*]] = llvm.mlir.addressof @__palm_str_4
  // CHECK: call @palmrt_launch(%arg2, %{{[0-9]+}}, %[[K4]], %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c256_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c0_i32{{[_0-9]*}}, %{{[0-9]+}})
  // Shapes are constants of the kernels: one thread per element written.
  // CHECK: gpu.func @palm_k0_transpose(%arg0: !llvm.ptr, %arg1: !llvm.ptr) kernel
  // CHECK: scf.for %{{.*}} = %{{.*}} to %c24_i64
  // CHECK: gpu.func @palm_k1_slice(%arg0: !llvm.ptr, %arg1: !llvm.ptr) kernel
  // CHECK: scf.for %{{.*}} = %{{.*}} to %c16_i64
  // CHECK: gpu.func @palm_k2_insert(%arg0: !llvm.ptr, %arg1: !llvm.ptr) kernel
  // CHECK: scf.for %{{.*}} = %{{.*}} to %c10_i64
  // CHECK: llvm.load %{{.*}} : !llvm.ptr -> bf16
  // CHECK: gpu.func @palm_k3_insert(%arg0: !llvm.ptr, %arg1: !llvm.ptr) kernel
  // CHECK: scf.for %{{.*}} = %{{.*}} to %c6_i64
  // CHECK: gpu.func @palm_k4_mask(%arg0: !llvm.ptr, %arg1: !llvm.ptr, %arg2: i64) kernel
  // CHECK: arith.select
  func.func @move(%x: tensor<2x3x4xf32>, %y: tensor<2x5xbf16>, %z: tensor<2x3xbf16>) -> (tensor<4x2x3xf32>, tensor<2x2x4xf32>, tensor<2x8xbf16>, tensor<2x3x4xf32>) {
    %0 = palm.transpose %x, permutation = [2, 0, 1] : tensor<2x3x4xf32> -> tensor<4x2x3xf32>
    %1 = tensor.extract_slice %x[0, 1, 0] [2, 2, 4] [1, 1, 1] : tensor<2x3x4xf32> to tensor<2x2x4xf32>
    %2 = tensor.concat dim(1) %y, %z : (tensor<2x5xbf16>, tensor<2x3xbf16>) -> tensor<2x8xbf16>
    %3 = palm.mask_padding %x dim 2 shard <@mesh, [model], 7> : tensor<2x3x4xf32>
    return %0, %1, %2, %3 : tensor<4x2x3xf32>, tensor<2x2x4xf32>, tensor<2x8xbf16>, tensor<2x3x4xf32>
  }
}

// -----

// Zero padding: a thread per element of the padded result, reading the
// source inside it and zero past it.
module attributes {palm.level = #palm.level<local>} {
  // CHECK-DAG: llvm.mlir.global private constant @__palm_str_0("palm_k0_pad\00")
  // CHECK-LABEL: func.func @palm_forward
  // CHECK: %[[K0:.*]] = llvm.mlir.addressof @__palm_str_0
  // CHECK: call @palmrt_launch(%arg2, %{{[0-9]+}}, %[[K0]], %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c256_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c1_i64{{[_0-9]*}}, %c0_i32{{[_0-9]*}}, %{{[0-9]+}})
  // The result is padded in its buffer: nothing to copy.
  // CHECK-NOT: palmrt_copy
  // CHECK: gpu.func @palm_k0_pad(%arg0: !llvm.ptr, %arg1: !llvm.ptr) kernel
  // CHECK: scf.for %{{.*}} = %{{.*}} to %c80_i64
  // CHECK: arith.cmpi slt, %{{.*}}, %c9_i64
  // CHECK: arith.select
  // CHECK: llvm.load %{{.*}} : !llvm.ptr -> bf16
  // CHECK: arith.select
  // CHECK-NOT: tensor.
  func.func @pad(%x: tensor<9x8xbf16>) -> tensor<10x8xbf16> {
    %zero = arith.constant 0.0 : bf16
    %0 = tensor.pad %x low[0, 0] high[1, 0] {
    ^bb0(%i: index, %j: index):
      tensor.yield %zero : bf16
    } : tensor<9x8xbf16> to tensor<10x8xbf16>
    return %0 : tensor<10x8xbf16>
  }
}
