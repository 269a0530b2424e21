// Round trip of every global-level palm op: parse, print, parse again, and
// the same through the generic form.
// RUN: palm-opt %s | palm-opt | FileCheck %s
// RUN: palm-opt %s -mlir-print-op-generic | palm-opt | FileCheck %s

palm.mesh @mesh(data = 2, model = 4)

// CHECK-LABEL: func.func @embedding
func.func @embedding(%table: tensor<32x16xf32>, %ids: tensor<2x8xi32>) -> tensor<2x8x16xf32> {
  // CHECK: palm.embedding %{{.*}}[%{{.*}}] : (tensor<32x16xf32>, tensor<2x8xi32>) -> tensor<2x8x16xf32>
  %0 = palm.embedding %table[%ids] : (tensor<32x16xf32>, tensor<2x8xi32>) -> tensor<2x8x16xf32>
  return %0 : tensor<2x8x16xf32>
}

// CHECK-LABEL: func.func @embedding_i64_rank1
func.func @embedding_i64_rank1(%table: tensor<32x16xbf16>, %ids: tensor<5xi64>) -> tensor<5x16xbf16> {
  // CHECK: palm.embedding %{{.*}}[%{{.*}}] : (tensor<32x16xbf16>, tensor<5xi64>) -> tensor<5x16xbf16>
  %0 = palm.embedding %table[%ids] : (tensor<32x16xbf16>, tensor<5xi64>) -> tensor<5x16xbf16>
  return %0 : tensor<5x16xbf16>
}

// CHECK-LABEL: func.func @layer_norm
func.func @layer_norm(%x: tensor<2x8x16xf32>, %s: tensor<16xf32>) -> (tensor<2x8x16xf32>, tensor<2x8x16xf32>) {
  // CHECK: palm.layer_norm %{{.*}}, %{{.*}} : (tensor<2x8x16xf32>, tensor<16xf32>) -> tensor<2x8x16xf32>
  %0 = palm.layer_norm %x, %s : (tensor<2x8x16xf32>, tensor<16xf32>) -> tensor<2x8x16xf32>
  // CHECK: palm.layer_norm %{{.*}}, %{{.*}} {epsilon = 9.99999974E-6 : f32}
  %1 = palm.layer_norm %x, %s {epsilon = 1.0e-05 : f32} : (tensor<2x8x16xf32>, tensor<16xf32>) -> tensor<2x8x16xf32>
  return %0, %1 : tensor<2x8x16xf32>, tensor<2x8x16xf32>
}

// CHECK-LABEL: func.func @dot_general
func.func @dot_general(%x: tensor<2x8x16xf32>, %wq: tensor<16x4x4xf32>, %a: tensor<2x8x4x4xf32>, %wo: tensor<4x4x16xf32>) -> (tensor<2x8x4x4xf32>, tensor<2x8x16xf32>, tensor<2x4x8x8xf32>) {
  // CHECK: palm.dot_general %{{.*}}, %{{.*}}, contracting_dims = [2] x [0] : (tensor<2x8x16xf32>, tensor<16x4x4xf32>) -> tensor<2x8x4x4xf32>
  %q = palm.dot_general %x, %wq, contracting_dims = [2] x [0] : (tensor<2x8x16xf32>, tensor<16x4x4xf32>) -> tensor<2x8x4x4xf32>
  // CHECK: palm.dot_general %{{.*}}, %{{.*}}, contracting_dims = [2, 3] x [0, 1] : (tensor<2x8x4x4xf32>, tensor<4x4x16xf32>) -> tensor<2x8x16xf32>
  %o = palm.dot_general %a, %wo, contracting_dims = [2, 3] x [0, 1] : (tensor<2x8x4x4xf32>, tensor<4x4x16xf32>) -> tensor<2x8x16xf32>
  // CHECK: palm.dot_general %{{.*}}, %{{.*}}, contracting_dims = [3] x [3], batch_dims = [0, 2] x [0, 2] : (tensor<2x8x4x4xf32>, tensor<2x8x4x4xf32>) -> tensor<2x4x8x8xf32>
  %s = palm.dot_general %a, %a, contracting_dims = [3] x [3], batch_dims = [0, 2] x [0, 2] : (tensor<2x8x4x4xf32>, tensor<2x8x4x4xf32>) -> tensor<2x4x8x8xf32>
  return %q, %o, %s : tensor<2x8x4x4xf32>, tensor<2x8x16xf32>, tensor<2x4x8x8xf32>
}

// CHECK-LABEL: func.func @rope
func.func @rope(%q: tensor<2x8x4x4xf32>) -> (tensor<2x8x4x4xf32>, tensor<2x8x4x4xf32>) {
  // CHECK: palm.rope %{{.*}} : tensor<2x8x4x4xf32>
  %0 = palm.rope %q : tensor<2x8x4x4xf32>
  // CHECK: palm.rope %{{.*}} {base = 5.000000e+05 : f32} : tensor<2x8x4x4xf32>
  %1 = palm.rope %q {base = 5.0e+05 : f32} : tensor<2x8x4x4xf32>
  return %0, %1 : tensor<2x8x4x4xf32>, tensor<2x8x4x4xf32>
}

// CHECK-LABEL: func.func @attention
func.func @attention(%q: tensor<2x8x4x4xf32>, %k1: tensor<2x8x1x4xf32>, %k2: tensor<2x8x2x4xf32>, %k4: tensor<2x8x4x4xf32>, %v4: tensor<2x6x4x2xf32>, %k6: tensor<2x6x4x4xf32>) -> (tensor<2x8x4x4xf32>, tensor<2x8x4x4xf32>, tensor<2x8x4x4xf32>, tensor<2x8x4x2xf32>) {
  // Multi-query, grouped-query, multi-head, and cross-length non-causal.
  // CHECK: palm.attention %{{.*}}, %{{.*}}, %{{.*}} {causal} : (tensor<2x8x4x4xf32>, tensor<2x8x1x4xf32>, tensor<2x8x1x4xf32>) -> tensor<2x8x4x4xf32>
  %0 = palm.attention %q, %k1, %k1 {causal} : (tensor<2x8x4x4xf32>, tensor<2x8x1x4xf32>, tensor<2x8x1x4xf32>) -> tensor<2x8x4x4xf32>
  // CHECK: palm.attention %{{.*}}, %{{.*}}, %{{.*}} {causal, scale = 1.250000e-01 : f32}
  %1 = palm.attention %q, %k2, %k2 {causal, scale = 0.125 : f32} : (tensor<2x8x4x4xf32>, tensor<2x8x2x4xf32>, tensor<2x8x2x4xf32>) -> tensor<2x8x4x4xf32>
  // CHECK: palm.attention %{{.*}}, %{{.*}}, %{{.*}} {causal} : (tensor<2x8x4x4xf32>, tensor<2x8x4x4xf32>, tensor<2x8x4x4xf32>) -> tensor<2x8x4x4xf32>
  %2 = palm.attention %q, %k4, %k4 {causal} : (tensor<2x8x4x4xf32>, tensor<2x8x4x4xf32>, tensor<2x8x4x4xf32>) -> tensor<2x8x4x4xf32>
  // CHECK: palm.attention %{{.*}}, %{{.*}}, %{{.*}} : (tensor<2x8x4x4xf32>, tensor<2x6x4x4xf32>, tensor<2x6x4x2xf32>) -> tensor<2x8x4x2xf32>
  %3 = palm.attention %q, %k6, %v4 : (tensor<2x8x4x4xf32>, tensor<2x6x4x4xf32>, tensor<2x6x4x2xf32>) -> tensor<2x8x4x2xf32>
  return %0, %1, %2, %3 : tensor<2x8x4x4xf32>, tensor<2x8x4x4xf32>, tensor<2x8x4x4xf32>, tensor<2x8x4x2xf32>
}

// CHECK-LABEL: func.func @elementwise
func.func @elementwise(%a: tensor<2x8x64xf32>, %b: tensor<2x8x64xf32>) -> tensor<2x8x64xbf16> {
  // CHECK: palm.add %{{.*}}, %{{.*}} : tensor<2x8x64xf32>
  %0 = palm.add %a, %b : tensor<2x8x64xf32>
  // CHECK: palm.mul %{{.*}}, %{{.*}} : tensor<2x8x64xf32>
  %1 = palm.mul %0, %b : tensor<2x8x64xf32>
  // CHECK: palm.silu %{{.*}} : tensor<2x8x64xf32>
  %2 = palm.silu %1 : tensor<2x8x64xf32>
  // CHECK: palm.scale %{{.*}} {factor = 2.500000e-01 : f32} : tensor<2x8x64xf32>
  %3 = palm.scale %2 {factor = 0.25 : f32} : tensor<2x8x64xf32>
  // CHECK: palm.convert %{{.*}} : tensor<2x8x64xf32> -> tensor<2x8x64xbf16>
  %4 = palm.convert %3 : tensor<2x8x64xf32> -> tensor<2x8x64xbf16>
  return %4 : tensor<2x8x64xbf16>
}

// CHECK-LABEL: func.func @cross_entropy
func.func @cross_entropy(%logits: tensor<2x8x32xf32>, %targets: tensor<2x8xi32>, %l2: tensor<5x32xbf16>, %t2: tensor<5xi64>) -> (tensor<f32>, tensor<f32>) {
  // CHECK: palm.cross_entropy %{{.*}}, %{{.*}} : (tensor<2x8x32xf32>, tensor<2x8xi32>) -> tensor<f32>
  %0 = palm.cross_entropy %logits, %targets : (tensor<2x8x32xf32>, tensor<2x8xi32>) -> tensor<f32>
  // CHECK: palm.cross_entropy %{{.*}}, %{{.*}} {z_loss = 0.000000e+00 : f32} : (tensor<5x32xbf16>, tensor<5xi64>) -> tensor<f32>
  %1 = palm.cross_entropy %l2, %t2 {z_loss = 0.0 : f32} : (tensor<5x32xbf16>, tensor<5xi64>) -> tensor<f32>
  return %0, %1 : tensor<f32>, tensor<f32>
}

// CHECK-LABEL: func.func @shape_ops
func.func @shape_ops(%x: tensor<2x8x16xf32>) -> (tensor<2x16x8xf32>, tensor<2x8x4x4xf32>) {
  // CHECK: palm.transpose %{{.*}}, permutation = [0, 2, 1] : tensor<2x8x16xf32> -> tensor<2x16x8xf32>
  %0 = palm.transpose %x, permutation = [0, 2, 1] : tensor<2x8x16xf32> -> tensor<2x16x8xf32>
  // CHECK: palm.reshape %{{.*}} : tensor<2x8x16xf32> -> tensor<2x8x4x4xf32>
  %1 = palm.reshape %x : tensor<2x8x16xf32> -> tensor<2x8x4x4xf32>
  return %0, %1 : tensor<2x16x8xf32>, tensor<2x8x4x4xf32>
}

// CHECK-LABEL: func.func @sharding_constraint
func.func @sharding_constraint(%x: tensor<2x8x16xf32>) -> tensor<2x8x16xf32> {
  // CHECK: palm.sharding_constraint %{{.*}} to <@mesh, {{\[}}[data], [model], []]> : tensor<2x8x16xf32>
  %0 = palm.sharding_constraint %x to <@mesh, [[data], [model], []]> : tensor<2x8x16xf32>
  return %0 : tensor<2x8x16xf32>
}
