// One case per verifier rule of the global-level palm ops.
// RUN: palm-opt %s -split-input-file -verify-diagnostics

palm.mesh @mesh(data = 2, model = 2)
func.func @constraint_rank(%x: tensor<8x4xf32>) {
  // expected-error@+1 {{sharding #palm.sharding<@mesh, [[data]]> on the operand has 1 dimensions, but 'tensor<8x4xf32>' has rank 2}}
  %0 = palm.sharding_constraint %x to <@mesh, [[data]]> : tensor<8x4xf32>
  return
}

// -----

func.func @constraint_unknown_mesh(%x: tensor<8xf32>) {
  // expected-error@+1 {{names @nowhere, which is not a palm.mesh in scope}}
  %0 = palm.sharding_constraint %x to <@nowhere, [[data]]> : tensor<8xf32>
  return
}

// -----

module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(data = 2)
  func.func @constraint_at_local(%x: tensor<8xf32>) {
    // expected-error@+1 {{belongs to the global level, but the module is local}}
    %0 = palm.sharding_constraint %x to <@mesh, [[data]]> : tensor<8xf32>
    return
  }
}

// -----

func.func @embedding_table_rank(%t: tensor<32xf32>, %ids: tensor<2x8xi32>) {
  // expected-error@+1 {{table must be [vocab, d_model]}}
  %0 = palm.embedding %t[%ids] : (tensor<32xf32>, tensor<2x8xi32>) -> tensor<2x8xf32>
  return
}

// -----

func.func @embedding_result(%t: tensor<32x16xf32>, %ids: tensor<2x8xi32>) {
  // expected-error@+1 {{result type should be 'tensor<2x8x16xf32>', not 'tensor<2x8x8xf32>'}}
  %0 = palm.embedding %t[%ids] : (tensor<32x16xf32>, tensor<2x8xi32>) -> tensor<2x8x8xf32>
  return
}

// -----

func.func @embedding_float_ids(%t: tensor<32x16xf32>, %ids: tensor<2x8xf32>) {
  // expected-error@+1 {{operand #1 must be statically shaped tensor of 32-bit signless integer or 64-bit signless integer values}}
  %0 = palm.embedding %t[%ids] : (tensor<32x16xf32>, tensor<2x8xf32>) -> tensor<2x8x16xf32>
  return
}

// -----

func.func @dynamic_shape(%x: tensor<?x16xf32>, %s: tensor<16xf32>) {
  // expected-error@+1 {{operand #0 must be statically shaped tensor}}
  %0 = palm.layer_norm %x, %s : (tensor<?x16xf32>, tensor<16xf32>) -> tensor<?x16xf32>
  return
}

// -----

func.func @layer_norm_rank0(%x: tensor<f32>, %s: tensor<1xf32>) {
  // expected-error@+1 {{needs an input of rank at least 1}}
  %0 = palm.layer_norm %x, %s : (tensor<f32>, tensor<1xf32>) -> tensor<f32>
  return
}

// -----

func.func @layer_norm_scale_size(%x: tensor<2x16xf32>, %s: tensor<8xf32>) {
  // expected-error@+1 {{scale 'tensor<8xf32>' must be rank 1 with the size of the input's last dimension (16)}}
  %0 = palm.layer_norm %x, %s : (tensor<2x16xf32>, tensor<8xf32>) -> tensor<2x16xf32>
  return
}

// -----

func.func @layer_norm_scale_type(%x: tensor<2x16xf32>, %s: tensor<16xbf16>) {
  // expected-error@+1 {{scale and input element types differ}}
  %0 = palm.layer_norm %x, %s : (tensor<2x16xf32>, tensor<16xbf16>) -> tensor<2x16xf32>
  return
}

// -----

func.func @layer_norm_epsilon(%x: tensor<2x16xf32>, %s: tensor<16xf32>) {
  // expected-error@+1 {{epsilon must be positive}}
  %0 = palm.layer_norm %x, %s {epsilon = 0.0 : f32} : (tensor<2x16xf32>, tensor<16xf32>) -> tensor<2x16xf32>
  return
}

// -----

func.func @dot_batch_lengths(%a: tensor<2x4x8xf32>, %b: tensor<2x8x3xf32>) {
  // expected-error@+1 {{batch dimension lists differ in length}}
  %0 = palm.dot_general %a, %b, contracting_dims = [2] x [1], batch_dims = [0] x [] : (tensor<2x4x8xf32>, tensor<2x8x3xf32>) -> tensor<2x4x3xf32>
  return
}

// -----

func.func @dot_contracting_lengths(%a: tensor<4x8xf32>, %b: tensor<8x3xf32>) {
  // expected-error@+1 {{contracting dimension lists differ in length}}
  %0 = palm.dot_general %a, %b, contracting_dims = [1] x [0, 1] : (tensor<4x8xf32>, tensor<8x3xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @dot_out_of_range(%a: tensor<4x8xf32>, %b: tensor<8x3xf32>) {
  // expected-error@+1 {{lhs contracting dimension 2 is out of range for rank 2}}
  %0 = palm.dot_general %a, %b, contracting_dims = [2] x [0] : (tensor<4x8xf32>, tensor<8x3xf32>) -> tensor<4x3xf32>
  return
}

// -----

func.func @dot_repeat(%a: tensor<8x8xf32>, %b: tensor<8x8xf32>) {
  // expected-error@+1 {{rhs contracting dimension 0 is used more than once}}
  %0 = palm.dot_general %a, %b, contracting_dims = [0, 1] x [0, 0] : (tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<f32>
  return
}

// -----

func.func @dot_batch_and_contracting(%a: tensor<8x8xf32>, %b: tensor<8x8xf32>) {
  // expected-error@+1 {{lhs contracting dimension 0 is used more than once}}
  %0 = palm.dot_general %a, %b, contracting_dims = [0] x [1], batch_dims = [0] x [0] : (tensor<8x8xf32>, tensor<8x8xf32>) -> tensor<8x8xf32>
  return
}

// -----

func.func @dot_batch_size(%a: tensor<2x4x8xf32>, %b: tensor<3x8x3xf32>) {
  // expected-error@+1 {{batch dimensions 0 and 0 differ in size}}
  %0 = palm.dot_general %a, %b, contracting_dims = [2] x [1], batch_dims = [0] x [0] : (tensor<2x4x8xf32>, tensor<3x8x3xf32>) -> tensor<2x4x3xf32>
  return
}

// -----

func.func @dot_contracting_size(%a: tensor<4x8xf32>, %b: tensor<6x3xf32>) {
  // expected-error@+1 {{contracting dimensions 1 and 0 differ in size (8 vs 6)}}
  %0 = palm.dot_general %a, %b, contracting_dims = [1] x [0] : (tensor<4x8xf32>, tensor<6x3xf32>) -> tensor<4x3xf32>
  return
}

// -----

func.func @dot_element_types(%a: tensor<4x8xf32>, %b: tensor<8x3xbf16>) {
  // expected-error@+1 {{operand element types differ}}
  %0 = palm.dot_general %a, %b, contracting_dims = [1] x [0] : (tensor<4x8xf32>, tensor<8x3xbf16>) -> tensor<4x3xf32>
  return
}

// -----

func.func @dot_result(%a: tensor<4x8xf32>, %b: tensor<8x3xf32>) {
  // expected-error@+1 {{result type should be 'tensor<4x3xf32>', not 'tensor<3x4xf32>'}}
  %0 = palm.dot_general %a, %b, contracting_dims = [1] x [0] : (tensor<4x8xf32>, tensor<8x3xf32>) -> tensor<3x4xf32>
  return
}

// -----

func.func @rope_rank(%x: tensor<2x8x16xf32>) {
  // expected-error@+1 {{expects [batch, seq, heads, head_dim], got 'tensor<2x8x16xf32>'}}
  %0 = palm.rope %x : tensor<2x8x16xf32>
  return
}

// -----

func.func @rope_odd(%x: tensor<2x8x4x5xf32>) {
  // expected-error@+1 {{head_dim 5 must be even (dimension i pairs with i + head_dim/2)}}
  %0 = palm.rope %x : tensor<2x8x4x5xf32>
  return
}

// -----

func.func @rope_base(%x: tensor<2x8x4x4xf32>) {
  // expected-error@+1 {{base must be positive}}
  %0 = palm.rope %x {base = -1.0 : f32} : tensor<2x8x4x4xf32>
  return
}

// -----

func.func @attention_rank(%q: tensor<2x8x16xf32>, %k: tensor<2x8x1x4xf32>) {
  // expected-error@+1 {{query, key and value must be rank 4 [batch, seq, heads, dim]}}
  %0 = palm.attention %q, %k, %k : (tensor<2x8x16xf32>, tensor<2x8x1x4xf32>, tensor<2x8x1x4xf32>) -> tensor<2x8x4x4xf32>
  return
}

// -----

func.func @attention_types(%q: tensor<2x8x4x4xf32>, %k: tensor<2x8x1x4xbf16>) {
  // expected-error@+1 {{query, key and value element types differ}}
  %0 = palm.attention %q, %k, %k : (tensor<2x8x4x4xf32>, tensor<2x8x1x4xbf16>, tensor<2x8x1x4xbf16>) -> tensor<2x8x4x4xf32>
  return
}

// -----

func.func @attention_batch(%q: tensor<2x8x4x4xf32>, %k: tensor<3x8x1x4xf32>) {
  // expected-error@+1 {{query, key and value batch sizes differ}}
  %0 = palm.attention %q, %k, %k : (tensor<2x8x4x4xf32>, tensor<3x8x1x4xf32>, tensor<3x8x1x4xf32>) -> tensor<2x8x4x4xf32>
  return
}

// -----

func.func @attention_kv(%q: tensor<2x8x4x4xf32>, %k: tensor<2x8x1x4xf32>, %v: tensor<2x8x2x4xf32>) {
  // expected-error@+1 {{key and value must agree on seq and heads}}
  %0 = palm.attention %q, %k, %v : (tensor<2x8x4x4xf32>, tensor<2x8x1x4xf32>, tensor<2x8x2x4xf32>) -> tensor<2x8x4x4xf32>
  return
}

// -----

func.func @attention_groups(%q: tensor<2x8x4x4xf32>, %k: tensor<2x8x3x4xf32>) {
  // expected-error@+1 {{query heads (4) must be a multiple of key/value heads (3)}}
  %0 = palm.attention %q, %k, %k : (tensor<2x8x4x4xf32>, tensor<2x8x3x4xf32>, tensor<2x8x3x4xf32>) -> tensor<2x8x4x4xf32>
  return
}

// -----

func.func @attention_head_dim(%q: tensor<2x8x4x4xf32>, %k: tensor<2x8x1x8xf32>) {
  // expected-error@+1 {{query and key head_dim differ}}
  %0 = palm.attention %q, %k, %k : (tensor<2x8x4x4xf32>, tensor<2x8x1x8xf32>, tensor<2x8x1x8xf32>) -> tensor<2x8x4x8xf32>
  return
}

// -----

func.func @attention_causal(%q: tensor<2x8x4x4xf32>, %k: tensor<2x6x1x4xf32>) {
  // expected-error@+1 {{causal attention needs equal query and key sequence lengths}}
  %0 = palm.attention %q, %k, %k {causal} : (tensor<2x8x4x4xf32>, tensor<2x6x1x4xf32>, tensor<2x6x1x4xf32>) -> tensor<2x8x4x4xf32>
  return
}

// -----

func.func @attention_scale(%q: tensor<2x8x4x4xf32>, %k: tensor<2x8x1x4xf32>) {
  // expected-error@+1 {{scale must be positive}}
  %0 = palm.attention %q, %k, %k {scale = 0.0 : f32} : (tensor<2x8x4x4xf32>, tensor<2x8x1x4xf32>, tensor<2x8x1x4xf32>) -> tensor<2x8x4x4xf32>
  return
}

// -----

func.func @binary_types(%a: tensor<4xf32>, %b: tensor<8xf32>) {
  // expected-error@+1 {{requires the same type for all operands and results}}
  %0 = "palm.add"(%a, %b) : (tensor<4xf32>, tensor<8xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @convert_shape(%a: tensor<4xf32>) {
  // expected-error@+1 {{changes the shape from 'tensor<4xf32>' to 'tensor<8xbf16>'}}
  %0 = palm.convert %a : tensor<4xf32> -> tensor<8xbf16>
  return
}

// -----

func.func @cross_entropy_rank(%l: tensor<32xf32>, %t: tensor<i32>) {
  // expected-error@+1 {{logits must have rank at least 2, got 'tensor<32xf32>'}}
  %0 = palm.cross_entropy %l, %t : (tensor<32xf32>, tensor<i32>) -> tensor<f32>
  return
}

// -----

func.func @cross_entropy_targets(%l: tensor<2x8x32xf32>, %t: tensor<2x4xi32>) {
  // expected-error@+1 {{targets 'tensor<2x4xi32>' must have the logits' shape without the last dimension}}
  %0 = palm.cross_entropy %l, %t : (tensor<2x8x32xf32>, tensor<2x4xi32>) -> tensor<f32>
  return
}

// -----

func.func @cross_entropy_z_loss(%l: tensor<2x8x32xf32>, %t: tensor<2x8xi32>) {
  // expected-error@+1 {{z_loss must be non-negative}}
  %0 = palm.cross_entropy %l, %t {z_loss = -1.0 : f32} : (tensor<2x8x32xf32>, tensor<2x8xi32>) -> tensor<f32>
  return
}

// -----

func.func @transpose_size(%x: tensor<2x8xf32>) {
  // expected-error@+1 {{permutation has 3 entries for rank 2}}
  %0 = palm.transpose %x, permutation = [0, 1, 2] : tensor<2x8xf32> -> tensor<2x8xf32>
  return
}

// -----

func.func @transpose_repeat(%x: tensor<2x8xf32>) {
  // expected-error@+1 {{permutation is not a permutation of 0..1}}
  %0 = palm.transpose %x, permutation = [1, 1] : tensor<2x8xf32> -> tensor<8x8xf32>
  return
}

// -----

func.func @reshape_count(%x: tensor<2x8xf32>) {
  // expected-error@+1 {{changes the element count from 16 to 18}}
  %0 = palm.reshape %x : tensor<2x8xf32> -> tensor<2x9xf32>
  return
}

// -----

func.func @reshape_type(%x: tensor<2x8xf32>) {
  // expected-error@+1 {{changes the element type}}
  %0 = palm.reshape %x : tensor<2x8xf32> -> tensor<16xbf16>
  return
}

// -----

func.func @layer_norm_result(%x: tensor<2x16xf32>, %s: tensor<16xf32>) {
  // expected-error@+1 {{all of {input, result} have same type}}
  %0 = "palm.layer_norm"(%x, %s) : (tensor<2x16xf32>, tensor<16xf32>) -> tensor<2x16xbf16>
  return
}

// -----

func.func @attention_result(%q: tensor<2x8x4x4xf32>, %k: tensor<2x8x1x4xf32>) {
  // expected-error@+1 {{result type should be 'tensor<2x8x4x4xf32>', not 'tensor<2x8x1x4xf32>'}}
  %0 = palm.attention %q, %k, %k : (tensor<2x8x4x4xf32>, tensor<2x8x1x4xf32>, tensor<2x8x1x4xf32>) -> tensor<2x8x1x4xf32>
  return
}

// -----

func.func @transpose_result(%x: tensor<2x8xf32>) {
  // expected-error@+1 {{result type should be 'tensor<8x2xf32>', not 'tensor<2x8xf32>'}}
  %0 = palm.transpose %x, permutation = [1, 0] : tensor<2x8xf32> -> tensor<2x8xf32>
  return
}

// -----

func.func @cross_entropy_result(%l: tensor<2x8x32xf32>, %t: tensor<2x8xi32>) {
  // expected-error@+1 {{result #0 must be 0D tensor of 32-bit float values}}
  %0 = palm.cross_entropy %l, %t : (tensor<2x8x32xf32>, tensor<2x8xi32>) -> tensor<2xf32>
  return
}
