// palm_fuzz regression: crashed on mesh x=2 (attention, sharding_constraint).
// Found by palm_fuzz.py --seed 1 (case 71, batch 8), shrunk from 6 ops to 2 in 21 tries.
// invalid IR after a pass: '_' op causal attention needs equal query and key sequence lengths
// REQUIRES: mpi, numpy
// Fixed on main by e2c5f52 (a factor the rule does not let an op split is
// never split; positional and grouped factors); exact since.
// RUN: %python %S/../palm_fuzz.py --bin %palm_obj_root/bin --work %t --replay %s --expect exact
// FUZZ-PROGRAM: {"args":[{"dtype":"f32","init":"normal(1.0)","kind":"param","name":"c71.p5","shape":[4,5,2,2],"sharding":null}],"members":[71],"mesh":[["x",2]],"ops":[{"attrs":{"causal":true,"scale":1.0},"dtype":"f32","kind":"attention","name":"c71.v6","operands":["c71.p5","c71.p5","c71.p5"],"shape":[4,5,2,2]},{"attrs":{"sharding":{"dims":[[],["x"],[],[]],"unreduced":[]}},"dtype":"f32","kind":"sharding_constraint","name":"c71.v7","operands":["c71.v6"],"shape":[4,5,2,2]}],"results":[{"sharding":null,"value":"c71.v7"}]}
palm.mesh @mesh(x = 2)
func.func @forward(
    %arg0: tensor<4x5x2x2xf32> {palm.name = "c71.p5", palm.init = #palm.init<normal(1.0)>})
    -> (tensor<4x5x2x2xf32> {palm.name = "c71.v7.r0"}) {
  %0 = palm.attention %arg0, %arg0, %arg0 {causal, scale = 1.000000000e+00 : f32} : (tensor<4x5x2x2xf32>, tensor<4x5x2x2xf32>, tensor<4x5x2x2xf32>) -> tensor<4x5x2x2xf32>
  %1 = palm.sharding_constraint %0 to <@mesh, [[], [x], [], []]> : tensor<4x5x2x2xf32>
  return %1 : tensor<4x5x2x2xf32>
}
