// -palm-accumulate-gradients on a differentiated program (a tied embedding
// and the loss): micro-batch 1 gets its own inputs and a copy of the body
// after micro-batch 0's, its loss and gradient are added to micro-batch 0's
// where it computes them, and the sums are scaled by 1/2. Partitioned over data, the sum of the two micro-batches'
// partial gradients is reduced once (one all-reduce with the loss), not once
// per micro-batch.
// RUN: palm-opt %s -palm-autodiff -palm-accumulate-gradients=microbatches=2 | FileCheck %s
// RUN: palm-opt %s -palm-autodiff -palm-accumulate-gradients=microbatches=2 -palm-spmd-pipeline | FileCheck %s --check-prefix=SPMD
// Without micro-batches the module does not change.
// RUN: palm-opt %s -palm-autodiff -palm-accumulate-gradients | FileCheck %s --check-prefix=ONE

palm.mesh @mesh(data = 2)
func.func @step(%ids: tensor<4x4xi32> {palm.name = "tokens", palm.sharding = #palm.sharding<@mesh, [[data], []]>},
                %t: tensor<4x4xi32> {palm.name = "targets", palm.sharding = #palm.sharding<@mesh, [[data], []]>},
                %emb: tensor<16x8xf32> {palm.init = #palm.init<normal(1.0)>, palm.name = "embedding"}) -> (tensor<f32> {palm.name = "loss"}) {
  %x = palm.embedding %emb[%ids] : (tensor<16x8xf32>, tensor<4x4xi32>) -> tensor<4x4x8xf32> loc("embed")
  %logits = palm.dot_general %x, %emb, contracting_dims = [2] x [1] : (tensor<4x4x8xf32>, tensor<16x8xf32>) -> tensor<4x4x16xf32> loc("logits")
  %l = palm.cross_entropy %logits, %t : (tensor<4x4x16xf32>, tensor<4x4xi32>) -> tensor<f32> loc("loss")
  return %l : tensor<f32>
}

// The inputs of micro-batch 0 keep their place; micro-batch 1's come last,
// so palm.grad_of still names the embedding (#2).
// CHECK-LABEL: func.func @step
// CHECK-SAME: %arg0: tensor<4x4xi32> {palm.microbatch = array<i64: 0, 2>, palm.name = "tokens"
// CHECK-SAME: %arg1: tensor<4x4xi32> {palm.microbatch = array<i64: 0, 2>, palm.name = "targets"
// CHECK-SAME: %arg2: tensor<16x8xf32> {palm.init
// CHECK-SAME: %arg3: tensor<4x4xi32> {palm.microbatch = array<i64: 1, 2>, palm.name = "tokens"
// CHECK-SAME: %arg4: tensor<4x4xi32> {palm.microbatch = array<i64: 1, 2>, palm.name = "targets"
// CHECK-SAME: -> (tensor<f32> {palm.name = "loss"}, tensor<16x8xf32> {palm.grad_of = 2 : i64, palm.name = "grad.embedding"})
// Micro-batch 0: forward, backward; each op records its micro-batch, so
// that CSE keeps the micro-batches apart.
// CHECK: palm.embedding %arg2[%arg0] {palm.microbatch = 0 : i64}
// CHECK: %[[L0:.*]] = palm.cross_entropy %{{.*}}, %arg1
// CHECK: palm.cross_entropy_grad %{{.*}}, %arg1
// CHECK: %[[G0:.*]] = palm.add
// Micro-batch 1; each of its values is added to the running sum right
// where it is computed (so it dies there), then the means.
// CHECK: palm.embedding %arg2[%arg3] {palm.microbatch = 1 : i64}
// CHECK: %[[L1:.*]] = palm.cross_entropy %{{.*}}, %arg4
// CHECK-NEXT: %[[L:.*]] = palm.add %[[L0]], %[[L1]] {palm.microbatch = 1 : i64} : tensor<f32>
// CHECK: palm.cross_entropy_grad %{{.*}}, %arg4
// CHECK: palm.embedding_grad %arg3
// CHECK-NEXT: %[[G1:.*]] = palm.add
// CHECK-NEXT: %[[G:.*]] = palm.add %[[G0]], %[[G1]] {palm.microbatch = 1 : i64} : tensor<16x8xf32>
// CHECK-NEXT: %[[ML:.*]] = palm.scale %[[L]] {factor = 5.000000e-01 : f32}
// CHECK-NEXT: %[[MG:.*]] = palm.scale %[[G]] {factor = 5.000000e-01 : f32}
// CHECK: return %[[ML]], %[[MG]]

// SPMD-LABEL: func.func @step
// SPMD-NOT: palm.all_reduce
// SPMD: palm.scale
// SPMD: palm.scale
// SPMD: palm.all_reduce %{{.*}} on @mesh [data] sum : tensor<129xf32>
// SPMD-NOT: palm.all_reduce
// SPMD-NOT: palm.reduce_scatter
// SPMD: return

// ONE-LABEL: func.func @step
// ONE-NOT: palm.microbatch
// ONE-NOT: palm.scale
// ONE: return
