// RUN: palm-opt %s -split-input-file -palm-lower-to-runtime | FileCheck %s
// RUN: palm-opt %s -split-input-file -palm-lower-to-runtime=target=cuda | FileCheck %s --check-prefix=CUDA

// A residual add of a GEMM's result folds into the GEMM: palmrt_gemm_add
// adds %a in the epilogue and writes %y, so %b is never stored and no
// elementwise loop or kernel remains. The arena holds %n (1 KiB) and %a
// (4 KiB); %y is the result buffer.
module attributes {palm.level = #palm.level<local>} {
  // CHECK: @palm_arena_bytes(5120 : i64)
  // CHECK-LABEL: func.func @palm_forward
  // CHECK: %[[A:.*]] = llvm.getelementptr %arg1[%c1024_i64]
  // CHECK: %[[YS:.*]] = llvm.getelementptr %arg0[%c4_i64]
  // CHECK: %[[Y:.*]] = llvm.load %[[YS]]
  // CHECK: call @palmrt_gemm(
  // CHECK: call @palmrt_gemm_add(%arg2, %{{[^,]*}}, %{{[^,]*}}, %{{[^,]*}}, %c1024_i64{{[^,]*}}, %c1024_i64{{[^,]*}}, %[[A]], %{{[^,]*}}, %{{[^,]*}}, %{{[^,]*}}, %[[A]], %[[Y]])
  // CHECK-NOT: scf.for
  // CHECK: return
  // CUDA-NOT: palm_k1
  // CUDA: call @palmrt_gemm_add(
  func.func @residual(%x: tensor<1x256xf32>, %s: tensor<256xf32>,
                      %w1: tensor<256x1024xf32>, %w2: tensor<1024x1024xf32>)
      -> tensor<1x1024xf32> {
    %n = palm.layer_norm %x, %s : (tensor<1x256xf32>, tensor<256xf32>) -> tensor<1x256xf32>
    %a = palm.dot_general %n, %w1, contracting_dims = [1] x [0] : (tensor<1x256xf32>, tensor<256x1024xf32>) -> tensor<1x1024xf32>
    %b = palm.dot_general %a, %w2, contracting_dims = [1] x [0] : (tensor<1x1024xf32>, tensor<1024x1024xf32>) -> tensor<1x1024xf32>
    %y = palm.add %a, %b : tensor<1x1024xf32>
    return %y : tensor<1x1024xf32>
  }
}

// -----

// Of two GEMMs' results the later GEMM adds the earlier's (the parallel
// block's attention + MLP); an argument is an addend too. A GEMM result
// read twice, or an addend defined after the GEMM, stays a loop.
module attributes {palm.level = #palm.level<local>} {
  // CHECK-LABEL: func.func @palm_forward
  // CHECK: call @palmrt_gemm(
  // CHECK: call @palmrt_gemm_add(
  // CHECK: call @palmrt_gemm_add(
  // CHECK: call @palmrt_gemm(
  // CHECK: scf.for
  // CHECK-NOT: palmrt_gemm_add
  // CHECK: return
  func.func @pairs(%h: tensor<4x8xf32>, %w1: tensor<8x8xf32>, %w2: tensor<8x8xf32>, %x: tensor<4x8xf32>)
      -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) {
    %p = palm.dot_general %h, %w1, contracting_dims = [1] x [0] : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
    %q = palm.dot_general %h, %w2, contracting_dims = [1] x [0] : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
    %sum = palm.add %q, %p : tensor<4x8xf32>
    %r = palm.dot_general %sum, %w1, contracting_dims = [1] x [0] : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
    %res = palm.add %x, %r : tensor<4x8xf32>
    %t = palm.dot_general %res, %w2, contracting_dims = [1] x [0] : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
    %twice = palm.add %t, %t : tensor<4x8xf32>
    return %sum, %res, %twice : tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>
  }
}
