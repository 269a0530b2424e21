// -palm-autodiff on a small program that uses every reverse-mode rule a
// palm-gen model needs but attention (e2e/grads.test covers the whole model):
// a tied embedding (two cotangents summed), layer norm, a contraction, RoPE,
// reshape, silu and a residual add.
// RUN: palm-opt %s -palm-autodiff | FileCheck %s

palm.mesh @mesh(data = 2, model = 2)
func.func @step(%ids: tensor<2x4xi32> {palm.name = "tokens"}, %t: tensor<2x4xi32> {palm.name = "targets"},
                %emb: tensor<16x8xf32> {palm.init = #palm.init<normal(1.0)>, palm.name = "embedding", palm.sharding = #palm.sharding<@mesh, [[model], []]>},
                %ln: tensor<8xf32> {palm.init = #palm.init<ones>, palm.name = "ln"},
                %w: tensor<8x2x4xf32> {palm.init = #palm.init<normal(1.0)>, palm.name = "w"}) -> (tensor<f32> {palm.name = "loss"}) {
  %x = palm.embedding %emb[%ids] : (tensor<16x8xf32>, tensor<2x4xi32>) -> tensor<2x4x8xf32> loc("embed")
  %n = palm.layer_norm %x, %ln : (tensor<2x4x8xf32>, tensor<8xf32>) -> tensor<2x4x8xf32> loc("ln")
  %q = palm.dot_general %n, %w, contracting_dims = [2] x [0] : (tensor<2x4x8xf32>, tensor<8x2x4xf32>) -> tensor<2x4x2x4xf32> loc("q")
  %r = palm.rope %q : tensor<2x4x2x4xf32> loc("rope")
  %k = palm.reshape %r : tensor<2x4x2x4xf32> -> tensor<2x4x8xf32> loc("flat")
  %s = palm.silu %k : tensor<2x4x8xf32> loc("silu")
  %h = palm.add %s, %x : tensor<2x4x8xf32> loc("residual")
  %logits = palm.dot_general %h, %emb, contracting_dims = [2] x [1] : (tensor<2x4x8xf32>, tensor<16x8xf32>) -> tensor<2x4x16xf32> loc("logits")
  %l = palm.cross_entropy %logits, %t : (tensor<2x4x16xf32>, tensor<2x4xi32>) -> tensor<f32> loc("loss")
  return %l : tensor<f32>
}

// The loss stays first; one gradient per parameter follows, named, with the
// parameter's argument number and sharding.
// CHECK-LABEL: func.func @step
// CHECK-SAME: -> (tensor<f32> {palm.name = "loss"}, tensor<16x8xf32> {palm.grad_of = 2 : i64, palm.name = "grad.embedding", palm.sharding = #palm.sharding<@mesh, {{\[\[}}model], []]>}, tensor<8xf32> {palm.grad_of = 3 : i64, palm.name = "grad.ln"}, tensor<8x2x4xf32> {palm.grad_of = 4 : i64, palm.name = "grad.w"})
// CHECK: %[[X:.*]] = palm.embedding %arg2[%arg0]
// CHECK: %[[N:.*]] = palm.layer_norm %[[X]], %arg3
// CHECK: %[[Q:.*]] = palm.dot_general %[[N]], %arg4
// CHECK: %[[R:.*]] = palm.rope %[[Q]]
// CHECK: %[[K:.*]] = palm.reshape %[[R]]
// CHECK: %[[S:.*]] = palm.silu %[[K]]
// CHECK: %[[H:.*]] = palm.add %[[S]], %[[X]]
// CHECK: %[[LOGITS:.*]] = palm.dot_general %[[H]], %arg2, contracting_dims = [2] x [1]
// CHECK: %[[LOSS:.*]] = palm.cross_entropy %[[LOGITS]], %arg1
// The seed: the cross-entropy's cotangent 1 is implicit.
// CHECK: %[[DL:.*]] = palm.cross_entropy_grad %[[LOGITS]], %arg1 : (tensor<2x4x16xf32>, tensor<2x4xi32>) -> tensor<2x4x16xf32>
// The logits' contraction: dh = dlogits . E, and dE = dlogits^T . h, the
// operands in the order that gives the table's [vocab, d] layout directly
// (h^T . dlogits would need a transpose).
// CHECK: %[[DH:.*]] = palm.dot_general %[[DL]], %arg2, contracting_dims = [2] x [0] : (tensor<2x4x16xf32>, tensor<16x8xf32>) -> tensor<2x4x8xf32>
// CHECK: %[[DE1:.*]] = palm.dot_general %[[DL]], %[[H]], contracting_dims = [0, 1] x [0, 1] : (tensor<2x4x16xf32>, tensor<2x4x8xf32>) -> tensor<16x8xf32>
// CHECK-NOT: palm.transpose
// The residual add passes dh to both branches; silu, reshape, RoPE back.
// CHECK: %[[DK:.*]] = palm.silu_grad %[[K]], %[[DH]]
// CHECK: %[[DR:.*]] = palm.reshape %[[DK]] : tensor<2x4x8xf32> -> tensor<2x4x2x4xf32>
// CHECK: %[[DQ:.*]] = palm.rope %[[DR]] {inverse}
// CHECK: %[[DN:.*]] = palm.dot_general %[[DQ]], %arg4, contracting_dims = [2, 3] x [1, 2] : (tensor<2x4x2x4xf32>, tensor<8x2x4xf32>) -> tensor<2x4x8xf32>
// CHECK: %[[DW:.*]] = palm.dot_general %[[N]], %[[DQ]], contracting_dims = [0, 1] x [0, 1] : (tensor<2x4x8xf32>, tensor<2x4x2x4xf32>) -> tensor<8x2x4xf32>
// CHECK: %[[DX:.*]], %[[DSCALE:.*]] = palm.layer_norm_grad %[[X]], %arg3, %[[DN]]
// The embedding output's two uses (the residual and the layer norm) sum,
// then scatter into the table; the table's two uses sum too.
// CHECK: %[[DXS:.*]] = palm.add %[[DH]], %[[DX]]
// CHECK: %[[DE2:.*]] = palm.embedding_grad %arg0, %[[DXS]] : (tensor<2x4xi32>, tensor<2x4x8xf32>) -> tensor<16x8xf32>
// CHECK: %[[DE:.*]] = palm.add %[[DE1]], %[[DE2]]
// CHECK: return %[[LOSS]], %[[DE]], %[[DSCALE]], %[[DW]]
