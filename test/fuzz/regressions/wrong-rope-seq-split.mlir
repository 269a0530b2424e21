// palm_fuzz regression: wrong on mesh x=2 (rope, sharding_constraint).
// Found by palm_fuzz.py --seed 1 (case 120, batch 8), shrunk from 4 ops to 2 in 19 tries.
// c120.v3.r0: mesh vs 1 device: max|diff| 3.14, max|ref| 3.08 (1 of it, tolerance 1e-05)
// REQUIRES: mpi, numpy
// Fixed on main by e2c5f52 (a factor the rule does not let an op split is
// never split; positional and grouped factors); exact since.
// RUN: %python %S/../palm_fuzz.py --bin %palm_obj_root/bin --work %t --replay %s --expect exact
// FUZZ-PROGRAM: {"args":[{"dtype":"f32","init":"normal(1.0)","kind":"param","name":"c120.p1","shape":[6,2,13,2],"sharding":null}],"members":[120],"mesh":[["x",2]],"ops":[{"attrs":{},"dtype":"f32","kind":"rope","name":"c120.v2","operands":["c120.p1"],"shape":[6,2,13,2]},{"attrs":{"sharding":{"dims":[[],["x"],[],[]],"unreduced":[]}},"dtype":"f32","kind":"sharding_constraint","name":"c120.v3","operands":["c120.v2"],"shape":[6,2,13,2]}],"results":[{"sharding":null,"value":"c120.v3"}]}
palm.mesh @mesh(x = 2)
func.func @forward(
    %arg0: tensor<6x2x13x2xf32> {palm.name = "c120.p1", palm.init = #palm.init<normal(1.0)>})
    -> (tensor<6x2x13x2xf32> {palm.name = "c120.v3.r0"}) {
  %0 = palm.rope %arg0 : tensor<6x2x13x2xf32>
  %1 = palm.sharding_constraint %0 to <@mesh, [[], [x], [], []]> : tensor<6x2x13x2xf32>
  return %1 : tensor<6x2x13x2xf32>
}
