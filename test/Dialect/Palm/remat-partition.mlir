// The training step of a one-layer program whose weight is split over data
// (fsdp), partitioned. Rematerialization (-palm-autodiff{remat=layers})
// gathers the weight again for the layer's backward pass: the recomputed
// forward and the backward's contractions share that second gather
// (palm.remat keeps CSE from merging it with the forward's), so the forward's
// gathered weight dies with the forward. Without rematerialization the
// backward reads the forward's gather. Either way -palm-optimizer lays each
// gradient out like its parameter where the gradient is complete, so the
// reduce-scatter follows the contraction that computes it, not the end of
// the backward pass.
// RUN: palm-opt %s -palm-autodiff='remat=layers' -palm-optimizer -palm-propagate-shardings -palm-spmd-partition -cse | FileCheck %s --check-prefix=REMAT
// RUN: palm-opt %s -palm-autodiff -palm-optimizer -palm-propagate-shardings -palm-spmd-partition -cse | FileCheck %s --check-prefix=KEEP

palm.mesh @mesh(data = 2)
func.func @step(%ids: tensor<4x4xi32> {palm.name = "tokens", palm.sharding = #palm.sharding<@mesh, [[data], []]>},
                %t: tensor<4x4xi32> {palm.name = "targets", palm.sharding = #palm.sharding<@mesh, [[data], []]>},
                %emb: tensor<16x8xf32> {palm.init = #palm.init<normal(1.0)>, palm.name = "embedding"},
                %w: tensor<8x8xf32> {palm.init = #palm.init<normal(1.0)>, palm.name = "layers.0.w", palm.sharding = #palm.sharding<@mesh, [[data], []]>}) -> (tensor<f32> {palm.name = "loss"}) {
  %x = palm.embedding %emb[%ids] : (tensor<16x8xf32>, tensor<4x4xi32>) -> tensor<4x4x8xf32> loc("embed")
  %h = palm.dot_general %x, %w, contracting_dims = [2] x [0] : (tensor<4x4x8xf32>, tensor<8x8xf32>) -> tensor<4x4x8xf32> loc("layers.0.w")
  %s = palm.silu %h : tensor<4x4x8xf32> loc("layers.0.silu")
  %logits = palm.dot_general %s, %emb, contracting_dims = [2] x [1] : (tensor<4x4x8xf32>, tensor<16x8xf32>) -> tensor<4x4x16xf32> loc("logits")
  %l = palm.cross_entropy %logits, %t : (tensor<4x4x16xf32>, tensor<4x4xi32>) -> tensor<f32> loc("loss")
  return %l : tensor<f32>
}

// REMAT-LABEL: func.func @step
// REMAT:      %[[FWD:.*]] = palm.all_gather %arg3 on @mesh [data] dim 0 :
// REMAT-NEXT: palm.dot_general %{{.*}}, %[[FWD]]
// REMAT-NOT:  %[[FWD]]
// REMAT:      %[[AGAIN:.*]] = palm.all_gather %arg3 on @mesh [data] dim 0 {palm.remat}
// REMAT-NEXT: palm.dot_general %{{.*}}, %[[AGAIN]], contracting_dims = [2] x [0] {palm.remat}
// REMAT-NEXT: %[[DH:.*]] = palm.silu_grad
// REMAT-NEXT: palm.dot_general %[[DH]], %[[AGAIN]], contracting_dims = [2] x [1] {palm.remat}
// REMAT-NEXT: %[[DW:.*]] = palm.dot_general %{{.*}}, %[[DH]], contracting_dims = [0, 1] x [0, 1] {palm.remat}
// REMAT-NEXT: palm.reduce_scatter %[[DW]] on @mesh [data] sum dim 0
// REMAT-NEXT: palm.embedding_grad
// REMAT-NOT:  palm.all_gather

// KEEP-LABEL: func.func @step
// KEEP:       %[[FWD:.*]] = palm.all_gather %arg3 on @mesh [data] dim 0 :
// KEEP-NOT:   palm.all_gather
// KEEP:       palm.silu_grad
// KEEP-NEXT:  palm.dot_general %{{.*}}, %[[FWD]], contracting_dims = [2] x [1]
// KEEP-NEXT:  %[[DW:.*]] = palm.dot_general
// KEEP-NEXT:  palm.reduce_scatter %[[DW]] on @mesh [data] sum dim 0
// KEEP-NEXT:  palm.embedding_grad
