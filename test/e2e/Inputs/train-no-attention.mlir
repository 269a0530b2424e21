// A forward with every op of palm-gen's training step but attention, sized
// so the cuda kernels' chunked sums take several chunks: the embedding
// (301 x 40 = 12040 elements, more than one 8192-element chunk of the sums
// of squares; 301 rows split unevenly over the model axis), 48 rows of
// layer norm (two 32-row chunks of dscale), RoPE and its inverse, silu and
// its derivative, a residual and the tied embedding's two cotangents, and
// the cross-entropy over a split vocabulary. cuda-train-kernels.test
// differentiates it and runs the training step on both backends.
palm.mesh @mesh(data = 2, model = 2)
func.func @step(%ids: tensor<4x12xi32> {palm.name = "tokens"}, %t: tensor<4x12xi32> {palm.name = "targets"},
                %emb: tensor<301x40xf32> {palm.init = #palm.init<normal(1.0)>, palm.name = "embedding", palm.sharding = #palm.sharding<@mesh, [[model], []]>},
                %ln: tensor<40xf32> {palm.init = #palm.init<ones>, palm.name = "ln"},
                %w: tensor<40x5x8xf32> {palm.init = #palm.init<normal(0.2)>, palm.name = "w"}) -> (tensor<f32> {palm.name = "loss"}) {
  %x = palm.embedding %emb[%ids] : (tensor<301x40xf32>, tensor<4x12xi32>) -> tensor<4x12x40xf32> loc("embed")
  %n = palm.layer_norm %x, %ln : (tensor<4x12x40xf32>, tensor<40xf32>) -> tensor<4x12x40xf32> loc("ln")
  %q = palm.dot_general %n, %w, contracting_dims = [2] x [0] : (tensor<4x12x40xf32>, tensor<40x5x8xf32>) -> tensor<4x12x5x8xf32> loc("q")
  %r = palm.rope %q : tensor<4x12x5x8xf32> loc("rope")
  %k = palm.reshape %r : tensor<4x12x5x8xf32> -> tensor<4x12x40xf32> loc("flat")
  %s = palm.silu %k : tensor<4x12x40xf32> loc("silu")
  %h = palm.add %s, %x : tensor<4x12x40xf32> loc("residual")
  %logits = palm.dot_general %h, %emb, contracting_dims = [2] x [1] : (tensor<4x12x40xf32>, tensor<301x40xf32>) -> tensor<4x12x301xf32> loc("logits")
  %l = palm.cross_entropy %logits, %t : (tensor<4x12x301xf32>, tensor<4x12xi32>) -> tensor<f32> loc("loss")
  return %l : tensor<f32>
}
