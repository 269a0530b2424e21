// palm_fuzz regression: wrong on mesh x=2 (layer_norm, sharding_constraint).
// Found by palm_fuzz.py --seed 1 (case 49, batch 8), shrunk from 3 ops to 2 in 30 tries.
// c49.v4.r0: mesh vs 1 device: max|diff| 2.14, max|ref| 0.75 (2.9 of it, tolerance 1e-05)
// REQUIRES: mpi, numpy
// A known bug (issue 11): remove the XFAIL line when it is fixed.
// XFAIL: *
// RUN: %python %S/../palm_fuzz.py --bin %palm_obj_root/bin --work %t --replay %s
// FUZZ-PROGRAM: {"args":[{"dtype":"f32","init":"normal(1.0)","kind":"param","name":"c49.p1","shape":[3],"sharding":null},{"dtype":"f32","init":"normal(1.0)","kind":"param","name":"c49.p2","shape":[3],"sharding":null}],"members":[49],"mesh":[["x",2]],"ops":[{"attrs":{},"dtype":"f32","kind":"layer_norm","name":"c49.v3","operands":["c49.p1","c49.p2"],"shape":[3]},{"attrs":{"sharding":{"dims":[["x"]],"unreduced":[]}},"dtype":"f32","kind":"sharding_constraint","name":"c49.v4","operands":["c49.v3"],"shape":[3]}],"results":[{"sharding":null,"value":"c49.v4"}]}
palm.mesh @mesh(x = 2)
func.func @forward(
    %arg0: tensor<3xf32> {palm.name = "c49.p1", palm.init = #palm.init<normal(1.0)>},
    %arg1: tensor<3xf32> {palm.name = "c49.p2", palm.init = #palm.init<normal(1.0)>})
    -> (tensor<3xf32> {palm.name = "c49.v4.r0"}) {
  %0 = palm.layer_norm %arg0, %arg1 : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>
  %1 = palm.sharding_constraint %0 to <@mesh, [[x]]> : tensor<3xf32>
  return %1 : tensor<3xf32>
}
