// palm_fuzz regression: crashed on mesh y=4 (rope, sharding_constraint).
// Found by palm_fuzz.py --seed 1 (case 35, batch 8), shrunk from 8 ops to 2 in 28 tries.
// invalid IR after a pass: '_' op head_dim N must be even (dimension i pairs with i + head_dim/N)
// REQUIRES: mpi, numpy
// Fixed on main by e2c5f52 (a factor the rule does not let an op split is
// never split; positional and grouped factors); exact since.
// RUN: %python %S/../palm_fuzz.py --bin %palm_obj_root/bin --work %t --replay %s --expect exact
// FUZZ-PROGRAM: {"args":[{"dtype":"f32","init":"normal(1.0)","kind":"param","name":"c35.p1","shape":[2,11,1,4],"sharding":null}],"members":[35],"mesh":[["y",4]],"ops":[{"attrs":{},"dtype":"f32","kind":"rope","name":"c35.v2","operands":["c35.p1"],"shape":[2,11,1,4]},{"attrs":{"sharding":{"dims":[[],[],[],["y"]],"unreduced":[]}},"dtype":"f32","kind":"sharding_constraint","name":"c35.v4","operands":["c35.v2"],"shape":[2,11,1,4]}],"results":[{"sharding":null,"value":"c35.v4"}]}
palm.mesh @mesh(y = 4)
func.func @forward(
    %arg0: tensor<2x11x1x4xf32> {palm.name = "c35.p1", palm.init = #palm.init<normal(1.0)>})
    -> (tensor<2x11x1x4xf32> {palm.name = "c35.v4.r0"}) {
  %0 = palm.rope %arg0 : tensor<2x11x1x4xf32>
  %1 = palm.sharding_constraint %0 to <@mesh, [[], [], [], [y]]> : tensor<2x11x1x4xf32>
  return %1 : tensor<2x11x1x4xf32>
}
