// RUN: palm-opt %s -split-input-file -palm-propagate-shardings -palm-spmd-partition | FileCheck %s

// The worked example of docs/dialect.md: one all-reduce for a Megatron MLP.
palm.mesh @mesh(data = 2, model = 2)
// CHECK: module attributes {palm.level = #palm.level<local>}
// CHECK-LABEL: func.func @megatron_mlp
// CHECK-SAME: %arg0: tensor<4x512xf32> {palm.global_type = tensor<8x512xf32>, palm.sharding = #palm.sharding<@mesh, {{\[}}[data], []]>}
// CHECK-SAME: %arg1: tensor<512x1024xf32>
// CHECK-SAME: %arg2: tensor<1024x512xf32>
// CHECK-SAME: -> (tensor<4x512xf32> {palm.global_type = tensor<8x512xf32>, palm.sharding = #palm.sharding<@mesh, {{\[}}[data], []]>})
func.func @megatron_mlp(
    %x: tensor<8x512xf32> {palm.sharding = #palm.sharding<@mesh, [[data], []]>},
    %w1: tensor<512x2048xf32> {palm.sharding = #palm.sharding<@mesh, [[], [model]]>},
    %w2: tensor<2048x512xf32> {palm.sharding = #palm.sharding<@mesh, [[model], []]>})
    -> (tensor<8x512xf32> {palm.sharding = #palm.sharding<@mesh, [[data], []]>}) {
  // CHECK-NEXT: %[[H:.*]] = palm.dot_general %arg0, %arg1, contracting_dims = [1] x [0] : (tensor<4x512xf32>, tensor<512x1024xf32>) -> tensor<4x1024xf32>
  // CHECK-NEXT: %[[A:.*]] = palm.silu %[[H]] : tensor<4x1024xf32>
  // CHECK-NEXT: %[[P:.*]] = palm.dot_general %[[A]], %arg2, contracting_dims = [1] x [0] : (tensor<4x1024xf32>, tensor<1024x512xf32>) -> tensor<4x512xf32>
  // CHECK-NEXT: %[[Y:.*]] = palm.all_reduce %[[P]] on @mesh [model] sum : tensor<4x512xf32>
  // CHECK-NEXT: return %[[Y]] : tensor<4x512xf32>
  %h = palm.dot_general %x, %w1, contracting_dims = [1] x [0] : (tensor<8x512xf32>, tensor<512x2048xf32>) -> tensor<8x2048xf32>
  %a = palm.silu %h : tensor<8x2048xf32>
  %y = palm.dot_general %a, %w2, contracting_dims = [1] x [0] : (tensor<8x2048xf32>, tensor<2048x512xf32>) -> tensor<8x512xf32>
  return %y : tensor<8x512xf32>
}

// -----

// A partial sum wanted split becomes a reduce-scatter, not an all-reduce.
palm.mesh @mesh(model = 2)
// CHECK-LABEL: func.func @reduce_scatter
func.func @reduce_scatter(
    %a: tensor<8x16xf32> {palm.sharding = #palm.sharding<@mesh, [[], [model]]>},
    %w: tensor<16x8xf32> {palm.sharding = #palm.sharding<@mesh, [[model], []]>})
    -> (tensor<8x8xf32> {palm.sharding = #palm.sharding<@mesh, [[model], []]>}) {
  // CHECK: %[[P:.*]] = palm.dot_general {{.*}} -> tensor<8x8xf32>
  // CHECK-NEXT: %[[S:.*]] = palm.reduce_scatter %[[P]] on @mesh [model] sum dim 0 : tensor<8x8xf32> -> tensor<4x8xf32>
  // CHECK-NEXT: return %[[S]]
  %y = palm.dot_general %a, %w, contracting_dims = [1] x [0] : (tensor<8x16xf32>, tensor<16x8xf32>) -> tensor<8x8xf32>
  return %y : tensor<8x8xf32>
}

// -----

// A partial sum wanted split over a dimension the group does not divide
// (9 rows over 2) is zero-padded to a multiple of the group, then reduce-
// scattered: each device keeps 5 rows, the last one padding on device 1,
// which the result's mask keeps zero.
palm.mesh @mesh(model = 2)
// CHECK-LABEL: func.func @uneven_reduce_scatter
func.func @uneven_reduce_scatter(
    %a: tensor<9x16xf32> {palm.sharding = #palm.sharding<@mesh, [[], [model]]>},
    %w: tensor<16x8xf32> {palm.sharding = #palm.sharding<@mesh, [[model], []]>})
    -> (tensor<9x8xf32> {palm.sharding = #palm.sharding<@mesh, [[model], []]>}) {
  // CHECK: %[[P:.*]] = palm.dot_general {{.*}} -> tensor<9x8xf32>
  // CHECK-NEXT: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
  // CHECK-NEXT: %[[PAD:.*]] = tensor.pad %[[P]] low[0, 0] high[1, 0] {
  // CHECK:        tensor.yield %[[ZERO]] : f32
  // CHECK-NEXT: } : tensor<9x8xf32> to tensor<10x8xf32>
  // CHECK-NEXT: %[[S:.*]] = palm.reduce_scatter %[[PAD]] on @mesh [model] sum dim 0 : tensor<10x8xf32> -> tensor<5x8xf32>
  // CHECK-NEXT: %[[M:.*]] = palm.mask_padding %[[S]] dim 0 shard <@mesh, [model], 9> : tensor<5x8xf32>
  // CHECK-NEXT: return %[[M]]
  %y = palm.dot_general %a, %w, contracting_dims = [1] x [0] : (tensor<9x16xf32>, tensor<16x8xf32>) -> tensor<9x8xf32>
  return %y : tensor<9x8xf32>
}

// -----

// Moving a split between dimensions is one all-to-all.
palm.mesh @mesh(model = 4)
// CHECK-LABEL: func.func @all_to_all
func.func @all_to_all(%x: tensor<8x16xf32> {palm.sharding = #palm.sharding<@mesh, [[model], []]>})
    -> (tensor<8x16xf32> {palm.sharding = #palm.sharding<@mesh, [[], [model]]>}) {
  // CHECK: palm.all_to_all %{{.*}} on @mesh [model] split 1 concat 0 : tensor<2x16xf32> -> tensor<8x4xf32>
  %y = palm.silu %x : tensor<8x16xf32>
  return %y : tensor<8x16xf32>
}

// -----

// Gathering keeps the axes two shardings share; slicing needs no
// communication; an axis that moves between dimensions is an all-to-all.
palm.mesh @mesh(data = 2, model = 2)
// CHECK-LABEL: func.func @gather_slice_move
func.func @gather_slice_move(
    %x: tensor<8x16xf32> {palm.sharding = #palm.sharding<@mesh, [[data, model], []]>},
    %y: tensor<8x16xf32> {palm.sharding = #palm.sharding<@mesh, [[data], []]>})
    -> (tensor<8x16xf32> {palm.sharding = #palm.sharding<@mesh, [[data], []]>},
        tensor<8x16xf32> {palm.sharding = #palm.sharding<@mesh, [[data], [model]]>},
        tensor<8x16xf32> {palm.sharding = #palm.sharding<@mesh, [[data], [model]]>}) {
  // CHECK: %[[G:.*]] = palm.all_gather %arg0 on @mesh [model] dim 0 : tensor<2x16xf32> -> tensor<4x16xf32>
  // CHECK: %[[S:.*]] = palm.all_slice %arg1 on @mesh [model] dim 1 : tensor<4x16xf32> -> tensor<4x8xf32>
  // CHECK: %[[M:.*]] = palm.all_to_all %arg0 on @mesh [model] split 1 concat 0 : tensor<2x16xf32> -> tensor<4x8xf32>
  // CHECK: return %[[G]], %[[S]], %[[M]]
  return %x, %y, %x : tensor<8x16xf32>, tensor<8x16xf32>, tensor<8x16xf32>
}

// -----

// Uneven: 9 over 4 is shards of 3 with 3 of padding. Gathered, the padding
// is dropped, so the replicated result has exactly 9 rows.
palm.mesh @mesh(model = 4)
// CHECK-LABEL: func.func @uneven_gather
func.func @uneven_gather(%x: tensor<9x2xf32> {palm.sharding = #palm.sharding<@mesh, [[model], []]>})
    -> (tensor<9x2xf32> {palm.sharding = #palm.sharding<@mesh, [[], []]>}) {
  // CHECK: %[[G:.*]] = palm.all_gather %{{.*}} on @mesh [model] dim 0 : tensor<3x2xf32> -> tensor<12x2xf32>
  // CHECK-NEXT: %[[E:.*]] = tensor.extract_slice %[[G]][0, 0] [9, 2] [1, 1] : tensor<12x2xf32> to tensor<9x2xf32>
  // CHECK-NEXT: return %[[E]] : tensor<9x2xf32>
  %y = palm.silu %x : tensor<9x2xf32>
  return %y : tensor<9x2xf32>
}

// -----

// Uneven shards that do not nest (10 over 2 is 5; over 2x2 is 3, and 5 is
// not 2 x 3) are gathered whole and sliced again, never misaligned.
palm.mesh @mesh(data = 2, model = 2)
// CHECK-LABEL: func.func @uneven_nesting
func.func @uneven_nesting(%x: tensor<10xf32> {palm.sharding = #palm.sharding<@mesh, [[data]]>})
    -> (tensor<10xf32> {palm.sharding = #palm.sharding<@mesh, [[data, model]]>}) {
  // CHECK: %[[G:.*]] = palm.all_gather %arg0 on @mesh [data] dim 0 : tensor<5xf32> -> tensor<10xf32>
  // CHECK-NEXT: %[[S:.*]] = palm.all_slice %[[G]] on @mesh [data, model] dim 0 : tensor<10xf32> -> tensor<3xf32>
  // CHECK-NEXT: %[[Y:.*]] = palm.silu %[[S]] : tensor<3xf32>
  // Results are zero-padded, as arguments are.
  // CHECK-NEXT: %[[M:.*]] = palm.mask_padding %[[Y]] dim 0 shard <@mesh, [data, model], 10> : tensor<3xf32>
  // CHECK-NEXT: return %[[M]] : tensor<3xf32>
  %y = palm.silu %x : tensor<10xf32>
  return %y : tensor<10xf32>
}

// -----

// A contraction over an uneven split masks the padding of a computed
// operand; a function argument is zero-padded by contract.
palm.mesh @mesh(model = 2)
// CHECK-LABEL: func.func @uneven_contraction
func.func @uneven_contraction(
    %x: tensor<4x5xf32> {palm.sharding = #palm.sharding<@mesh, [[], [model]]>},
    %w: tensor<5x8xf32> {palm.sharding = #palm.sharding<@mesh, [[model], []]>})
    -> (tensor<4x8xf32> {palm.sharding = #palm.sharding<@mesh, [[], []]>}) {
  // CHECK: %[[A:.*]] = palm.silu %arg0 : tensor<4x3xf32>
  // CHECK-NEXT: %[[B:.*]] = palm.silu %arg1 : tensor<3x8xf32>
  // CHECK-NEXT: %[[M:.*]] = palm.mask_padding %[[A]] dim 1 shard <@mesh, [model], 5> : tensor<4x3xf32>
  // CHECK-NEXT: palm.dot_general %[[M]], %[[B]]
  %a = palm.silu %x : tensor<4x5xf32>
  %b = palm.silu %w : tensor<5x8xf32>
  %y = palm.dot_general %a, %b, contracting_dims = [1] x [0] : (tensor<4x5xf32>, tensor<5x8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// A vocab-split embedding is a masked local lookup plus one reduction; a
// cross-entropy over a split vocabulary moves token-sized values only.
palm.mesh @mesh(data = 2, model = 2)
// CHECK-LABEL: func.func @vocab_parallel
func.func @vocab_parallel(
    %table: tensor<33x16xf32> {palm.sharding = #palm.sharding<@mesh, [[model], []]>},
    %ids: tensor<4x8xi32> {palm.sharding = #palm.sharding<@mesh, [[data], []]>},
    %s: tensor<16xf32> {palm.sharding = #palm.sharding<@mesh, [[]]>})
    -> (tensor<f32> {palm.sharding = #palm.sharding<@mesh, []>}) {
  // CHECK: %[[X:.*]] = palm.embedding %arg0[%arg1] {vocab_shard = #palm.dim_shard<@mesh, [model], 33>} : (tensor<17x16xf32>, tensor<2x8xi32>) -> tensor<2x8x16xf32>
  // CHECK-NEXT: %[[R:.*]] = palm.all_reduce %[[X]] on @mesh [model] sum : tensor<2x8x16xf32>
  // CHECK-NEXT: %[[N:.*]] = palm.layer_norm %[[R]], %arg2
  // CHECK-NEXT: %[[L:.*]] = palm.dot_general %[[N]], %arg0, contracting_dims = [2] x [1] : (tensor<2x8x16xf32>, tensor<17x16xf32>) -> tensor<2x8x17xf32>
  // CHECK-NEXT: %[[M:.*]] = palm.softmax_max %[[L]] shard <@mesh, [model], 33> : tensor<2x8x17xf32> -> tensor<2x8xf32>
  // CHECK-NEXT: %[[GM:.*]] = palm.all_reduce %[[M]] on @mesh [model] max : tensor<2x8xf32>
  // CHECK-NEXT: %[[SS:.*]] = palm.softmax_sums %[[L]], %[[GM]], %arg1 shard <@mesh, [model], 33>
  // CHECK-NEXT: %[[GS:.*]] = palm.all_reduce %[[SS]] on @mesh [model] sum : tensor<2x2x8xf32>
  // CHECK-NEXT: %[[LOSS:.*]] = palm.cross_entropy_loss %[[GM]], %[[GS]] {token_count = 32 : i64, token_shards = [#palm.dim_shard<@mesh, [data], 4>, unit]}
  // CHECK-NEXT: %[[T:.*]] = palm.all_reduce %[[LOSS]] on @mesh [data] sum : tensor<f32>
  // CHECK-NEXT: return %[[T]]
  %x = palm.embedding %table[%ids] : (tensor<33x16xf32>, tensor<4x8xi32>) -> tensor<4x8x16xf32>
  %n = palm.layer_norm %x, %s : (tensor<4x8x16xf32>, tensor<16xf32>) -> tensor<4x8x16xf32>
  %logits = palm.dot_general %n, %table, contracting_dims = [2] x [1] : (tensor<4x8x16xf32>, tensor<33x16xf32>) -> tensor<4x8x33xf32>
  %l = palm.cross_entropy %logits, %ids : (tensor<4x8x33xf32>, tensor<4x8xi32>) -> tensor<f32>
  return %l : tensor<f32>
}

// -----

// Sharding constraints become the collectives that meet them and vanish.
palm.mesh @mesh(data = 2)
// CHECK-LABEL: func.func @constraint
func.func @constraint(%x: tensor<4x8xf32> {palm.sharding = #palm.sharding<@mesh, [[], []]>}) -> tensor<4x8xf32> {
  // CHECK: %[[S:.*]] = palm.all_slice %arg0 on @mesh [data] dim 0 : tensor<4x8xf32> -> tensor<2x8xf32>
  // CHECK-NEXT: palm.silu %[[S]] : tensor<2x8xf32>
  // CHECK-NOT: sharding_constraint
  %c = palm.sharding_constraint %x to <@mesh, [[data], []]> : tensor<4x8xf32>
  %y = palm.silu %c : tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// An axis of size 1 never gives a collective.
palm.mesh @mesh(data = 1, model = 2)
// CHECK-LABEL: func.func @size_one_axis
func.func @size_one_axis(%x: tensor<4x8xf32> {palm.sharding = #palm.sharding<@mesh, [[data], []]>})
    -> (tensor<4x8xf32> {palm.sharding = #palm.sharding<@mesh, [[], []]>}) {
  // CHECK-NOT: palm.all_gather
  // CHECK: return
  %y = palm.silu %x : tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// A LayerNorm feeding a contraction whose weight is split on the contracting
// dimension (issue 11, case 1): the normalized dimension is replicated in
// the LayerNorm's rule, so the LayerNorm computes whole rows and its result
// is sliced afterwards for the contraction, never normalized per shard.
palm.mesh @mesh(x = 2)
// CHECK-LABEL: func.func @layer_norm_into_split_contraction
func.func @layer_norm_into_split_contraction(
    %x: tensor<4x8xf32> {palm.sharding = #palm.sharding<@mesh, [[], []]>},
    %g: tensor<8xf32>,
    %w: tensor<8x6xf32> {palm.sharding = #palm.sharding<@mesh, [[x], []]>})
    -> (tensor<4x8xf32>, tensor<4x6xf32>) {
  // CHECK-NEXT: %[[N:.*]] = palm.layer_norm %arg0, %arg1 : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  // CHECK-NEXT: %[[S:.*]] = palm.all_slice %[[N]] on @mesh [x] dim 1 : tensor<4x8xf32> -> tensor<4x4xf32>
  // CHECK-NEXT: %[[P:.*]] = palm.dot_general %[[S]], %arg2
  // CHECK-NEXT: %[[Y:.*]] = palm.all_reduce %[[P]] on @mesh [x] sum
  // CHECK-NEXT: return %[[S]], %[[Y]]
  %n = palm.layer_norm %x, %g : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %y = palm.dot_general %n, %w, contracting_dims = [1] x [0] : (tensor<4x8xf32>, tensor<8x6xf32>) -> tensor<4x6xf32>
  return %n, %y : tensor<4x8xf32>, tensor<4x6xf32>
}

// -----

// RoPE whose result a constraint splits along the sequence (issue 11,
// case 1): the sequence is a positional factor, so each device rotates its
// slice at its global positions (seq_shard), not from position 0.
palm.mesh @mesh(x = 2)
// CHECK-LABEL: func.func @rope_sequence_split
func.func @rope_sequence_split(%q: tensor<1x6x2x4xf32>) -> tensor<1x6x2x4xf32> {
  // CHECK-NEXT: %[[S:.*]] = palm.all_slice %arg0 on @mesh [x] dim 1 : tensor<1x6x2x4xf32> -> tensor<1x3x2x4xf32>
  // CHECK-NEXT: %[[R:.*]] = palm.rope %[[S]] {seq_shard = #palm.dim_shard<@mesh, [x], 6>} : tensor<1x3x2x4xf32>
  // CHECK-NEXT: return %[[R]]
  %r = palm.rope %q : tensor<1x6x2x4xf32>
  %c = palm.sharding_constraint %r to <@mesh, [[], [x], [], []]> : tensor<1x6x2x4xf32>
  return %c : tensor<1x6x2x4xf32>
}

// -----

// Queries split along the sequence: keys and values are gathered whole and
// the causal mask is taken at the queries' global positions (seq_shard).
palm.mesh @mesh(x = 2)
// CHECK-LABEL: func.func @attention_query_split
func.func @attention_query_split(
    %q: tensor<1x6x2x4xf32> {palm.sharding = #palm.sharding<@mesh, [[], [x], [], []]>},
    %k: tensor<1x6x1x4xf32> {palm.sharding = #palm.sharding<@mesh, [[], [x], [], []]>})
    -> (tensor<1x6x2x4xf32> {palm.sharding = #palm.sharding<@mesh, [[], [x], [], []]>}) {
  // CHECK-NEXT: %[[K:.*]] = palm.all_gather %arg1 on @mesh [x] dim 1 : tensor<1x3x1x4xf32> -> tensor<1x6x1x4xf32>
  // CHECK:      palm.attention %arg0, %[[K]], %{{.*}} {causal, seq_shard = #palm.dim_shard<@mesh, [x], 6>} : (tensor<1x3x2x4xf32>, tensor<1x6x1x4xf32>, tensor<1x6x1x4xf32>) -> tensor<1x3x2x4xf32>
  %a = palm.attention %q, %k, %k {causal} : (tensor<1x6x2x4xf32>, tensor<1x6x1x4xf32>, tensor<1x6x1x4xf32>) -> tensor<1x6x2x4xf32>
  return %a : tensor<1x6x2x4xf32>
}

// -----

// Grouped key/value heads follow the query heads when both counts divide
// over the axes (8 and 2 heads over model = 2): each device holds the one
// key/value head its four query heads use.
palm.mesh @mesh(model = 2)
// CHECK-LABEL: func.func @grouped_heads_split
// CHECK-SAME: %arg1: tensor<1x4x1x4xf32> {palm.global_type = tensor<1x4x2x4xf32>, palm.sharding = #palm.sharding<@mesh, {{\[}}[], [], [model], []]>}
func.func @grouped_heads_split(
    %q: tensor<1x4x8x4xf32> {palm.sharding = #palm.sharding<@mesh, [[], [], [model], []]>},
    %k: tensor<1x4x2x4xf32>, %v: tensor<1x4x2x4xf32>) -> tensor<1x4x8x4xf32> {
  // CHECK-NEXT: palm.attention %arg0, %arg1, %arg2 {causal, heads_shard = #palm.dim_shard<@mesh, [model], 8>, kv_heads_shard = #palm.dim_shard<@mesh, [model], 2>} : (tensor<1x4x4x4xf32>, tensor<1x4x1x4xf32>, tensor<1x4x1x4xf32>) -> tensor<1x4x4x4xf32>
  %a = palm.attention %q, %k, %v {causal} : (tensor<1x4x8x4xf32>, tensor<1x4x2x4xf32>, tensor<1x4x2x4xf32>) -> tensor<1x4x8x4xf32>
  return %a : tensor<1x4x8x4xf32>
}

// -----

// Query heads split finer than heads / kv_heads (issue 11, case 3: 8 heads,
// 2 key/value heads, model = 8): the key/value heads cannot follow, so they
// stay whole and each device's one query head finds its key/value head
// from its global head index.
palm.mesh @mesh(model = 8)
// CHECK-LABEL: func.func @grouped_heads_finer_split
func.func @grouped_heads_finer_split(
    %q: tensor<1x4x8x4xf32> {palm.sharding = #palm.sharding<@mesh, [[], [], [model], []]>},
    %k: tensor<1x4x2x4xf32>, %v: tensor<1x4x2x4xf32>) -> tensor<1x4x8x4xf32> {
  // CHECK-NEXT: palm.attention %arg0, %arg1, %arg2 {causal, heads_shard = #palm.dim_shard<@mesh, [model], 8>} : (tensor<1x4x1x4xf32>, tensor<1x4x2x4xf32>, tensor<1x4x2x4xf32>) -> tensor<1x4x1x4xf32>
  %a = palm.attention %q, %k, %v {causal} : (tensor<1x4x8x4xf32>, tensor<1x4x2x4xf32>, tensor<1x4x2x4xf32>) -> tensor<1x4x8x4xf32>
  return %a : tensor<1x4x8x4xf32>
}

// -----

// A layer norm whose input is already split on its features, and whose
// result is wanted so: each device computes its rows' moments, one small
// all-gather of [shards, 3, rows] moves them, and each device merges them
// and normalizes its shard. The activations never move.
palm.mesh @mesh(x = 2)
// CHECK-LABEL: func.func @layer_norm_split_features
func.func @layer_norm_split_features(
    %x: tensor<4x8xf32> {palm.sharding = #palm.sharding<@mesh, [[], [x]]>},
    %g: tensor<8xf32>)
    -> (tensor<4x8xf32> {palm.sharding = #palm.sharding<@mesh, [[], [x]]>}) {
  // CHECK-SAME: %arg1: tensor<4xf32> {palm.global_type = tensor<8xf32>, palm.sharding = #palm.sharding<@mesh, {{\[}}[x]]>}
  // CHECK-NEXT: %[[M:.*]] = palm.row_moments %arg0 shard <@mesh, [x], 8> : tensor<4x4xf32> -> tensor<1x3x4xf32>
  // CHECK-NEXT: %[[A:.*]] = palm.all_gather %[[M]] on @mesh [x] dim 0 : tensor<1x3x4xf32> -> tensor<2x3x4xf32>
  // CHECK-NEXT: %[[Y:.*]] = palm.layer_norm_merged %arg0, %arg1, %[[A]] : (tensor<4x4xf32>, tensor<4xf32>, tensor<2x3x4xf32>) -> tensor<4x4xf32>
  // CHECK-NEXT: return %[[Y]]
  %y = palm.layer_norm %x, %g : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// The same split wanted of a layer norm whose input is whole: the moments
// would cost a collective the slice does not, so the rows are normalized
// whole and sliced.
palm.mesh @mesh(x = 2)
// CHECK-LABEL: func.func @layer_norm_whole_input
func.func @layer_norm_whole_input(
    %x: tensor<4x8xf32> {palm.sharding = #palm.sharding<@mesh, [[], []]>},
    %g: tensor<8xf32> {palm.sharding = #palm.sharding<@mesh, [[]]>})
    -> (tensor<4x8xf32> {palm.sharding = #palm.sharding<@mesh, [[], [x]]>}) {
  // CHECK-NEXT: %[[N:.*]] = palm.layer_norm %arg0, %arg1 : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  // CHECK-NEXT: palm.all_slice %[[N]] on @mesh [x] dim 1
  // CHECK-NOT: row_moments
  %y = palm.layer_norm %x, %g : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// Attention with the value head dimension split computes whole scores on
// every shard, so its log-sum-exp is whole there too: not a partial sum to
// reduce (an all-reduce would add the shards' copies; palm_fuzz --grads
// found every gradient through such an attention wrong).
palm.mesh @mesh(x = 2)
// CHECK-LABEL: func.func @attention_lse_value_dim_split
func.func @attention_lse_value_dim_split(
    %q: tensor<1x4x2x2xf32> {palm.sharding = #palm.sharding<@mesh, [[], [], [], []]>},
    %k: tensor<1x4x2x2xf32> {palm.sharding = #palm.sharding<@mesh, [[], [], [], []]>},
    %v: tensor<1x4x2x4xf32> {palm.sharding = #palm.sharding<@mesh, [[], [], [], [x]]>})
    -> (tensor<1x4x2x4xf32> {palm.sharding = #palm.sharding<@mesh, [[], [], [], [x]]>},
        tensor<1x4x2xf32> {palm.sharding = #palm.sharding<@mesh, [[], [], []]>}) {
  // CHECK-NEXT: %[[O:.*]], %[[LSE:.*]] = palm.attention %arg0, %arg1, %arg2 : (tensor<1x4x2x2xf32>, tensor<1x4x2x2xf32>, tensor<1x4x2x2xf32>) -> (tensor<1x4x2x2xf32>, tensor<1x4x2xf32>)
  // CHECK-NOT: all_reduce
  // CHECK: return %[[O]], %[[LSE]]
  %o, %lse = palm.attention %q, %k, %v : (tensor<1x4x2x2xf32>, tensor<1x4x2x2xf32>, tensor<1x4x2x4xf32>) -> (tensor<1x4x2x4xf32>, tensor<1x4x2xf32>)
  return %o, %lse : tensor<1x4x2x4xf32>, tensor<1x4x2xf32>
}
