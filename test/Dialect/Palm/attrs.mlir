// Round trip of the palm attributes: #palm.sharding (on arguments, results
// and, as palm.shardings, on ops), #palm.axes, #palm.init, #palm.level and
// palm.name.
// RUN: palm-opt %s | palm-opt | FileCheck %s
// RUN: palm-opt %s -mlir-print-op-generic | palm-opt | FileCheck %s

// CHECK: module attributes {palm.level = #palm.level<global>}
module attributes {palm.level = #palm.level<global>} {
  // CHECK: palm.mesh @mesh(data = 2, model = 4)
  palm.mesh @mesh(data = 2, model = 4)
  // CHECK: palm.mesh @single(x = 1)
  palm.mesh @single(x = 1)

  // CHECK-LABEL: func.func @arguments
  // CHECK-SAME: palm.sharding = #palm.sharding<@mesh, {{\[}}[data, model], []]>
  // CHECK-SAME: palm.sharding = #palm.sharding<@mesh, []>
  // CHECK-SAME: -> (tensor<8x4xf32> {palm.sharding = #palm.sharding<@single, {{\[}}[x], []]>},
  // CHECK-SAME: tensor<8x4xf32> {palm.sharding = #palm.sharding<@mesh, {{\[}}[], [model]], unreduced = [data: sum]>},
  // CHECK-SAME: tensor<8x4xf32> {palm.sharding = #palm.sharding<@mesh, {{\[}}[], []], unreduced = [model: max, data: sum]>})
  func.func @arguments(
      %a: tensor<8x4xf32> {palm.sharding = #palm.sharding<@mesh, [[data, model], []]>},
      %d: tensor<f32> {palm.sharding = #palm.sharding<@mesh, []>})
      -> (tensor<8x4xf32> {palm.sharding = #palm.sharding<@single, [[x], []]>},
          tensor<8x4xf32> {palm.sharding = #palm.sharding<@mesh, [[], [model]], unreduced = [data: sum]>},
          tensor<8x4xf32> {palm.sharding = #palm.sharding<@mesh, [[], []], unreduced = [model: max, data: sum]>}) {
    return %a, %a, %a : tensor<8x4xf32>, tensor<8x4xf32>, tensor<8x4xf32>
  }

  // Axis names may be written as strings; they print bare.
  // CHECK-LABEL: func.func @quoted_axes
  // CHECK-SAME: #palm.sharding<@mesh, {{\[}}[model], [data]]>
  func.func @quoted_axes(%a: tensor<8x4xf32> {palm.sharding = #palm.sharding<@mesh, [["model"], ["data"]]>}) {
    return
  }

  // CHECK-LABEL: func.func @parameters
  // CHECK-SAME: palm.init = #palm.init<normal(2.500000e-01)>, palm.name = "layers.0.attention.wq"
  // CHECK-SAME: palm.init = #palm.init<ones>, palm.name = "layers.0.ln"
  // CHECK-SAME: palm.init = #palm.init<zeros>
  // CHECK-SAME: palm.name = "tokens"
  func.func @parameters(
      %wq: tensor<16x4x4xf32> {palm.name = "layers.0.attention.wq", palm.init = #palm.init<normal(0.25)>},
      %ln: tensor<16xf32> {palm.name = "layers.0.ln", palm.init = #palm.init<ones>},
      %z: tensor<16xf32> {palm.init = #palm.init<zeros>},
      %tokens: tensor<2x8xi32> {palm.name = "tokens"}) {
    return
  }

  // What propagation writes: one sharding per result.
  // CHECK-LABEL: func.func @op_shardings
  func.func @op_shardings(%x: tensor<8x16xf32>, %w: tensor<16x4xf32>) -> tensor<8x4xf32> {
    // CHECK: palm.dot_general
    // CHECK-SAME: palm.shardings = [#palm.sharding<@mesh, {{\[}}[data], []], unreduced = [model: sum]>]
    %0 = palm.dot_general %x, %w, contracting_dims = [1] x [0] {palm.shardings = [#palm.sharding<@mesh, [[data], []], unreduced = [model: sum]>]} : (tensor<8x16xf32>, tensor<16x4xf32>) -> tensor<8x4xf32>
    return %0 : tensor<8x4xf32>
  }

  // The standalone forms of the helper attributes.
  // CHECK-LABEL: func.func @standalone
  // CHECK-SAME: test.axes = #palm.axes<[data, model]>
  // CHECK-SAME: test.empty = #palm.axes<[]>
  // CHECK-SAME: test.local = #palm.level<local>
  func.func @standalone() attributes {test.axes = #palm.axes<[data, model]>, test.empty = #palm.axes<[]>, test.local = #palm.level<local>} {
    return
  }
}
