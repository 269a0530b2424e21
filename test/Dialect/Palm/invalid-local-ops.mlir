// One case per verifier rule of the local pieces and local attributes.
// RUN: palm-opt %s -split-input-file -verify-diagnostics

palm.mesh @mesh(model = 4)
func.func @mask_global(%x: tensor<8xf32>) {
  // expected-error@+1 {{padding masks belongs to the local level, but the module is global}}
  %0 = palm.mask_padding %x dim 0 shard <@mesh, [model], 30> : tensor<8xf32>
  return
}

// -----

module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(model = 4)
  func.func @mask_dim(%x: tensor<8xf32>) {
    // expected-error@+1 {{dim 1 is out of range for rank 1}}
    %0 = palm.mask_padding %x dim 1 shard <@mesh, [model], 30> : tensor<8xf32>
    return
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(model = 4)
  func.func @shard_axis(%x: tensor<8xf32>) {
    // expected-error@+1 {{shard #palm.dim_shard<@mesh, [data], 30> uses axis 'data', which mesh @mesh does not have}}
    %0 = palm.mask_padding %x dim 0 shard <@mesh, [data], 30> : tensor<8xf32>
    return
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  func.func @shard_mesh(%x: tensor<8xf32>) {
    // expected-error@+1 {{names @nowhere, which is not a palm.mesh in scope}}
    %0 = palm.mask_padding %x dim 0 shard <@nowhere, [data], 30> : tensor<8xf32>
    return
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(model = 4)
  func.func @shard_no_axes(%x: tensor<8xf32>) {
    // expected-error@+1 {{a dim_shard needs at least one axis}}
    %0 = palm.mask_padding %x dim 0 shard <@mesh, [], 30> : tensor<8xf32>
    return
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(model = 4)
  func.func @shard_size(%x: tensor<8xf32>) {
    // expected-error@+1 {{a dim_shard's global size must be at least 1}}
    %0 = palm.mask_padding %x dim 0 shard <@mesh, [model], 0> : tensor<8xf32>
    return
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(model = 4)
  func.func @shard_twice(%x: tensor<8xf32>) {
    // expected-error@+1 {{mesh axis 'model' appears twice in one dimension}}
    %0 = palm.mask_padding %x dim 0 shard <@mesh, [model, model], 30> : tensor<8xf32>
    return
  }
}

// -----

palm.mesh @mesh(model = 4)
func.func @vocab_shard_global(%t: tensor<13x16xf32>, %ids: tensor<2xi32>) {
  // expected-error@+1 {{vocab_shard belongs to the local level, but the module is global}}
  %0 = palm.embedding %t[%ids] {vocab_shard = #palm.dim_shard<@mesh, [model], 50>} : (tensor<13x16xf32>, tensor<2xi32>) -> tensor<2x16xf32>
  return
}

// -----

palm.mesh @mesh(model = 4)
func.func @heads_shard_global(%q: tensor<2x8x2x4xf32>) {
  // expected-error@+1 {{heads_shard belongs to the local level, but the module is global}}
  %0 = palm.attention %q, %q, %q {heads_shard = #palm.dim_shard<@mesh, [model], 8>} : (tensor<2x8x2x4xf32>, tensor<2x8x2x4xf32>, tensor<2x8x2x4xf32>) -> tensor<2x8x2x4xf32>
  return
}

// -----

palm.mesh @mesh(model = 4)
func.func @kv_heads_shard_global(%q: tensor<2x8x2x4xf32>) {
  // expected-error@+1 {{kv_heads_shard belongs to the local level, but the module is global}}
  %0 = palm.attention %q, %q, %q {kv_heads_shard = #palm.dim_shard<@mesh, [model], 8>} : (tensor<2x8x2x4xf32>, tensor<2x8x2x4xf32>, tensor<2x8x2x4xf32>) -> tensor<2x8x2x4xf32>
  return
}

// -----

palm.mesh @mesh(model = 4)
func.func @attention_seq_shard_global(%q: tensor<2x8x2x4xf32>) {
  // expected-error@+1 {{seq_shard belongs to the local level, but the module is global}}
  %0 = palm.attention %q, %q, %q {seq_shard = #palm.dim_shard<@mesh, [model], 32>} : (tensor<2x8x2x4xf32>, tensor<2x8x2x4xf32>, tensor<2x8x2x4xf32>) -> tensor<2x8x2x4xf32>
  return
}

// -----

palm.mesh @mesh(model = 4)
func.func @rope_seq_shard_global(%x: tensor<2x8x2x4xf32>) {
  // expected-error@+1 {{seq_shard belongs to the local level, but the module is global}}
  %0 = palm.rope %x {seq_shard = #palm.dim_shard<@mesh, [model], 32>} : tensor<2x8x2x4xf32>
  return
}

// -----

module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(model = 2)
  // The global counts decide: 6 query heads cannot share 4 key/value heads.
  func.func @grouped_heads_global_counts(%q: tensor<2x8x3x4xf32>, %k: tensor<2x8x2x4xf32>) {
    // expected-error@+1 {{query heads (6) must be a multiple of key/value heads (4)}}
    %0 = palm.attention %q, %k, %k {heads_shard = #palm.dim_shard<@mesh, [model], 6>, kv_heads_shard = #palm.dim_shard<@mesh, [model], 4>} : (tensor<2x8x3x4xf32>, tensor<2x8x2x4xf32>, tensor<2x8x2x4xf32>) -> tensor<2x8x3x4xf32>
    return
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(model = 2)
  // A causal query shard is a shard of a sequence as long as the keys.
  func.func @causal_query_shard_length(%q: tensor<2x8x2x4xf32>, %k: tensor<2x8x2x4xf32>) {
    // expected-error@+1 {{causal attention needs equal query and key sequence lengths}}
    %0 = palm.attention %q, %k, %k {causal, seq_shard = #palm.dim_shard<@mesh, [model], 16>} : (tensor<2x8x2x4xf32>, tensor<2x8x2x4xf32>, tensor<2x8x2x4xf32>) -> tensor<2x8x2x4xf32>
    return
  }
}

// -----

func.func @token_count_global(%l: tensor<2x8x32xf32>, %t: tensor<2x8xi32>) {
  // expected-error@+1 {{token_count and token_shards belongs to the local level, but the module is global}}
  %0 = palm.cross_entropy %l, %t {token_count = 16 : i64} : (tensor<2x8x32xf32>, tensor<2x8xi32>) -> tensor<f32>
  return
}

// -----

module attributes {palm.level = #palm.level<local>} {
  func.func @token_count_zero(%l: tensor<2x8x32xf32>, %t: tensor<2x8xi32>) {
    // expected-error@+1 {{token_count must be at least 1}}
    %0 = palm.cross_entropy %l, %t {token_count = 0 : i64} : (tensor<2x8x32xf32>, tensor<2x8xi32>) -> tensor<f32>
    return
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  func.func @token_shards_count(%l: tensor<2x8x32xf32>, %t: tensor<2x8xi32>) {
    // expected-error@+1 {{token_shards has 1 entries for 2 token dimensions}}
    %0 = palm.cross_entropy %l, %t {token_shards = [unit]} : (tensor<2x8x32xf32>, tensor<2x8xi32>) -> tensor<f32>
    return
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  func.func @token_shards_kind(%l: tensor<2x8x32xf32>, %t: tensor<2x8xi32>) {
    // expected-error@+1 {{token_shards entries must be #palm.dim_shard or unit}}
    %0 = palm.cross_entropy %l, %t {token_shards = [unit, 3 : i64]} : (tensor<2x8x32xf32>, tensor<2x8xi32>) -> tensor<f32>
    return
  }
}

// -----

palm.mesh @mesh(model = 4)
func.func @softmax_global(%l: tensor<2x8x13xf32>) {
  // expected-error@+1 {{sharded softmax pieces belongs to the local level, but the module is global}}
  %m = palm.softmax_max %l shard <@mesh, [model], 50> : tensor<2x8x13xf32> -> tensor<2x8xf32>
  return
}

// -----

module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(model = 4)
  func.func @softmax_max_rank(%l: tensor<13xf32>) {
    // expected-error@+1 {{logits must have rank at least 2}}
    %m = palm.softmax_max %l shard <@mesh, [model], 50> : tensor<13xf32> -> tensor<f32>
    return
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(model = 4)
  func.func @softmax_max_shape(%l: tensor<2x8x13xf32>) {
    // expected-error@+1 {{result must have the logits' shape without the last dimension}}
    %m = palm.softmax_max %l shard <@mesh, [model], 50> : tensor<2x8x13xf32> -> tensor<2xf32>
    return
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(model = 4)
  func.func @softmax_sums_rank(%l: tensor<13xf32>, %m: tensor<f32>, %t: tensor<i32>) {
    // expected-error@+1 {{logits must have rank at least 2}}
    %s = palm.softmax_sums %l, %m, %t shard <@mesh, [model], 50> : (tensor<13xf32>, tensor<f32>, tensor<i32>) -> tensor<2xf32>
    return
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(model = 4)
  func.func @softmax_sums_inputs(%l: tensor<2x8x13xf32>, %m: tensor<2x8xf32>, %t: tensor<2x4xi32>) {
    // expected-error@+1 {{max and targets must have the logits' shape without the last dimension}}
    %s = palm.softmax_sums %l, %m, %t shard <@mesh, [model], 50> : (tensor<2x8x13xf32>, tensor<2x8xf32>, tensor<2x4xi32>) -> tensor<2x2x8xf32>
    return
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(model = 4)
  func.func @softmax_sums_result(%l: tensor<2x8x13xf32>, %m: tensor<2x8xf32>, %t: tensor<2x8xi32>) {
    // expected-error@+1 {{result must be [2] followed by the token shape}}
    %s = palm.softmax_sums %l, %m, %t shard <@mesh, [model], 50> : (tensor<2x8x13xf32>, tensor<2x8xf32>, tensor<2x8xi32>) -> tensor<2x8xf32>
    return
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  func.func @loss_sums(%m: tensor<2x8xf32>, %s: tensor<3x2x8xf32>) {
    // expected-error@+1 {{sums must be [2] followed by max's shape}}
    %l = palm.cross_entropy_loss %m, %s {token_count = 16 : i64} : (tensor<2x8xf32>, tensor<3x2x8xf32>) -> tensor<f32>
    return
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  func.func @loss_z(%m: tensor<2x8xf32>, %s: tensor<2x2x8xf32>) {
    // expected-error@+1 {{z_loss must be non-negative}}
    %l = palm.cross_entropy_loss %m, %s {token_count = 16 : i64, z_loss = -1.0 : f32} : (tensor<2x8xf32>, tensor<2x2x8xf32>) -> tensor<f32>
    return
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  func.func @loss_count(%m: tensor<2x8xf32>, %s: tensor<2x2x8xf32>) {
    // expected-error@+1 {{token_count must be at least 1}}
    %l = palm.cross_entropy_loss %m, %s {token_count = 0 : i64} : (tensor<2x8xf32>, tensor<2x2x8xf32>) -> tensor<f32>
    return
  }
}

// -----

func.func @fusion_global(%x: tensor<8xf32>) -> tensor<8xf32> {
  // expected-error@+1 {{fusions belongs to the local level, but the module is global}}
  %0 = palm.fusion(%x) : (tensor<8xf32>) -> tensor<8xf32> {
  ^bb0(%a: tensor<8xf32>):
    %1 = palm.silu %a : tensor<8xf32>
    palm.yield %1 : tensor<8xf32>
  }
  return %0 : tensor<8xf32>
}

// -----

module attributes {palm.level = #palm.level<local>} {
  func.func @fusion_arguments(%x: tensor<8xf32>) -> tensor<8xf32> {
    // expected-error@+1 {{body arguments must have the inputs' types}}
    %0 = palm.fusion(%x) : (tensor<8xf32>) -> tensor<8xf32> {
    ^bb0(%a: tensor<8xbf16>):
      %1 = palm.convert %a : tensor<8xbf16> -> tensor<8xf32>
      palm.yield %1 : tensor<8xf32>
    }
    return %0 : tensor<8xf32>
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  func.func @fusion_shape(%x: tensor<4xf32>) -> tensor<8xf32> {
    // expected-error@+1 {{inputs must have the result's shape}}
    %0 = palm.fusion(%x) : (tensor<4xf32>) -> tensor<8xf32> {
    ^bb0(%a: tensor<4xf32>):
      %1 = palm.reshape %a : tensor<4xf32> -> tensor<8xf32>
      palm.yield %1 : tensor<8xf32>
    }
    return %0 : tensor<8xf32>
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  func.func @fusion_yield_type(%x: tensor<8xf32>) -> tensor<8xbf16> {
    // expected-error@+1 {{yields 'tensor<8xf32>' for a result of type 'tensor<8xbf16>'}}
    %0 = palm.fusion(%x) : (tensor<8xf32>) -> tensor<8xbf16> {
    ^bb0(%a: tensor<8xf32>):
      %1 = palm.silu %a : tensor<8xf32>
      palm.yield %1 : tensor<8xf32>
    }
    return %0 : tensor<8xbf16>
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  func.func @fusion_not_elementwise(%x: tensor<1x2x1x4xf32>) -> tensor<1x2x1x4xf32> {
    %0 = palm.fusion(%x) : (tensor<1x2x1x4xf32>) -> tensor<1x2x1x4xf32> {
    ^bb0(%a: tensor<1x2x1x4xf32>):
      // expected-error@+1 {{is not elementwise; a fusion holds only add, mul, silu, scale and convert}}
      %1 = palm.rope %a : tensor<1x2x1x4xf32>
      palm.yield %1 : tensor<1x2x1x4xf32>
    }
    return %0 : tensor<1x2x1x4xf32>
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  func.func @yield_outside(%x: tensor<8xf32>) {
    // expected-error@+1 {{expects parent op 'palm.fusion'}}
    palm.yield %x : tensor<8xf32>
  }
}
