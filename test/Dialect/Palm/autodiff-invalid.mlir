// The errors of -palm-autodiff, one case each.
// RUN: palm-opt %s -split-input-file -palm-autodiff -verify-diagnostics

// expected-error@+1 {{has no loss to differentiate: name one result "loss" (palm.name) or return exactly one 0-d f32 tensor}}
func.func @no_loss(%w: tensor<4xf32> {palm.init = #palm.init<ones>}) -> tensor<4xf32> {
  return %w : tensor<4xf32>
}

// -----

// expected-error@+1 {{has no parameters to differentiate: no argument carries palm.init}}
func.func @no_parameters(%x: tensor<2x4x8xf32>, %t: tensor<2x4xi32>) -> tensor<f32> {
  %l = palm.cross_entropy %x, %t : (tensor<2x4x8xf32>, tensor<2x4xi32>) -> tensor<f32>
  return %l : tensor<f32>
}

// -----

func.func @no_rule(%x: tensor<2x4x8xf32>, %w: tensor<2x4x8xf32> {palm.init = #palm.init<ones>}, %t: tensor<2x4xi32>) -> tensor<f32> {
  // expected-error@+1 {{'arith.addf' op has no reverse-mode rule, so palm cannot differentiate the loss through it}}
  %y = arith.addf %x, %w : tensor<2x4x8xf32>
  %l = palm.cross_entropy %y, %t : (tensor<2x4x8xf32>, tensor<2x4xi32>) -> tensor<f32>
  return %l : tensor<f32>
}

// -----

// expected-error@+1 {{the loss does not depend on parameter unused, so its gradient would be zero}}
func.func @unused_parameter(%x: tensor<2x4x8xf32>, %w: tensor<2x4x8xf32> {palm.init = #palm.init<ones>}, %u: tensor<8xf32> {palm.init = #palm.init<ones>, palm.name = "unused"}, %t: tensor<2x4xi32>) -> tensor<f32> {
  %y = palm.mul %x, %w : tensor<2x4x8xf32>
  %l = palm.cross_entropy %y, %t : (tensor<2x4x8xf32>, tensor<2x4xi32>) -> tensor<f32>
  return %l : tensor<f32>
}

// -----

func.func @loss_not_cross_entropy(%x: tensor<2x4x8xf32>, %w: tensor<2x4x8xf32> {palm.init = #palm.init<ones>}, %t: tensor<2x4xi32>) -> tensor<f32> {
  %y = palm.mul %x, %w : tensor<2x4x8xf32>
  %l = palm.cross_entropy %y, %t : (tensor<2x4x8xf32>, tensor<2x4xi32>) -> tensor<f32>
  // expected-error@+1 {{computes the loss, but palm seeds the backward pass at a palm.cross_entropy: return its result as the loss}}
  %s = palm.scale %l {factor = 2.0 : f32} : tensor<f32>
  return %s : tensor<f32>
}

// -----

// expected-error@+1 {{-palm-autodiff differentiates global-level programs; this module is already partitioned}}
module attributes {palm.level = #palm.level<local>} {
}
