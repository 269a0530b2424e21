// Errors of running the partitioning passes out of order.
// RUN: palm-opt %s -split-input-file -verify-diagnostics -palm-spmd-partition

palm.mesh @mesh(data = 2)
// expected-error@+1 {{has no argument shardings; run -palm-propagate-shardings first}}
func.func @unpropagated(%x: tensor<4xf32>) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}

// -----

palm.mesh @mesh(data = 2)
func.func @op_unpropagated(%x: tensor<4xf32> {palm.sharding = #palm.sharding<@mesh, [[data]]>}) -> tensor<4xf32> {
  // expected-error@+1 {{has no sharding; run -palm-propagate-shardings first}}
  %0 = palm.silu %x : tensor<4xf32>
  return %0 : tensor<4xf32>
}
