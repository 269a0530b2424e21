// The sharding rule of every palm tensor op.
// RUN: palm-opt %s -palm-print-sharding-rules -mlir-print-op-on-diagnostic=false -o /dev/null 2>&1 | FileCheck %s

func.func @rules(%table: tensor<32x16xf32>, %ids: tensor<2x8xi32>, %s: tensor<16xf32>,
                 %wq: tensor<16x4x4xf32>, %k: tensor<2x8x1x4xf32>, %v: tensor<2x8x1x6xf32>,
                 %wo: tensor<4x4x16xf32>, %logits: tensor<2x8x32xf32>) {
  // CHECK: remark: sharding rule: ([i, j], [k, l]) -> ([k, l, j]) {i=32, j=16, k=2, l=8} masked_gather={i}
  %x = palm.embedding %table[%ids] : (tensor<32x16xf32>, tensor<2x8xi32>) -> tensor<2x8x16xf32>
  // CHECK: remark: sharding rule: ([i, j, k], [k]) -> ([i, j, k]) {i=2, j=8, k=16} replicated={k}
  %h = palm.layer_norm %x, %s : (tensor<2x8x16xf32>, tensor<16xf32>) -> tensor<2x8x16xf32>
  // CHECK: remark: sharding rule: ([i, j, k], [k, l, m]) -> ([i, j, l, m]) {i=2, j=8, k=16, l=4, m=4} reduction={k}
  %q = palm.dot_general %h, %wq, contracting_dims = [2] x [0] : (tensor<2x8x16xf32>, tensor<16x4x4xf32>) -> tensor<2x8x4x4xf32>
  // Batch dimensions come first in the result.
  // CHECK: remark: sharding rule: ([i, j, k, l], [i, m, k, l]) -> ([i, k, j, m]) {i=2, j=8, k=4, l=4, m=8} reduction={l}
  %sc = palm.dot_general %q, %q, contracting_dims = [3] x [3], batch_dims = [0, 2] x [0, 2] : (tensor<2x8x4x4xf32>, tensor<2x8x4x4xf32>) -> tensor<2x4x8x8xf32>
  // CHECK: remark: sharding rule: ([i, j, k, l]) -> ([i, j, k, l]) {i=2, j=8, k=4, l=4} replicated={l} positional={j}
  %r = palm.rope %q : tensor<2x8x4x4xf32>
  // CHECK: remark: sharding rule: ([i, j, k, l], [i, m, n, l], [i, m, n, o]) -> ([i, j, k, o]) {i=2, j=8, k=4, l=4, m=8, n=1, o=6} replicated={l, m} positional={j} grouped={n by k}
  %a = palm.attention %r, %k, %v {causal} : (tensor<2x8x4x4xf32>, tensor<2x8x1x4xf32>, tensor<2x8x1x6xf32>) -> tensor<2x8x4x6xf32>
  // CHECK: remark: sharding rule: ([i, j, k, l], [k, l, m]) -> ([i, j, m]) {i=2, j=8, k=4, l=4, m=16} reduction={k, l}
  %o = palm.dot_general %q, %wo, contracting_dims = [2, 3] x [0, 1] : (tensor<2x8x4x4xf32>, tensor<4x4x16xf32>) -> tensor<2x8x16xf32>
  // CHECK: remark: sharding rule: ([i, j, k], [i, j, k]) -> ([i, j, k]) {i=2, j=8, k=16}
  %sum = palm.add %x, %o : tensor<2x8x16xf32>
  // CHECK: remark: sharding rule: ([i, j, k], [i, j, k]) -> ([i, j, k]) {i=2, j=8, k=16}
  %prod = palm.mul %x, %o : tensor<2x8x16xf32>
  // CHECK: remark: sharding rule: ([i, j, k]) -> ([i, j, k]) {i=2, j=8, k=16}
  %act = palm.silu %prod : tensor<2x8x16xf32>
  // CHECK: remark: sharding rule: ([i, j, k]) -> ([i, j, k]) {i=2, j=8, k=32}
  %scaled = palm.scale %logits {factor = 0.25 : f32} : tensor<2x8x32xf32>
  // CHECK: remark: sharding rule: ([i, j, k]) -> ([i, j, k]) {i=2, j=8, k=16}
  %half = palm.convert %act : tensor<2x8x16xf32> -> tensor<2x8x16xbf16>
  // CHECK: remark: sharding rule: ([i, j, k], [i, j]) -> ([]) {i=2, j=8, k=32} reduction={i, j} logsumexp={k}
  %loss = palm.cross_entropy %scaled, %ids : (tensor<2x8x32xf32>, tensor<2x8xi32>) -> tensor<f32>
  // CHECK: remark: sharding rule: ([i, j, k]) -> ([i, k, j]) {i=2, j=8, k=16}
  %t = palm.transpose %x, permutation = [0, 2, 1] : tensor<2x8x16xf32> -> tensor<2x16x8xf32>
  // A reshape keeps unchanged dimensions and replicates split ones.
  // CHECK: remark: sharding rule: ([i, j, k]) -> ([i, j, l, m]) {i=2, j=8, k=16, l=4, m=4} replicated={k, l, m}
  %split = palm.reshape %x : tensor<2x8x16xf32> -> tensor<2x8x4x4xf32>
  // CHECK: remark: sharding rule: ([i, j, k]) -> ([l, k]) {i=2, j=8, k=16, l=16} replicated={i, j, l}
  %merge = palm.reshape %x : tensor<2x8x16xf32> -> tensor<16x16xf32>
  // Size-1 dimensions are factors of their own.
  // CHECK: remark: sharding rule: ([i, j, k]) -> ([i, l, j, k]) {i=2, j=8, k=16, l=1} replicated={l}
  %unit = palm.reshape %x : tensor<2x8x16xf32> -> tensor<2x1x8x16xf32>
  // CHECK: remark: sharding rule: ([i, j, k]) -> ([i, j, k]) {i=2, j=8, k=16}
  %c = palm.sharding_constraint %x to <@mesh, [[], [], []]> : tensor<2x8x16xf32>
  return
}
palm.mesh @mesh(data = 2)
