// Errors of the partitioning passes: one case each.
// RUN: palm-opt %s -split-input-file -verify-diagnostics -palm-spmd-pipeline

palm.mesh @mesh(data = 2)
func.func @no_rule(%x: tensor<4xf32> {palm.sharding = #palm.sharding<@mesh, [[data]]>}) -> tensor<4xf32> {
  // expected-error@+1 {{'arith.addf' op has no sharding rule, so palm cannot partition it}}
  %0 = arith.addf %x, %x : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

palm.mesh @a(data = 2)
palm.mesh @b(data = 2)
// expected-note@+2 {{first use of @a}}
// expected-error@+1 {{contradictory annotations: this function is sharded over both @a and @b; a function is partitioned over one mesh}}
func.func @two_meshes(%x: tensor<4xf32> {palm.sharding = #palm.sharding<@a, [[data]]>},
                      %y: tensor<4xf32> {palm.sharding = #palm.sharding<@b, [[data]]>}) {
  return
}

// -----

palm.mesh @a(data = 2)
palm.mesh @b(model = 2)
// expected-note@+1 {{first use of @a}}
func.func @constraint_other_mesh(%x: tensor<4xf32> {palm.sharding = #palm.sharding<@a, [[data]]>}) -> tensor<4xf32> {
  // expected-error@+1 {{contradictory annotations: this function is sharded over both @a and @b}}
  %0 = palm.sharding_constraint %x to <@b, [[model]]> : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

palm.mesh @mesh(model = 2)
func.func @create_partial(%x: tensor<4xf32> {palm.sharding = #palm.sharding<@mesh, [[]]>}) -> tensor<4xf32> {
  // expected-error@+1 {{cannot produce a partial value over axis 'model' from one that is not partial}}
  %0 = palm.sharding_constraint %x to <@mesh, [[]], unreduced = [model: sum]> : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// expected-error@+1 {{the module is already at the local level}}
module attributes {palm.level = #palm.level<local>} {
  palm.mesh @mesh(model = 2)
}

// -----

palm.mesh @mesh(data = 2)
func.func @regions(%x: tensor<4xf32> {palm.sharding = #palm.sharding<@mesh, [[data]]>}, %c: i1) -> tensor<4xf32> {
  // expected-error@+1 {{has regions; palm partitions straight-line functions only}}
  %0 = scf.if %c -> tensor<4xf32> {
    scf.yield %x : tensor<4xf32>
  } else {
    scf.yield %x : tensor<4xf32>
  }
  return %0 : tensor<4xf32>
}
