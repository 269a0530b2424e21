// RUN: palm-opt %s -split-input-file -verify-diagnostics -palm-lower-to-runtime

// expected-error@+1 {{palm-lower-to-runtime needs a local-level module; run -palm-spmd-pipeline first}}
module {
  func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
}

// -----

// expected-error@+1 {{palm lowers modules with exactly one function, found 2}}
module attributes {palm.level = #palm.level<local>} {
  func.func @a(%x: tensor<4xf32>) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
  func.func @b(%x: tensor<4xf32>) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  func.func @i64_ids(%t: tensor<8x4xf32>, %ids: tensor<3xi64>) -> tensor<3x4xf32> {
    // expected-error@+1 {{uses i64 token ids; the runtime supports i32}}
    %0 = palm.embedding %t[%ids] : (tensor<8x4xf32>, tensor<3xi64>) -> tensor<3x4xf32>
    return %0 : tensor<3x4xf32>
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  func.func @unknown_op(%x: tensor<4xf32>) -> tensor<4xf32> {
    // expected-error@+1 {{'arith.addf' op cannot be lowered by palm}}
    %0 = arith.addf %x, %x : tensor<4xf32>
    return %0 : tensor<4xf32>
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  func.func @region_op(%x: tensor<4xf32>) -> tensor<4xf32> {
    // expected-error@+1 {{has regions, which palm does not lower}}
    %0 = scf.execute_region -> tensor<4xf32> {
      scf.yield %x : tensor<4xf32>
    }
    return %0 : tensor<4xf32>
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  func.func @read_constant(%x: tensor<4xf32>) -> tensor<4xf32> {
    // expected-error@+1 {{is a tensor constant that ops read; palm lowers tensor constants only when unused}}
    %c = arith.constant dense<1.0> : tensor<4xf32>
    %0 = palm.add %x, %c : tensor<4xf32>
    return %0 : tensor<4xf32>
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  func.func @strided_slice(%x: tensor<8xf32>) -> tensor<4xf32> {
    // expected-error@+1 {{is not a static unit-stride slice}}
    %0 = tensor.extract_slice %x[0] [4] [2] : tensor<8xf32> to tensor<4xf32>
    return %0 : tensor<4xf32>
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  func.func @i64_targets(%l: tensor<3x8xf32>, %t: tensor<3xi64>) -> tensor<f32> {
    // expected-error@+1 {{uses i64 token ids; the runtime supports i32}}
    %0 = palm.cross_entropy %l, %t : (tensor<3x8xf32>, tensor<3xi64>) -> tensor<f32>
    return %0 : tensor<f32>
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  func.func @pad_not_zero(%x: tensor<9xf32>) -> tensor<10xf32> {
    %one = arith.constant 1.0 : f32
    // expected-error@+1 {{is not a zero padding at the high end}}
    %0 = tensor.pad %x low[0] high[1] {
    ^bb0(%i: index):
      tensor.yield %one : f32
    } : tensor<9xf32> to tensor<10xf32>
    return %0 : tensor<10xf32>
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  func.func @pad_low(%x: tensor<9xf32>) -> tensor<10xf32> {
    %zero = arith.constant 0.0 : f32
    // expected-error@+1 {{is not a zero padding at the high end}}
    %0 = tensor.pad %x low[1] high[0] {
    ^bb0(%i: index):
      tensor.yield %zero : f32
    } : tensor<9xf32> to tensor<10xf32>
    return %0 : tensor<10xf32>
  }
}
