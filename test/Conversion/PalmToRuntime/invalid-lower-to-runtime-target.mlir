// RUN: palm-opt %s -verify-diagnostics -palm-lower-to-runtime=target=tpu

// expected-error@+1 {{unknown target 'tpu' (expected cpu or cuda)}}
module attributes {palm.level = #palm.level<local>} {
  func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
}
