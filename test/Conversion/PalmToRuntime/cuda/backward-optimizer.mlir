// RUN: palm-opt %s -split-input-file -palm-lower-to-runtime=target=cuda | FileCheck %s

// The backward ops as generated kernels. Layer norm's backward is three
// launches: dx by a warp per row (40 rows: 5 blocks), then dscale's chunk
// sums and their sum per column; its scratch is each row's (mean, rstd) and
// the [2 chunks, 16] partial sums: 4 * (80 + 32) bytes, in a 512-byte arena.
module attributes {palm.level = #palm.level<local>} {
  // CHECK: llvm.mlir.global external constant @palm_arena_bytes(512 : i64)
  // CHECK-DAG: @__palm_str_0("palm_k0_layer_norm_grad\00")
  // CHECK-DAG: @__palm_str_1("palm_k1_layer_norm_grad_scale\00")
  // CHECK-DAG: @__palm_str_2("palm_k2_layer_norm_grad_scale_sum\00")
  // CHECK-DAG: @__palm_str_3("palm_k3_rope_inverse\00")
  // CHECK-DAG: @__palm_str_4("palm_k4_embedding_grad\00")
  // CHECK-DAG: @__palm_str_5("palm_k5_cross_entropy_grad\00")
  // CHECK-LABEL: func.func @palm_forward
  // CHECK: %[[K0:.*]] = llvm.mlir.addressof @__palm_str_0
  // CHECK: call @palmrt_launch(%arg2, %{{[0-9]+}}, %[[K0]], %c5_i64
  // CHECK: addressof @__palm_str_1
  // CHECK: addressof @__palm_str_2
  // CHECK: addressof @__palm_str_3
  // CHECK: addressof @__palm_str_4
  // A warp per token: 16 tokens, 2 blocks.
  // CHECK: %[[K5:.*]] = llvm.mlir.addressof @__palm_str_5
  // CHECK: call @palmrt_launch(%arg2, %{{[0-9]+}}, %[[K5]], %c2_i64
  // CHECK: gpu.func @palm_k0_layer_norm_grad(
  // Moments (two passes), then the sums of dy*scale and dy*scale*x-hat.
  // CHECK-COUNT-5: gpu.shuffle xor
  // CHECK-COUNT-5: gpu.shuffle xor
  // CHECK-COUNT-10: gpu.shuffle xor
  // CHECK: gpu.func @palm_k1_layer_norm_grad_scale(
  // CHECK: gpu.func @palm_k2_layer_norm_grad_scale_sum(
  // The inverse rotation: the sine negated.
  // CHECK: gpu.func @palm_k3_rope_inverse(
  // CHECK: math.cos
  // CHECK: %[[SIN:.*]] = math.sin
  // CHECK: arith.negf %[[SIN]]
  // CHECK: gpu.func @palm_k4_embedding_grad(
  // CHECK: scf.for
  // CHECK: scf.for
  // CHECK: scf.if
  // CHECK: gpu.func @palm_k5_cross_entropy_grad(
  // The whole vocabulary: the row's max and sum of exponentials first.
  // CHECK: arith.maximumf
  // CHECK: math.exp2
  // CHECK: math.log2
  func.func @backward(%x: tensor<40x16xf32>, %s: tensor<16xf32>, %dy: tensor<40x16xf32>, %q: tensor<2x8x4x4xf32>, %ids: tensor<2x8xi32>, %e: tensor<2x8x16xf32>, %l: tensor<2x8x32xf32>) -> (tensor<40x16xf32>, tensor<16xf32>, tensor<2x8x4x4xf32>, tensor<32x16xf32>, tensor<2x8x32xf32>) {
    %dx, %ds = palm.layer_norm_grad %x, %s, %dy : (tensor<40x16xf32>, tensor<16xf32>, tensor<40x16xf32>) -> (tensor<40x16xf32>, tensor<16xf32>)
    %r = palm.rope %q {inverse} : tensor<2x8x4x4xf32>
    %dt = palm.embedding_grad %ids, %e : (tensor<2x8xi32>, tensor<2x8x16xf32>) -> tensor<32x16xf32>
    %d = palm.cross_entropy_grad %l, %ids : (tensor<2x8x32xf32>, tensor<2x8xi32>) -> tensor<2x8x32xf32>
    return %dx, %ds, %r, %dt, %d : tensor<40x16xf32>, tensor<16xf32>, tensor<2x8x4x4xf32>, tensor<32x16xf32>, tensor<2x8x32xf32>
  }
}

// -----

// The optimizer. A sum of squares over 20000 elements is three chunks of
// 8192 (a warp each) into scratch, then one warp adds them (sum_f32); over
// 64 elements one chunk, summed straight into the result. Adafactor's
// moments sum their squared updates the same way. The arena holds %big
// (256 bytes) and, at one time, one op's 12 bytes of partial sums.
module attributes {palm.level = #palm.level<local>} {
  // CHECK: llvm.mlir.global external constant @palm_arena_bytes(512 : i64)
  // CHECK-DAG: @__palm_str_0("palm_k0_sum_squares\00")
  // CHECK-DAG: @__palm_str_1("palm_k1_sum_f32\00")
  // CHECK-DAG: @__palm_str_2("palm_k2_lr\00")
  // CHECK-DAG: @__palm_str_3("palm_k3_adafactor_moments\00")
  // CHECK-DAG: @__palm_str_4("palm_k4_adafactor_apply\00")
  // CHECK-DAG: @__palm_str_5("palm_k5_adamw_apply\00")
  // CHECK-LABEL: func.func @palm_forward
  // CHECK: addressof @__palm_str_0
  // CHECK: call @palmrt_launch
  // CHECK: addressof @__palm_str_1
  // CHECK: call @palmrt_launch
  // CHECK: addressof @__palm_str_0
  // CHECK: call @palmrt_launch
  // CHECK-NOT: addressof @__palm_str_1
  // CHECK: addressof @__palm_str_2
  // CHECK: addressof @__palm_str_3
  // CHECK: call @palmrt_launch
  // CHECK: addressof @__palm_str_1
  // A thread per element: 20000 elements, 79 blocks.
  // CHECK: %[[K4:.*]] = llvm.mlir.addressof @__palm_str_4
  // CHECK: call @palmrt_launch(%arg2, %{{[0-9]+}}, %[[K4]], %c79_i64
  // CHECK: addressof @__palm_str_5
  // The schedule in f64; the cosine by its series (no math.cos).
  // CHECK: gpu.func @palm_k2_lr(
  // CHECK-NOT: math.cos
  // CHECK: arith.truncf %{{.*}} : f64 to f32
  // beta2 = 1 - k^-decay.
  // CHECK: gpu.func @palm_k3_adafactor_moments(
  // CHECK: math.powf
  // CHECK: gpu.func @palm_k5_adamw_apply(
  // CHECK-COUNT-2: math.powf
  func.func @optimizer(%w: tensor<100x200xf32>, %g: tensor<100x200xf32>, %v: tensor<100x200xf32>, %m: tensor<100x200xf32>, %b: tensor<64xf32>, %k: tensor<f32>) -> (tensor<f32>, tensor<f32>, tensor<f32>, tensor<100x200xf32>, tensor<100x200xf32>, tensor<100x200xf32>, tensor<100x200xf32>, tensor<100x200xf32>, tensor<100x200xf32>) {
    %big = palm.sum_squares %g : tensor<100x200xf32> -> tensor<f32>
    %small = palm.sum_squares %b : tensor<64xf32> -> tensor<f32>
    %lr = palm.learning_rate %k {schedule = "warmup_cosine", peak = 1.0 : f32, warmup_steps = 10 : i64, total_steps = 100 : i64} : tensor<f32>
    %v1, %u = palm.adafactor_moments %g, %v, %big, %k : (tensor<100x200xf32>, tensor<100x200xf32>, tensor<f32>, tensor<f32>) -> (tensor<100x200xf32>, tensor<f32>)
    %w1, %m1 = palm.adafactor_apply %w, %g, %v1, %m, %big, %u, %small, %lr {count = 20000 : i64} : (tensor<100x200xf32>, tensor<100x200xf32>, tensor<100x200xf32>, tensor<100x200xf32>, tensor<f32>, tensor<f32>, tensor<f32>, tensor<f32>) -> (tensor<100x200xf32>, tensor<100x200xf32>)
    %w2, %m2, %v2 = palm.adamw_apply %w, %g, %m, %v, %big, %lr, %k : (tensor<100x200xf32>, tensor<100x200xf32>, tensor<100x200xf32>, tensor<100x200xf32>, tensor<f32>, tensor<f32>, tensor<f32>) -> (tensor<100x200xf32>, tensor<100x200xf32>, tensor<100x200xf32>)
    return %small, %lr, %u, %v1, %w1, %m1, %w2, %m2, %v2 : tensor<f32>, tensor<f32>, tensor<f32>, tensor<100x200xf32>, tensor<100x200xf32>, tensor<100x200xf32>, tensor<100x200xf32>, tensor<100x200xf32>, tensor<100x200xf32>
  }
}
