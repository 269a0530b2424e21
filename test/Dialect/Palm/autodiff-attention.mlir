// -palm-autodiff through attention: the forward attention is rebuilt to
// also return its row log-sum-exp, which palm.attention_grad takes with the
// forward's output; the key and value cotangents flow back to their
// projections. A sharding constraint's cotangent is constrained alike.
// RUN: palm-opt %s -palm-autodiff | FileCheck %s

palm.mesh @mesh(data = 2, model = 2)
func.func @attend(%x: tensor<2x8x16xf32> {palm.name = "x"}, %t: tensor<2x8xi32> {palm.name = "targets"},
                  %wq: tensor<16x4x4xf32> {palm.init = #palm.init<normal(1.0)>, palm.name = "wq"},
                  %wk: tensor<16x1x4xf32> {palm.init = #palm.init<normal(1.0)>, palm.name = "wk"},
                  %wv: tensor<16x1x4xf32> {palm.init = #palm.init<normal(1.0)>, palm.name = "wv"},
                  %wo: tensor<4x4x32xf32> {palm.init = #palm.init<normal(1.0)>, palm.name = "wo"}) -> tensor<f32> {
  %q = palm.dot_general %x, %wq, contracting_dims = [2] x [0] : (tensor<2x8x16xf32>, tensor<16x4x4xf32>) -> tensor<2x8x4x4xf32>
  %qc = palm.sharding_constraint %q to <@mesh, [[data], [], [model], []]> : tensor<2x8x4x4xf32>
  %k = palm.dot_general %x, %wk, contracting_dims = [2] x [0] : (tensor<2x8x16xf32>, tensor<16x1x4xf32>) -> tensor<2x8x1x4xf32>
  %v = palm.dot_general %x, %wv, contracting_dims = [2] x [0] : (tensor<2x8x16xf32>, tensor<16x1x4xf32>) -> tensor<2x8x1x4xf32>
  %o = palm.attention %qc, %k, %v {causal} : (tensor<2x8x4x4xf32>, tensor<2x8x1x4xf32>, tensor<2x8x1x4xf32>) -> tensor<2x8x4x4xf32>
  %logits = palm.dot_general %o, %wo, contracting_dims = [2, 3] x [0, 1] : (tensor<2x8x4x4xf32>, tensor<4x4x32xf32>) -> tensor<2x8x32xf32>
  %l = palm.cross_entropy %logits, %t : (tensor<2x8x32xf32>, tensor<2x8xi32>) -> tensor<f32>
  return %l : tensor<f32>
}

// CHECK-LABEL: func.func @attend
// CHECK: %[[Q:.*]] = palm.dot_general %arg0, %arg2
// CHECK: %[[QC:.*]] = palm.sharding_constraint %[[Q]] to <@mesh, {{\[}}[data], [], [model], []]>
// CHECK: %[[K:.*]] = palm.dot_general %arg0, %arg3
// CHECK: %[[V:.*]] = palm.dot_general %arg0, %arg4
// CHECK: %[[O:.*]], %[[LSE:.*]] = palm.attention %[[QC]], %[[K]], %[[V]] {causal} : (tensor<2x8x4x4xf32>, tensor<2x8x1x4xf32>, tensor<2x8x1x4xf32>) -> (tensor<2x8x4x4xf32>, tensor<2x8x4xf32>)
// CHECK: %[[DO:.*]] = palm.dot_general %{{.*}}, %arg5, contracting_dims = [2] x [2] : (tensor<2x8x32xf32>, tensor<4x4x32xf32>) -> tensor<2x8x4x4xf32>
// CHECK: %[[DQ:.*]], %[[DK:.*]], %[[DV:.*]] = palm.attention_grad %[[QC]], %[[K]], %[[V]], %[[O]], %[[LSE]], %[[DO]] {causal}
// CHECK: palm.dot_general %arg0, %[[DV]]
// CHECK: palm.dot_general %arg0, %[[DK]]
// CHECK: %[[DQC:.*]] = palm.sharding_constraint %[[DQ]] to <@mesh, {{\[}}[data], [], [model], []]>
// CHECK: palm.dot_general %arg0, %[[DQC]]
