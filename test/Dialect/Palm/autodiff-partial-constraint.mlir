// A sharding constraint that leaves a value partial (a row-parallel output,
// as palm-gen's megatron-sp pins one) differentiates to a constraint on the
// same dimensions without the pending reduction: every term of a partial
// sum has the whole sum's cotangent. Here that is Megatron-SP's backward:
// the residual stream's cotangent, split along seq over model, is
// all-gathered before the row-parallel matmul's backward (which then keeps
// d_ff split over model, as the forward did), and the LayerNorm output's
// cotangent, a partial sum over model, is reduce-scattered once into the
// LayerNorm's seq-split layout.
// RUN: palm-opt %s -palm-autodiff | FileCheck %s
// RUN: palm-opt %s -palm-autodiff -palm-spmd-pipeline -palm-collective-report -o /dev/null | FileCheck %s --check-prefix=REPORT

palm.mesh @mesh(data = 2, model = 2)
func.func @block(%x: tensor<2x8x16xf32> {palm.name = "x", palm.sharding = #palm.sharding<@mesh, [[data], [model], []]>},
                 %t: tensor<2x8xi32> {palm.name = "targets", palm.sharding = #palm.sharding<@mesh, [[data], [model]]>},
                 %ln: tensor<16xf32> {palm.init = #palm.init<ones>, palm.name = "ln", palm.sharding = #palm.sharding<@mesh, [[]]>},
                 %w1: tensor<16x32xf32> {palm.init = #palm.init<normal(1.0)>, palm.name = "w1", palm.sharding = #palm.sharding<@mesh, [[], [model]]>},
                 %w2: tensor<32x16xf32> {palm.init = #palm.init<normal(1.0)>, palm.name = "w2", palm.sharding = #palm.sharding<@mesh, [[model], []]>},
                 %wout: tensor<16x32xf32> {palm.init = #palm.init<normal(1.0)>, palm.name = "wout", palm.sharding = #palm.sharding<@mesh, [[], []]>}) -> tensor<f32> {
  %n = palm.layer_norm %x, %ln : (tensor<2x8x16xf32>, tensor<16xf32>) -> tensor<2x8x16xf32> loc("ln")
  %h = palm.sharding_constraint %n to <@mesh, [[data], [], []]> : tensor<2x8x16xf32> loc("ln.constraint")
  %u = palm.dot_general %h, %w1, contracting_dims = [2] x [0] : (tensor<2x8x16xf32>, tensor<16x32xf32>) -> tensor<2x8x32xf32> loc("up")
  %s = palm.silu %u : tensor<2x8x32xf32> loc("silu")
  %d = palm.dot_general %s, %w2, contracting_dims = [2] x [0] : (tensor<2x8x32xf32>, tensor<32x16xf32>) -> tensor<2x8x16xf32> loc("down")
  %dc = palm.sharding_constraint %d to <@mesh, [[data], [], []], unreduced = [model: sum]> : tensor<2x8x16xf32> loc("down.constraint")
  %y = palm.add %x, %dc : tensor<2x8x16xf32> loc("residual")
  %yc = palm.sharding_constraint %y to <@mesh, [[data], [model], []]> : tensor<2x8x16xf32> loc("residual.constraint")
  %logits = palm.dot_general %yc, %wout, contracting_dims = [2] x [0] : (tensor<2x8x16xf32>, tensor<16x32xf32>) -> tensor<2x8x32xf32> loc("logits")
  %l = palm.cross_entropy %logits, %t : (tensor<2x8x32xf32>, tensor<2x8xi32>) -> tensor<f32> loc("loss")
  return %l : tensor<f32>
}

// CHECK-LABEL: func.func @block
// CHECK:      %[[S:.*]] = palm.silu
// CHECK-NEXT: %[[D:.*]] = palm.dot_general %[[S]], %arg4
// CHECK-NEXT: palm.sharding_constraint %[[D]] to <@mesh, {{\[}}[data], [], []], unreduced = [model: sum]>
// The cotangents: the residual's as pinned; the row-parallel output's on the
// same dimensions with nothing pending, which the matmul's backward takes;
// the LayerNorm output's as pinned.
// CHECK:      palm.cross_entropy_grad
// CHECK:      %[[DY:.*]] = palm.sharding_constraint %{{.*}} to <@mesh, {{\[}}[data], [model], []]>
// CHECK-NEXT: %[[DD:.*]] = palm.sharding_constraint %[[DY]] to <@mesh, {{\[}}[data], [], []]> : tensor<2x8x16xf32>
// CHECK-NEXT: palm.dot_general %[[DD]], %arg4
// CHECK:      %[[DH:.*]] = palm.sharding_constraint %{{.*}} to <@mesh, {{\[}}[data], [], []]> : tensor<2x8x16xf32>
// CHECK-NEXT: palm.layer_norm_grad %arg0, %arg2, %[[DH]]

// Over model: one all-gather and one reduce-scatter of the [2, 8, 16]
// activation each way (256 bytes per device each), nothing else of its size
// (no all-to-all, no slice). The gradients of w1 and w2 (split over model)
// are reduced over data; those of ln and wout, and the loss, over both axes
// (the sequence is split over model): small all-reduces, combined.
// REPORT:      total:
// REPORT-NEXT:   all_gather [model] 2 x 512 bytes/device
// REPORT-NEXT:   all_reduce [data] 1 x 2048 bytes/device
// REPORT-NEXT:   all_reduce [data,model] 1 x
// REPORT-NEXT:   reduce_scatter [model] 2 x 512 bytes/device
// REPORT-NOT:    all_
