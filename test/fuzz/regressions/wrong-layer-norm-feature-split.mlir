// palm_fuzz regression: wrong on mesh y=2 (layer_norm, sharding_constraint).
// Found by palm_fuzz.py --seed 1 (case 117, batch 8), shrunk from 4 ops to 2 in 18 tries.
// c117.v8.r0: mesh vs 1 device: max|diff| 0.867, max|ref| 0.919 (0.94 of it, tolerance 1e-05)
// REQUIRES: mpi, numpy
// Fixed on main by e2c5f52 (a factor the rule does not let an op split is
// never split; positional and grouped factors); exact since.
// RUN: %python %S/../palm_fuzz.py --bin %palm_obj_root/bin --work %t --replay %s --expect exact
// FUZZ-PROGRAM: {"args":[{"dtype":"f32","init":"normal(0.5)","kind":"param","name":"c117.p5","shape":[8,4],"sharding":null},{"dtype":"f32","init":"normal(1.0)","kind":"param","name":"c117.p6","shape":[4],"sharding":null}],"members":[117],"mesh":[["y",2]],"ops":[{"attrs":{},"dtype":"f32","kind":"layer_norm","name":"c117.v7","operands":["c117.p5","c117.p6"],"shape":[8,4]},{"attrs":{"sharding":{"dims":[[],["y"]],"unreduced":[]}},"dtype":"f32","kind":"sharding_constraint","name":"c117.v8","operands":["c117.v7"],"shape":[8,4]}],"results":[{"sharding":null,"value":"c117.v8"}]}
palm.mesh @mesh(y = 2)
func.func @forward(
    %arg0: tensor<8x4xf32> {palm.name = "c117.p5", palm.init = #palm.init<normal(0.5)>},
    %arg1: tensor<4xf32> {palm.name = "c117.p6", palm.init = #palm.init<normal(1.0)>})
    -> (tensor<8x4xf32> {palm.name = "c117.v8.r0"}) {
  %0 = palm.layer_norm %arg0, %arg1 : (tensor<8x4xf32>, tensor<4xf32>) -> tensor<8x4xf32>
  %1 = palm.sharding_constraint %0 to <@mesh, [[], [y]]> : tensor<8x4xf32>
  return %1 : tensor<8x4xf32>
}
