// palm_fuzz regression: crashed on mesh x=2 (reshape, sharding_constraint).
// Found by palm_fuzz.py --seed 1 (case 70, batch 8), shrunk from 3 ops to 2 in 15 tries.
// invalid IR after a pass: '_' op changes the element count from N to N
// REQUIRES: mpi, numpy
// Fixed on main by e2c5f52 (a factor the rule does not let an op split is
// never split; positional and grouped factors); exact since.
// RUN: %python %S/../palm_fuzz.py --bin %palm_obj_root/bin --work %t --replay %s --expect exact
// FUZZ-PROGRAM: {"args":[{"dtype":"f32","init":"normal(0.5)","kind":"param","name":"c70.p1","shape":[4],"sharding":null}],"members":[70],"mesh":[["x",2]],"ops":[{"attrs":{},"dtype":"f32","kind":"reshape","name":"c70.v2","operands":["c70.p1"],"shape":[2,2]},{"attrs":{"sharding":{"dims":[[],["x"]],"unreduced":[]}},"dtype":"f32","kind":"sharding_constraint","name":"c70.v3","operands":["c70.v2"],"shape":[2,2]}],"results":[{"sharding":null,"value":"c70.v3"}]}
palm.mesh @mesh(x = 2)
func.func @forward(
    %arg0: tensor<4xf32> {palm.name = "c70.p1", palm.init = #palm.init<normal(0.5)>})
    -> (tensor<2x2xf32> {palm.name = "c70.v3.r0"}) {
  %0 = palm.reshape %arg0 : tensor<4xf32> -> tensor<2x2xf32>
  %1 = palm.sharding_constraint %0 to <@mesh, [[], [x]]> : tensor<2x2xf32>
  return %1 : tensor<2x2xf32>
}
