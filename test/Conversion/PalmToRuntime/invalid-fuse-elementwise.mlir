// RUN: palm-opt %s -verify-diagnostics -palm-fuse-elementwise

// expected-error@+1 {{palm-fuse-elementwise needs a local-level module; run -palm-spmd-pipeline first}}
func.func @global(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = palm.silu %x : tensor<4xf32>
  return %0 : tensor<4xf32>
}
