palm.mesh @mesh(y = 3)
func.func @forward(
    %arg0: tensor<6x13xf32> {palm.name = "ln.x", palm.init = #palm.init<normal(0.5)>, palm.sharding = #palm.sharding<@mesh, [[], [y]]>},
    %arg1: tensor<13xf32> {palm.name = "ln.g", palm.init = #palm.init<normal(1.0)>},
    %arg2: tensor<13x4xf32> {palm.name = "ln.w", palm.init = #palm.init<normal(0.5)>, palm.sharding = #palm.sharding<@mesh, [[y], []]>})
    -> (tensor<6x13xf32> {palm.name = "ln.c.r0", palm.sharding = #palm.sharding<@mesh, [[], [y]]>},
        tensor<6x4xf32> {palm.name = "ln.y.r1"}) {
  %0 = palm.layer_norm %arg0, %arg1 : (tensor<6x13xf32>, tensor<13xf32>) -> tensor<6x13xf32>
  %1 = palm.sharding_constraint %0 to <@mesh, [[], [y]]> : tensor<6x13xf32>
  %2 = palm.dot_general %1, %arg2, contracting_dims = [1] x [0] : (tensor<6x13xf32>, tensor<13x4xf32>) -> tensor<6x4xf32>
  return %1, %2 : tensor<6x13xf32>, tensor<6x4xf32>
}
