// One case per verifier rule of the backward ops (-palm-autodiff builds
// them) and of attention's log-sum-exp result.
// RUN: palm-opt %s -split-input-file -verify-diagnostics

func.func @attention_lse_shape(%q: tensor<2x8x4x4xf32>, %k: tensor<2x8x1x4xf32>, %v: tensor<2x8x1x4xf32>) {
  // expected-error@+1 {{lse must be 'tensor<2x8x4xf32>', not 'tensor<2x4x8xf32>'}}
  %o, %l = palm.attention %q, %k, %v {causal} : (tensor<2x8x4x4xf32>, tensor<2x8x1x4xf32>, tensor<2x8x1x4xf32>) -> (tensor<2x8x4x4xf32>, tensor<2x4x8xf32>)
  return
}

// -----

func.func @layer_norm_grad_scale(%x: tensor<2x8xf32>, %s: tensor<4xf32>, %dy: tensor<2x8xf32>) {
  // expected-error@+1 {{scale 'tensor<4xf32>' must be rank 1 with the size of the input's last dimension (8)}}
  %dx, %ds = palm.layer_norm_grad %x, %s, %dy : (tensor<2x8xf32>, tensor<4xf32>, tensor<2x8xf32>) -> (tensor<2x8xf32>, tensor<4xf32>)
  return
}

// -----

func.func @layer_norm_grad_epsilon(%x: tensor<2x8xf32>, %s: tensor<8xf32>, %dy: tensor<2x8xf32>) {
  // expected-error@+1 {{epsilon must be positive}}
  %dx, %ds = palm.layer_norm_grad %x, %s, %dy {epsilon = 0.0 : f32} : (tensor<2x8xf32>, tensor<8xf32>, tensor<2x8xf32>) -> (tensor<2x8xf32>, tensor<8xf32>)
  return
}

// -----

func.func @layer_norm_grad_dy(%x: tensor<2x8xf32>, %s: tensor<8xf32>, %dy: tensor<2x4xf32>) {
  // expected-error@+1 {{grad and input_grad must have the input's type 'tensor<2x8xf32>'}}
  %dx, %ds = palm.layer_norm_grad %x, %s, %dy : (tensor<2x8xf32>, tensor<8xf32>, tensor<2x4xf32>) -> (tensor<2x8xf32>, tensor<8xf32>)
  return
}

// -----

func.func @layer_norm_grad_scale_grad(%x: tensor<2x8xf32>, %s: tensor<8xf32>, %dy: tensor<2x8xf32>) {
  // expected-error@+1 {{scale_grad must have the scale's type 'tensor<8xf32>'}}
  %dx, %ds = palm.layer_norm_grad %x, %s, %dy : (tensor<2x8xf32>, tensor<8xf32>, tensor<2x8xf32>) -> (tensor<2x8xf32>, tensor<2x8xf32>)
  return
}

// -----

func.func @attention_grad_operands(%q: tensor<2x8x4x4xf32>, %k: tensor<2x8x3x4xf32>, %v: tensor<2x8x3x4xf32>, %o: tensor<2x8x4x4xf32>, %l: tensor<2x8x4xf32>, %do: tensor<2x8x4x4xf32>) {
  // expected-error@+1 {{query heads (4) must be a multiple of key/value heads (3)}}
  %dq, %dk, %dv = palm.attention_grad %q, %k, %v, %o, %l, %do : (tensor<2x8x4x4xf32>, tensor<2x8x3x4xf32>, tensor<2x8x3x4xf32>, tensor<2x8x4x4xf32>, tensor<2x8x4xf32>, tensor<2x8x4x4xf32>) -> (tensor<2x8x4x4xf32>, tensor<2x8x3x4xf32>, tensor<2x8x3x4xf32>)
  return
}

// -----

func.func @attention_grad_out(%q: tensor<2x8x4x4xf32>, %k: tensor<2x8x1x4xf32>, %v: tensor<2x8x1x4xf32>, %o: tensor<2x8x4x2xf32>, %l: tensor<2x8x4xf32>, %do: tensor<2x8x4x2xf32>) {
  // expected-error@+1 {{result type should be 'tensor<2x8x4x4xf32>', not 'tensor<2x8x4x2xf32>'}}
  %dq, %dk, %dv = palm.attention_grad %q, %k, %v, %o, %l, %do : (tensor<2x8x4x4xf32>, tensor<2x8x1x4xf32>, tensor<2x8x1x4xf32>, tensor<2x8x4x2xf32>, tensor<2x8x4xf32>, tensor<2x8x4x2xf32>) -> (tensor<2x8x4x4xf32>, tensor<2x8x1x4xf32>, tensor<2x8x1x4xf32>)
  return
}

// -----

func.func @attention_grad_lse(%q: tensor<2x8x4x4xf32>, %k: tensor<2x8x1x4xf32>, %v: tensor<2x8x1x4xf32>, %o: tensor<2x8x4x4xf32>, %l: tensor<2x8xf32>, %do: tensor<2x8x4x4xf32>) {
  // expected-error@+1 {{lse must be 'tensor<2x8x4xf32>', not 'tensor<2x8xf32>'}}
  %dq, %dk, %dv = palm.attention_grad %q, %k, %v, %o, %l, %do : (tensor<2x8x4x4xf32>, tensor<2x8x1x4xf32>, tensor<2x8x1x4xf32>, tensor<2x8x4x4xf32>, tensor<2x8xf32>, tensor<2x8x4x4xf32>) -> (tensor<2x8x4x4xf32>, tensor<2x8x1x4xf32>, tensor<2x8x1x4xf32>)
  return
}

// -----

func.func @attention_grad_dout(%q: tensor<2x8x4x4xf32>, %k: tensor<2x8x1x4xf32>, %v: tensor<2x8x1x4xf32>, %o: tensor<2x8x4x4xf32>, %l: tensor<2x8x4xf32>, %do: tensor<2x8x4x3xf32>) {
  // expected-error@+1 {{grad 'tensor<2x8x4x3xf32>' must have the attention result's type 'tensor<2x8x4x4xf32>'}}
  %dq, %dk, %dv = palm.attention_grad %q, %k, %v, %o, %l, %do : (tensor<2x8x4x4xf32>, tensor<2x8x1x4xf32>, tensor<2x8x1x4xf32>, tensor<2x8x4x4xf32>, tensor<2x8x4xf32>, tensor<2x8x4x3xf32>) -> (tensor<2x8x4x4xf32>, tensor<2x8x1x4xf32>, tensor<2x8x1x4xf32>)
  return
}

// -----

func.func @attention_grad_result(%q: tensor<2x8x4x4xf32>, %k: tensor<2x8x1x4xf32>, %v: tensor<2x8x1x4xf32>, %o: tensor<2x8x4x4xf32>, %l: tensor<2x8x4xf32>, %do: tensor<2x8x4x4xf32>) {
  // expected-error@+1 {{key_grad must have the key's type 'tensor<2x8x1x4xf32>', not 'tensor<2x8x4x4xf32>'}}
  %dq, %dk, %dv = palm.attention_grad %q, %k, %v, %o, %l, %do : (tensor<2x8x4x4xf32>, tensor<2x8x1x4xf32>, tensor<2x8x1x4xf32>, tensor<2x8x4x4xf32>, tensor<2x8x4xf32>, tensor<2x8x4x4xf32>) -> (tensor<2x8x4x4xf32>, tensor<2x8x4x4xf32>, tensor<2x8x1x4xf32>)
  return
}

// -----

palm.mesh @mesh(model = 2)
func.func @attention_grad_shard_global(%q: tensor<2x8x4x4xf32>, %k: tensor<2x8x1x4xf32>, %v: tensor<2x8x1x4xf32>, %o: tensor<2x8x4x4xf32>, %l: tensor<2x8x4xf32>, %do: tensor<2x8x4x4xf32>) {
  // expected-error@+1 {{heads_shard belongs to the local level}}
  %dq, %dk, %dv = palm.attention_grad %q, %k, %v, %o, %l, %do {heads_shard = #palm.dim_shard<@mesh, [model], 8>} : (tensor<2x8x4x4xf32>, tensor<2x8x1x4xf32>, tensor<2x8x1x4xf32>, tensor<2x8x4x4xf32>, tensor<2x8x4xf32>, tensor<2x8x4x4xf32>) -> (tensor<2x8x4x4xf32>, tensor<2x8x1x4xf32>, tensor<2x8x1x4xf32>)
  return
}

// -----

func.func @embedding_grad_rank(%ids: tensor<2x8xi32>, %dy: tensor<2x8x16xf32>) {
  // expected-error@+1 {{result must be [vocab, d_model], got 'tensor<32x16x1xf32>'}}
  %dt = palm.embedding_grad %ids, %dy : (tensor<2x8xi32>, tensor<2x8x16xf32>) -> tensor<32x16x1xf32>
  return
}

// -----

func.func @embedding_grad_dy(%ids: tensor<2x8xi32>, %dy: tensor<2x8x8xf32>) {
  // expected-error@+1 {{grad should be 'tensor<2x8x16xf32>', not 'tensor<2x8x8xf32>'}}
  %dt = palm.embedding_grad %ids, %dy : (tensor<2x8xi32>, tensor<2x8x8xf32>) -> tensor<32x16xf32>
  return
}

// -----

palm.mesh @mesh(model = 2)
func.func @embedding_grad_shard_global(%ids: tensor<2x8xi32>, %dy: tensor<2x8x16xf32>) {
  // expected-error@+1 {{vocab_shard belongs to the local level}}
  %dt = palm.embedding_grad %ids, %dy {vocab_shard = #palm.dim_shard<@mesh, [model], 64>} : (tensor<2x8xi32>, tensor<2x8x16xf32>) -> tensor<32x16xf32>
  return
}

// -----

func.func @cross_entropy_grad_targets(%l: tensor<2x8x32xf32>, %t: tensor<2x4xi32>) {
  // expected-error@+1 {{targets 'tensor<2x4xi32>' must have the logits' shape without the last dimension}}
  %d = palm.cross_entropy_grad %l, %t : (tensor<2x8x32xf32>, tensor<2x4xi32>) -> tensor<2x8x32xf32>
  return
}

// -----

func.func @cross_entropy_grad_rank(%l: tensor<32xf32>, %t: tensor<i32>) {
  // expected-error@+1 {{logits must have rank at least 2, got 'tensor<32xf32>'}}
  %d = palm.cross_entropy_grad %l, %t : (tensor<32xf32>, tensor<i32>) -> tensor<32xf32>
  return
}

// -----

func.func @cross_entropy_grad_z_loss(%l: tensor<2x8x32xf32>, %t: tensor<2x8xi32>) {
  // expected-error@+1 {{z_loss must be non-negative}}
  %d = palm.cross_entropy_grad %l, %t {z_loss = -1.0 : f32} : (tensor<2x8x32xf32>, tensor<2x8xi32>) -> tensor<2x8x32xf32>
  return
}

// -----

func.func @cross_entropy_grad_result(%l: tensor<2x8x32xf32>, %t: tensor<2x8xi32>) {
  // expected-error@+1 {{result must have the logits' type 'tensor<2x8x32xf32>'}}
  %d = palm.cross_entropy_grad %l, %t : (tensor<2x8x32xf32>, tensor<2x8xi32>) -> tensor<2x8x16xf32>
  return
}

// -----

func.func @cross_entropy_grad_global(%l: tensor<2x8x32xf32>, %t: tensor<2x8xi32>) {
  // expected-error@+1 {{token_count, token_shards and vocab_shard belongs to the local level}}
  %d = palm.cross_entropy_grad %l, %t {token_count = 16 : i64} : (tensor<2x8x32xf32>, tensor<2x8xi32>) -> tensor<2x8x32xf32>
  return
}

// -----

module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(model = 2)
  func.func @cross_entropy_grad_stats_without_shard(%l: tensor<2x8x16xf32>, %t: tensor<2x8xi32>, %m: tensor<2x8xf32>, %s: tensor<2x2x8xf32>) {
    // expected-error@+1 {{max and sums come with vocab_shard: a split vocabulary needs the combined statistics}}
    %d = palm.cross_entropy_grad %l, %t stats(%m, %s) {token_count = 16 : i64} : (tensor<2x8x16xf32>, tensor<2x8xi32>, tensor<2x8xf32>, tensor<2x2x8xf32>) -> tensor<2x8x16xf32>
    return
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(model = 2)
  func.func @cross_entropy_grad_max_shape(%l: tensor<2x8x16xf32>, %t: tensor<2x8xi32>, %m: tensor<8xf32>, %s: tensor<2x2x8xf32>) {
    // expected-error@+1 {{max must have the token shape}}
    %d = palm.cross_entropy_grad %l, %t stats(%m, %s) {vocab_shard = #palm.dim_shard<@mesh, [model], 32>} : (tensor<2x8x16xf32>, tensor<2x8xi32>, tensor<8xf32>, tensor<2x2x8xf32>) -> tensor<2x8x16xf32>
    return
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(model = 2)
  func.func @cross_entropy_grad_sums_shape(%l: tensor<2x8x16xf32>, %t: tensor<2x8xi32>, %m: tensor<2x8xf32>, %s: tensor<3x2x8xf32>) {
    // expected-error@+1 {{sums must be [2] followed by the token shape}}
    %d = palm.cross_entropy_grad %l, %t stats(%m, %s) {vocab_shard = #palm.dim_shard<@mesh, [model], 32>} : (tensor<2x8x16xf32>, tensor<2x8xi32>, tensor<2x8xf32>, tensor<3x2x8xf32>) -> tensor<2x8x16xf32>
    return
  }
}

// -----

func.func @silu_grad_types(%x: tensor<8xf32>, %dy: tensor<4xf32>) {
  // expected-error@+1 {{requires the same type for all operands and results}}
  %d = "palm.silu_grad"(%x, %dy) : (tensor<8xf32>, tensor<4xf32>) -> tensor<8xf32>
  return
}
