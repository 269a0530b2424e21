// RUN: palm-opt %s -split-input-file -palm-propagate-shardings | FileCheck %s

// Megatron MLP: the column split flows forward, the row-split contraction
// leaves a partial sum.
palm.mesh @mesh(data = 2, model = 2)
// CHECK-LABEL: func.func @megatron_mlp
// CHECK-SAME: -> (tensor<8x512xf32> {palm.sharding = #palm.sharding<@mesh, {{\[}}[data], []]>})
func.func @megatron_mlp(
    %x: tensor<8x512xf32> {palm.sharding = #palm.sharding<@mesh, [[data], []]>},
    %w1: tensor<512x2048xf32> {palm.sharding = #palm.sharding<@mesh, [[], [model]]>},
    %w2: tensor<2048x512xf32> {palm.sharding = #palm.sharding<@mesh, [[model], []]>})
    -> (tensor<8x512xf32> {palm.sharding = #palm.sharding<@mesh, [[data], []]>}) {
  // CHECK: palm.dot_general {{.*}}palm.shardings = [#palm.sharding<@mesh, {{\[}}[data], [model]]>]
  %h = palm.dot_general %x, %w1, contracting_dims = [1] x [0] : (tensor<8x512xf32>, tensor<512x2048xf32>) -> tensor<8x2048xf32>
  // CHECK: palm.silu {{.*}}palm.shardings = [#palm.sharding<@mesh, {{\[}}[data], [model]]>]
  %a = palm.silu %h : tensor<8x2048xf32>
  // CHECK: palm.dot_general {{.*}}palm.shardings = [#palm.sharding<@mesh, {{\[}}[data], []], unreduced = [model: sum]>]
  %y = palm.dot_general %a, %w2, contracting_dims = [1] x [0] : (tensor<8x2048xf32>, tensor<2048x512xf32>) -> tensor<8x512xf32>
  return %y : tensor<8x512xf32>
}

// -----

// Two partial branches summed stay partial; adding a full value does not.
palm.mesh @mesh(model = 2)
// CHECK-LABEL: func.func @partial_add
func.func @partial_add(
    %x: tensor<4x8xf32> {palm.sharding = #palm.sharding<@mesh, [[], []]>},
    %w1: tensor<8x8xf32> {palm.sharding = #palm.sharding<@mesh, [[model], []]>},
    %w2: tensor<8x8xf32> {palm.sharding = #palm.sharding<@mesh, [[model], []]>},
    %xs: tensor<4x8xf32> {palm.sharding = #palm.sharding<@mesh, [[], [model]]>}) -> tensor<4x8xf32> {
  // CHECK: palm.dot_general %{{.*}}, %{{.*}} contracting_dims = [1] x [0] {palm.shardings = [#palm.sharding<@mesh, {{\[}}[], []], unreduced = [model: sum]>]}
  %a = palm.dot_general %xs, %w1, contracting_dims = [1] x [0] : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %b = palm.dot_general %xs, %w2, contracting_dims = [1] x [0] : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  // CHECK: palm.add {{.*}}palm.shardings = [#palm.sharding<@mesh, {{\[}}[], []], unreduced = [model: sum]>]
  %s = palm.add %a, %b : tensor<4x8xf32>
  // CHECK: palm.add {{.*}}palm.shardings = [#palm.sharding<@mesh, {{\[}}[], []]>]
  %t = palm.add %s, %x : tensor<4x8xf32>
  return %t : tensor<4x8xf32>
}

// -----

// Activations lead, parameters follow: the batch split wins over the
// weight's d_model split (the weight is all-gathered, as in PaLM's 2D
// layout).
palm.mesh @mesh(data = 2, model = 2)
// CHECK-LABEL: func.func @activations_lead
func.func @activations_lead(
    %x: tensor<8x16xf32> {palm.sharding = #palm.sharding<@mesh, [[data], []]>},
    %w: tensor<16x32xf32> {palm.init = #palm.init<normal(0.25)>, palm.sharding = #palm.sharding<@mesh, [[data], [model]]>}) -> tensor<8x32xf32> {
  // CHECK: palm.dot_general {{.*}}palm.shardings = [#palm.sharding<@mesh, {{\[}}[data], [model]]>]
  %y = palm.dot_general %x, %w, contracting_dims = [1] x [0] : (tensor<8x16xf32>, tensor<16x32xf32>) -> tensor<8x32xf32>
  return %y : tensor<8x32xf32>
}

// -----

// Between two activations, fewer bytes win: gathering the small operand.
palm.mesh @mesh(model = 2)
// CHECK-LABEL: func.func @fewest_bytes
func.func @fewest_bytes(
    %big: tensor<64x64xf32> {palm.sharding = #palm.sharding<@mesh, [[model], []]>},
    %small: tensor<64x4xf32> {palm.sharding = #palm.sharding<@mesh, [[], [model]]>}) -> tensor<64x4xf32> {
  // CHECK: palm.dot_general {{.*}}palm.shardings = [#palm.sharding<@mesh, {{\[}}[model], []]>]
  %y = palm.dot_general %big, %small, contracting_dims = [1] x [0] : (tensor<64x64xf32>, tensor<64x4xf32>) -> tensor<64x4xf32>
  return %y : tensor<64x4xf32>
}

// -----

// Backward: an annotation on the result alone reaches the inputs.
palm.mesh @mesh(data = 4)
// CHECK-LABEL: func.func @backward
// CHECK-SAME: %arg0: tensor<8x16xf32> {palm.sharding = #palm.sharding<@mesh, {{\[}}[data], []]>}
func.func @backward(%x: tensor<8x16xf32>) -> (tensor<8x16xf32> {palm.sharding = #palm.sharding<@mesh, [[data], []]>}) {
  // CHECK: palm.silu {{.*}}palm.shardings = [#palm.sharding<@mesh, {{\[}}[data], []]>]
  %y = palm.silu %x : tensor<8x16xf32>
  return %y : tensor<8x16xf32>
}

// -----

// Replicated factors never receive axes: RoPE keeps head_dim whole.
palm.mesh @mesh(data = 2, model = 2)
// CHECK-LABEL: func.func @replicated_factor
func.func @replicated_factor(
    %x: tensor<4x8x2x16xf32> {palm.sharding = #palm.sharding<@mesh, [[data], [], [], [model]]>}) -> tensor<4x8x2x16xf32> {
  // CHECK: palm.rope {{.*}}palm.shardings = [#palm.sharding<@mesh, {{\[}}[data], [], [], []]>]
  %y = palm.rope %x : tensor<4x8x2x16xf32>
  return %y : tensor<4x8x2x16xf32>
}

// -----

// A row-statistics factor takes a split from a user's annotation: a layer
// norm whose input is annotated split on d_model keeps its result so (the
// partitioner then merges row moments instead of gathering the rows).
palm.mesh @mesh(data = 2, model = 2)
// CHECK-LABEL: func.func @row_statistics_factor
func.func @row_statistics_factor(
    %x: tensor<4x8x16xf32> {palm.sharding = #palm.sharding<@mesh, [[data], [], [model]]>},
    %s: tensor<16xf32> {palm.sharding = #palm.sharding<@mesh, [[]]>}) -> tensor<4x8x16xf32> {
  // CHECK: palm.layer_norm {{.*}}palm.shardings = [#palm.sharding<@mesh, {{\[}}[data], [], [model]]>]
  %y = palm.layer_norm %x, %s : (tensor<4x8x16xf32>, tensor<16xf32>) -> tensor<4x8x16xf32>
  return %y : tensor<4x8x16xf32>
}

// -----

// Positional factors take a split only from an annotation: the sequence
// split the projection inherits from its input does not pass into RoPE.
palm.mesh @mesh(data = 2)
// CHECK-LABEL: func.func @positional_factor
func.func @positional_factor(
    %x: tensor<4x8x16xf32> {palm.sharding = #palm.sharding<@mesh, [[], [data], []]>},
    %w: tensor<16x2x4xf32>) -> tensor<4x8x2x4xf32> {
  // CHECK: palm.dot_general {{.*}}palm.shardings = [#palm.sharding<@mesh, {{\[}}[], [data], [], []]>]
  // CHECK: palm.rope {{.*}}palm.shardings = [#palm.sharding<@mesh, {{\[}}[], [], [], []]>]
  %q = palm.dot_general %x, %w, contracting_dims = [2] x [0] : (tensor<4x8x16xf32>, tensor<16x2x4xf32>) -> tensor<4x8x2x4xf32>
  %r = palm.rope %q : tensor<4x8x2x4xf32>
  return %r : tensor<4x8x2x4xf32>
}

// -----

// A user constraint is kept as given; values around it follow it.
palm.mesh @mesh(data = 2, model = 2)
// CHECK-LABEL: func.func @constraint
func.func @constraint(%x: tensor<4x8x16xf32>) -> tensor<4x8x16xf32> {
  // CHECK: palm.silu {{.*}}palm.shardings = [#palm.sharding<@mesh, {{\[}}[data], [model], []]>]
  %a = palm.silu %x : tensor<4x8x16xf32>
  // CHECK: palm.sharding_constraint %{{.*}} to <@mesh, {{\[}}[data], [model], []]>
  %b = palm.sharding_constraint %a to <@mesh, [[data], [model], []]> : tensor<4x8x16xf32>
  // CHECK: palm.silu {{.*}}palm.shardings = [#palm.sharding<@mesh, {{\[}}[data], [model], []]>]
  %c = palm.silu %b : tensor<4x8x16xf32>
  return %c : tensor<4x8x16xf32>
}

// -----

// A vocab-split embedding is a masked lookup: its result is a partial sum;
// a cross-entropy over the split vocabulary is a partial sum over the
// batch axes only.
palm.mesh @mesh(data = 2, model = 2)
// CHECK-LABEL: func.func @vocab_parallel
func.func @vocab_parallel(
    %table: tensor<32x16xf32> {palm.sharding = #palm.sharding<@mesh, [[model], []]>},
    %ids: tensor<4x8xi32> {palm.sharding = #palm.sharding<@mesh, [[data], []]>},
    %logits: tensor<4x8x32xf32> {palm.sharding = #palm.sharding<@mesh, [[data], [], [model]]>}) -> (tensor<4x8x16xf32>, tensor<f32>) {
  // CHECK: palm.embedding {{.*}}palm.shardings = [#palm.sharding<@mesh, {{\[}}[data], [], []], unreduced = [model: sum]>]
  %x = palm.embedding %table[%ids] : (tensor<32x16xf32>, tensor<4x8xi32>) -> tensor<4x8x16xf32>
  // CHECK: palm.cross_entropy {{.*}}palm.shardings = [#palm.sharding<@mesh, [], unreduced = [data: sum]>]
  %l = palm.cross_entropy %logits, %ids : (tensor<4x8x32xf32>, tensor<4x8xi32>) -> tensor<f32>
  return %x, %l : tensor<4x8x16xf32>, tensor<f32>
}

// -----

// Without annotations, the module's only mesh is used and all is replicated.
palm.mesh @mesh(data = 2)
// CHECK-LABEL: func.func @unannotated
// CHECK-SAME: %arg0: tensor<4xf32> {palm.sharding = #palm.sharding<@mesh, {{\[}}[]]>}
// CHECK-SAME: -> (tensor<4xf32> {palm.sharding = #palm.sharding<@mesh, {{\[}}[]]>})
func.func @unannotated(%x: tensor<4xf32>) -> tensor<4xf32> {
  // CHECK: palm.silu {{.*}}palm.shardings = [#palm.sharding<@mesh, {{\[}}[]]>]
  %y = palm.silu %x : tensor<4xf32>
  return %y : tensor<4xf32>
}

// -----

// A gradient (palm.grad_of) or an updated argument (palm.aliases) without
// a sharding of its own is laid out like its argument, whatever sharding
// its value propagates: the local types must agree after partitioning.
// Here the argument takes the split of the constraint on %x, while the
// gradient's value would be whole.
palm.mesh @mesh(x = 2)
// CHECK-LABEL: func.func @grad_like_argument
// CHECK-SAME: %arg0: tensor<4x8xf32> {palm.sharding = #palm.sharding<@mesh, {{\[\[}}x], []]>}
// CHECK-SAME: -> (tensor<4x8xf32> {palm.grad_of = 0 : i64, palm.sharding = #palm.sharding<@mesh, {{\[\[}}x], []]>}, tensor<4x8xf32> {palm.aliases = 0 : i64, palm.sharding = #palm.sharding<@mesh, {{\[\[}}x], []]>})
func.func @grad_like_argument(%w: tensor<4x8xf32>, %g: tensor<4x8xf32> {palm.sharding = #palm.sharding<@mesh, [[], []]>})
    -> (tensor<4x8xf32> {palm.grad_of = 0 : i64}, tensor<4x8xf32> {palm.aliases = 0 : i64}) {
  %c = palm.sharding_constraint %w to <@mesh, [[x], []]> : tensor<4x8xf32>
  %y = palm.add %g, %g : tensor<4x8xf32>
  return %y, %y : tensor<4x8xf32>, tensor<4x8xf32>
}
