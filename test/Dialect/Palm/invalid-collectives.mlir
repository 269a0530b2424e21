// One case per verifier rule of the local-level collectives.
// RUN: palm-opt %s -split-input-file -verify-diagnostics

palm.mesh @mesh(data = 2, model = 4)
func.func @global_level(%x: tensor<4x8xf32>) {
  // expected-error@+1 {{is a local-level collective, but the module is at the global level}}
  %0 = palm.all_reduce %x on @mesh [model] sum : tensor<4x8xf32>
  return
}

// -----

module attributes {palm.level = #palm.level<local>} {
  func.func @unknown_mesh(%x: tensor<4x8xf32>) {
    // expected-error@+1 {{names @nowhere, which is not a palm.mesh in scope}}
    %0 = palm.all_reduce %x on @nowhere [model] sum : tensor<4x8xf32>
    return
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(data = 2, model = 4)
  func.func @unknown_axis(%x: tensor<4x8xf32>) {
    // expected-error@+1 {{uses axis 'pipe', which mesh @mesh does not have}}
    %0 = palm.all_reduce %x on @mesh [pipe] sum : tensor<4x8xf32>
    return
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(data = 2, model = 4)
  func.func @axis_twice(%x: tensor<4x8xf32>) {
    // expected-error@+1 {{lists axis 'model' twice}}
    %0 = palm.all_reduce %x on @mesh [model, model] sum : tensor<4x8xf32>
    return
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(data = 2, model = 4)
  func.func @no_axes(%x: tensor<4x8xf32>) {
    // expected-error@+1 {{needs at least one mesh axis}}
    %0 = palm.all_reduce %x on @mesh [] sum : tensor<4x8xf32>
    return
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(data = 2, model = 4)
  func.func @gather_dim_range(%x: tensor<4x8xf32>) {
    // expected-error@+1 {{gather_dim 2 is out of range for rank 2}}
    %0 = palm.all_gather %x on @mesh [model] dim 2 : tensor<4x8xf32> -> tensor<4x8xf32>
    return
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(data = 2, model = 4)
  func.func @gather_shape(%x: tensor<4x8xf32>) {
    // expected-error@+1 {{result type should be 'tensor<4x32xf32>', not 'tensor<4x16xf32>'}}
    %0 = palm.all_gather %x on @mesh [model] dim 1 : tensor<4x8xf32> -> tensor<4x16xf32>
    return
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(data = 2, model = 4)
  func.func @all_reduce_type(%x: tensor<4x8xf32>) {
    // expected-error@+1 {{requires the same type for all operands and results}}
    %0 = "palm.all_reduce"(%x) <{mesh = @mesh, mesh_axes = ["model"], reduction = #palm<reduction sum>}> : (tensor<4x8xf32>) -> tensor<4x8xbf16>
    return
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(data = 2, model = 4)
  func.func @scatter_dim_range(%x: tensor<4x8xf32>) {
    // expected-error@+1 {{scatter_dim -1 is out of range for rank 2}}
    %0 = palm.reduce_scatter %x on @mesh [model] sum dim -1 : tensor<4x8xf32> -> tensor<4x2xf32>
    return
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(data = 2, model = 4)
  func.func @scatter_divisible(%x: tensor<4x6xf32>) {
    // expected-error@+1 {{scatter_dim 1 has size 6, not divisible by the group size 4}}
    %0 = palm.reduce_scatter %x on @mesh [model] sum dim 1 : tensor<4x6xf32> -> tensor<4x2xf32>
    return
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(data = 2, model = 4)
  func.func @scatter_shape(%x: tensor<4x8xf32>) {
    // expected-error@+1 {{result type should be 'tensor<4x2xf32>', not 'tensor<4x4xf32>'}}
    %0 = palm.reduce_scatter %x on @mesh [model] sum dim 1 : tensor<4x8xf32> -> tensor<4x4xf32>
    return
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(data = 2, model = 4)
  func.func @all_to_all_range(%x: tensor<4x8xf32>) {
    // expected-error@+1 {{concat_dim 5 is out of range for rank 2}}
    %0 = palm.all_to_all %x on @mesh [model] split 1 concat 5 : tensor<4x8xf32> -> tensor<4x8xf32>
    return
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(data = 2, model = 4)
  func.func @all_to_all_same(%x: tensor<4x8xf32>) {
    // expected-error@+1 {{split_dim and concat_dim must differ}}
    %0 = palm.all_to_all %x on @mesh [model] split 1 concat 1 : tensor<4x8xf32> -> tensor<4x8xf32>
    return
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(data = 2, model = 4)
  func.func @all_to_all_divisible(%x: tensor<4x6xf32>) {
    // expected-error@+1 {{split_dim 1 has size 6, not divisible by the group size 4}}
    %0 = palm.all_to_all %x on @mesh [model] split 1 concat 0 : tensor<4x6xf32> -> tensor<16x1xf32>
    return
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(data = 2, model = 4)
  func.func @all_to_all_shape(%x: tensor<4x8xf32>) {
    // expected-error@+1 {{result type should be 'tensor<16x2xf32>', not 'tensor<4x8xf32>'}}
    %0 = palm.all_to_all %x on @mesh [model] split 1 concat 0 : tensor<4x8xf32> -> tensor<4x8xf32>
    return
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(data = 2, model = 4)
  func.func @permute_odd(%x: tensor<4x8xf32>) {
    // expected-error@+1 {{source_target_pairs must hold pairs}}
    %0 = "palm.collective_permute"(%x) <{mesh = @mesh, mesh_axes = ["model"], source_target_pairs = array<i64: 0, 1, 2>}> : (tensor<4x8xf32>) -> tensor<4x8xf32>
    return
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(data = 2, model = 4)
  func.func @permute_range(%x: tensor<4x8xf32>) {
    // expected-error@+1 {{pair 3 -> 4 is outside the group of 4 devices}}
    %0 = palm.collective_permute %x on @mesh [model] pairs [3 -> 4] : tensor<4x8xf32>
    return
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(data = 2, model = 4)
  func.func @permute_source_twice(%x: tensor<4x8xf32>) {
    // expected-error@+1 {{device 0 is the source of two pairs}}
    %0 = palm.collective_permute %x on @mesh [model] pairs [0 -> 1, 0 -> 2] : tensor<4x8xf32>
    return
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(data = 2, model = 4)
  func.func @permute_target_twice(%x: tensor<4x8xf32>) {
    // expected-error@+1 {{device 1 is the target of two pairs}}
    %0 = palm.collective_permute %x on @mesh [model] pairs [0 -> 1, 2 -> 1] : tensor<4x8xf32>
    return
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(data = 2, model = 4)
  func.func @slice_range(%x: tensor<4x8xf32>) {
    // expected-error@+1 {{slice_dim 2 is out of range for rank 2}}
    %0 = palm.all_slice %x on @mesh [model] dim 2 : tensor<4x8xf32> -> tensor<4x8xf32>
    return
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(data = 2, model = 4)
  func.func @slice_shape(%x: tensor<9x8xf32>) {
    // 9 over 4 is 3 per shard (ceil), not 2.
    // expected-error@+1 {{result type should be 'tensor<3x8xf32>', not 'tensor<2x8xf32>'}}
    %0 = palm.all_slice %x on @mesh [model] dim 0 : tensor<9x8xf32> -> tensor<2x8xf32>
    return
  }
}
