// One PaLM parallel block on a 2x2 mesh with Megatron-style shardings:
// embedding -> y = x + attention(LN(x)) + MLP(LN(x)) -> final LN -> tied
// logits -> cross-entropy with z-loss. Sizes: batch 2, seq 8, d_model 16,
// 4 query heads and 1 key/value head (multi-query) of size 4, d_ff 64,
// vocab 32. Shardings are given on the arguments only; propagation fills in
// the rest.
module {
  palm.mesh @mesh(data = 2, model = 2)

  func.func @forward(
      %tokens: tensor<2x8xi32> {palm.name = "tokens",
          palm.sharding = #palm.sharding<@mesh, [[data], []]>},
      %targets: tensor<2x8xi32> {palm.name = "targets",
          palm.sharding = #palm.sharding<@mesh, [[data], []]>},
      %embedding: tensor<32x16xf32> {palm.name = "embedding",
          palm.init = #palm.init<normal(1.0)>,
          palm.sharding = #palm.sharding<@mesh, [[model], []]>},
      %ln: tensor<16xf32> {palm.name = "layers.0.ln",
          palm.init = #palm.init<ones>,
          palm.sharding = #palm.sharding<@mesh, [[]]>},
      %wq: tensor<16x4x4xf32> {palm.name = "layers.0.attention.wq",
          palm.init = #palm.init<normal(0.25)>,
          palm.sharding = #palm.sharding<@mesh, [[], [model], []]>},
      %wk: tensor<16x1x4xf32> {palm.name = "layers.0.attention.wk",
          palm.init = #palm.init<normal(0.25)>,
          palm.sharding = #palm.sharding<@mesh, [[], [], []]>},
      %wv: tensor<16x1x4xf32> {palm.name = "layers.0.attention.wv",
          palm.init = #palm.init<normal(0.25)>,
          palm.sharding = #palm.sharding<@mesh, [[], [], []]>},
      %wo: tensor<4x4x16xf32> {palm.name = "layers.0.attention.wo",
          palm.init = #palm.init<normal(0.25)>,
          palm.sharding = #palm.sharding<@mesh, [[model], [], []]>},
      %wgate: tensor<16x64xf32> {palm.name = "layers.0.mlp.wgate",
          palm.init = #palm.init<normal(0.25)>,
          palm.sharding = #palm.sharding<@mesh, [[], [model]]>},
      %wup: tensor<16x64xf32> {palm.name = "layers.0.mlp.wup",
          palm.init = #palm.init<normal(0.25)>,
          palm.sharding = #palm.sharding<@mesh, [[], [model]]>},
      %wdown: tensor<64x16xf32> {palm.name = "layers.0.mlp.wdown",
          palm.init = #palm.init<normal(0.125)>,
          palm.sharding = #palm.sharding<@mesh, [[model], []]>},
      %lnf: tensor<16xf32> {palm.name = "final_ln",
          palm.init = #palm.init<ones>,
          palm.sharding = #palm.sharding<@mesh, [[]]>})
      -> (tensor<f32> {palm.sharding = #palm.sharding<@mesh, []>}) {
    %x = palm.embedding %embedding[%tokens]
        : (tensor<32x16xf32>, tensor<2x8xi32>) -> tensor<2x8x16xf32>
    %h = palm.layer_norm %x, %ln {epsilon = 1.0e-06 : f32}
        : (tensor<2x8x16xf32>, tensor<16xf32>) -> tensor<2x8x16xf32>

    // Attention branch: multi-query, RoPE on queries and the shared key.
    %q = palm.dot_general %h, %wq, contracting_dims = [2] x [0]
        : (tensor<2x8x16xf32>, tensor<16x4x4xf32>) -> tensor<2x8x4x4xf32>
    %k = palm.dot_general %h, %wk, contracting_dims = [2] x [0]
        : (tensor<2x8x16xf32>, tensor<16x1x4xf32>) -> tensor<2x8x1x4xf32>
    %v = palm.dot_general %h, %wv, contracting_dims = [2] x [0]
        : (tensor<2x8x16xf32>, tensor<16x1x4xf32>) -> tensor<2x8x1x4xf32>
    %qr = palm.rope %q : tensor<2x8x4x4xf32>
    %kr = palm.rope %k : tensor<2x8x1x4xf32>
    %a = palm.attention %qr, %kr, %v {causal}
        : (tensor<2x8x4x4xf32>, tensor<2x8x1x4xf32>, tensor<2x8x1x4xf32>)
        -> tensor<2x8x4x4xf32>
    %attn = palm.dot_general %a, %wo, contracting_dims = [2, 3] x [0, 1]
        : (tensor<2x8x4x4xf32>, tensor<4x4x16xf32>) -> tensor<2x8x16xf32>

    // MLP branch: SwiGLU.
    %g = palm.dot_general %h, %wgate, contracting_dims = [2] x [0]
        : (tensor<2x8x16xf32>, tensor<16x64xf32>) -> tensor<2x8x64xf32>
    %u = palm.dot_general %h, %wup, contracting_dims = [2] x [0]
        : (tensor<2x8x16xf32>, tensor<16x64xf32>) -> tensor<2x8x64xf32>
    %sg = palm.silu %g : tensor<2x8x64xf32>
    %gu = palm.mul %sg, %u : tensor<2x8x64xf32>
    %mlp = palm.dot_general %gu, %wdown, contracting_dims = [2] x [0]
        : (tensor<2x8x64xf32>, tensor<64x16xf32>) -> tensor<2x8x16xf32>

    // Parallel block: both branch outputs are summed before the residual.
    %branches = palm.add %attn, %mlp : tensor<2x8x16xf32>
    %y = palm.add %x, %branches : tensor<2x8x16xf32>

    // Tied output embedding, logits scaled by 1/sqrt(d_model).
    %f = palm.layer_norm %y, %lnf {epsilon = 1.0e-06 : f32}
        : (tensor<2x8x16xf32>, tensor<16xf32>) -> tensor<2x8x16xf32>
    %logits = palm.dot_general %f, %embedding, contracting_dims = [2] x [1]
        : (tensor<2x8x16xf32>, tensor<32x16xf32>) -> tensor<2x8x32xf32>
    %scaled = palm.scale %logits {factor = 2.500000e-01 : f32}
        : tensor<2x8x32xf32>
    %loss = palm.cross_entropy %scaled, %targets {z_loss = 1.0e-04 : f32}
        : (tensor<2x8x32xf32>, tensor<2x8xi32>) -> tensor<f32>
    return %loss : tensor<f32>
  }
}
