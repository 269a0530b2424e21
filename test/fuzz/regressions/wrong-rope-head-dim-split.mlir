// palm_fuzz regression: wrong on mesh y=2 (rope, sharding_constraint).
// Found by palm_fuzz.py --seed 1 (case 129, batch 8), shrunk from 6 ops to 2 in 27 tries.
// c129.v6.r0: mesh vs 1 device: max|diff| 2.54, max|ref| 2.52 (1 of it, tolerance 1e-05)
// REQUIRES: mpi, numpy
// Fixed on main by e2c5f52 (a factor the rule does not let an op split is
// never split; positional and grouped factors); exact since.
// RUN: %python %S/../palm_fuzz.py --bin %palm_obj_root/bin --work %t --replay %s --expect exact
// FUZZ-PROGRAM: {"args":[{"dtype":"f32","init":"normal(1.0)","kind":"param","name":"c129.p4","shape":[3,2,9,4],"sharding":null}],"members":[129],"mesh":[["y",2]],"ops":[{"attrs":{},"dtype":"f32","kind":"rope","name":"c129.v5","operands":["c129.p4"],"shape":[3,2,9,4]},{"attrs":{"sharding":{"dims":[[],[],[],["y"]],"unreduced":[]}},"dtype":"f32","kind":"sharding_constraint","name":"c129.v6","operands":["c129.v5"],"shape":[3,2,9,4]}],"results":[{"sharding":null,"value":"c129.v6"}]}
palm.mesh @mesh(y = 2)
func.func @forward(
    %arg0: tensor<3x2x9x4xf32> {palm.name = "c129.p4", palm.init = #palm.init<normal(1.0)>})
    -> (tensor<3x2x9x4xf32> {palm.name = "c129.v6.r0"}) {
  %0 = palm.rope %arg0 : tensor<3x2x9x4xf32>
  %1 = palm.sharding_constraint %0 to <@mesh, [[], [], [], [y]]> : tensor<3x2x9x4xf32>
  return %1 : tensor<3x2x9x4xf32>
}
