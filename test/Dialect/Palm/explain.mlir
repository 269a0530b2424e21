// With explain, every inserted collective says which consumer needed what,
// and which producer made something else.
// RUN: palm-opt %s -palm-spmd-pipeline=explain=true -mlir-print-op-on-diagnostic=false -o /dev/null 2>&1 | FileCheck %s

palm.mesh @mesh(data = 2, model = 2)
func.func @mlp(
    %x: tensor<8x512xf32> {palm.sharding = #palm.sharding<@mesh, [[data], []]>},
    %w1: tensor<512x2048xf32> {palm.sharding = #palm.sharding<@mesh, [[], [model]]>},
    %w2: tensor<2048x512xf32> {palm.sharding = #palm.sharding<@mesh, [[model], []]>},
    %s: tensor<512xf32> {palm.sharding = #palm.sharding<@mesh, [[]]>})
    -> (tensor<8x512xf32> {palm.sharding = #palm.sharding<@mesh, [[data], [model]]>}) {
  %h = palm.dot_general %x, %w1, contracting_dims = [1] x [0] : (tensor<8x512xf32>, tensor<512x2048xf32>) -> tensor<8x2048xf32> loc("layers.0.mlp.up")
  %y = palm.dot_general %h, %w2, contracting_dims = [1] x [0] : (tensor<8x2048xf32>, tensor<2048x512xf32>) -> tensor<8x512xf32> loc("layers.0.mlp.down")
  // CHECK: remark: {{.*}}'palm.all_reduce' inserted for operand #0 of 'palm.layer_norm' (layers.0.norm), which needs #palm.sharding<@mesh, {{\[}}[data], []]>, but 'palm.dot_general' (layers.0.mlp.down) produces #palm.sharding<@mesh, {{\[}}[data], []], unreduced = [model: sum]>
  %n = palm.layer_norm %y, %s : (tensor<8x512xf32>, tensor<512xf32>) -> tensor<8x512xf32> loc("layers.0.norm")
  // The result is wanted split on its features, but the layer norm's input
  // is not split so: the rows are normalized whole, then sliced.
  // CHECK: remark: 'palm.all_slice' inserted after 'palm.layer_norm' (layers.0.norm), whose sharding rule does not let it compute #palm.sharding<@mesh, {{\[}}[data], [model]]> directly: it computes #palm.sharding<@mesh, {{\[}}[data], []]>, resharded here for its users
  return %n : tensor<8x512xf32>
}
