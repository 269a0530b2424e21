// The errors of -palm-accumulate-gradients, one case each.
// RUN: palm-opt %s -split-input-file -palm-accumulate-gradients=microbatches=2 -verify-diagnostics
// RUN: not palm-opt %s -split-input-file -palm-accumulate-gradients=microbatches=0 2>&1 | FileCheck %s --check-prefix=ZERO
// ZERO: error: -palm-accumulate-gradients needs microbatches >= 1, not 0

// A result that is neither the loss nor a gradient has no single value over
// the micro-batches.
// expected-error@+1 {{result #2 is neither the loss nor a gradient: with micro-batches a step returns only those (their mean over the micro-batches)}}
func.func @extra_result(%x: tensor<4xf32> {palm.name = "x"}, %w: tensor<4xf32> {palm.init = #palm.init<ones>})
    -> (tensor<f32> {palm.name = "loss"}, tensor<4xf32> {palm.grad_of = 1 : i64}, tensor<4xf32>) {
  %l = palm.sum_squares %w : tensor<4xf32> -> tensor<f32>
  return %l, %w, %x : tensor<f32>, tensor<4xf32>, tensor<4xf32>
}

// -----

// expected-error@+1 {{has no inputs to split into micro-batches: every argument is a parameter or state}}
func.func @no_inputs(%w: tensor<4xf32> {palm.init = #palm.init<ones>})
    -> (tensor<f32> {palm.name = "loss"}, tensor<4xf32> {palm.grad_of = 0 : i64}) {
  %l = palm.sum_squares %w : tensor<4xf32> -> tensor<f32>
  return %l, %w : tensor<f32>, tensor<4xf32>
}

// -----

// expected-error@+1 {{has no loss to differentiate}}
func.func @no_loss(%x: tensor<4xf32> {palm.name = "x"}, %w: tensor<4xf32> {palm.init = #palm.init<ones>})
    -> (tensor<4xf32> {palm.grad_of = 1 : i64}) {
  return %w : tensor<4xf32>
}

// -----

// expected-error@+1 {{no function returns gradients (palm.grad_of): run -palm-autodiff first}}
module {
  func.func @forward(%x: tensor<4xf32>) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
}

// -----

// expected-error@+1 {{-palm-accumulate-gradients rewrites global-level training steps; this module is already partitioned}}
module attributes {palm.level = #palm.level<local>} {
  func.func @local(%x: tensor<4xf32>) -> tensor<4xf32> {
    return %x : tensor<4xf32>
  }
}
