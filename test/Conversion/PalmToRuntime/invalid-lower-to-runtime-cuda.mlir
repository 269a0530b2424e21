// RUN: palm-opt %s -split-input-file -verify-diagnostics -palm-lower-to-runtime=target=cuda

// The cuda target computes in f32 and bf16; other float types are refused
// with the value that has them.

module attributes {palm.level = #palm.level<local>} {
  // expected-error@+1 {{argument #0 has element type 'f16', which the runtime does not support}}
  func.func @f16_argument(%x: tensor<2x16xf16>, %s: tensor<16xf16>) -> tensor<2x16xf16> {
    %0 = palm.layer_norm %x, %s : (tensor<2x16xf16>, tensor<16xf16>) -> tensor<2x16xf16>
    return %0 : tensor<2x16xf16>
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  func.func @f16_product(%a: tensor<4x8xf16>, %b: tensor<8x5xf16>) -> tensor<4x5xf16> {
    // expected-error@+1 {{'palm.dot_general' op has element type 'f16', which the runtime does not support}}
    %0 = palm.dot_general %a, %b, contracting_dims = [1] x [0] : (tensor<4x8xf16>, tensor<8x5xf16>) -> tensor<4x5xf16>
    return %0 : tensor<4x5xf16>
  }
}

// -----

module attributes {palm.level = #palm.level<local>} {
  func.func @pad_not_zero(%x: tensor<9xbf16>) -> tensor<10xbf16> {
    %one = arith.constant 1.0 : bf16
    // expected-error@+1 {{is not a zero padding at the high end}}
    %0 = tensor.pad %x low[0] high[1] {
    ^bb0(%i: index):
      tensor.yield %one : bf16
    } : tensor<9xbf16> to tensor<10xbf16>
    return %0 : tensor<10xbf16>
  }
}
