// palm_fuzz regression: crashed on mesh x=2 (attention, sharding_constraint).
// Found by palm_fuzz.py --seed 1 (case 12, batch 8), shrunk from 4 ops to 2 in 20 tries.
// invalid IR after a pass: '_' op query heads (N) must be a multiple of key/value heads (N)
// REQUIRES: mpi, numpy
// Fixed on main by e2c5f52 (a factor the rule does not let an op split is
// never split; positional and grouped factors); exact since.
// RUN: %python %S/../palm_fuzz.py --bin %palm_obj_root/bin --work %t --replay %s --expect exact
// FUZZ-PROGRAM: {"args":[{"dtype":"f32","init":"normal(1.0)","kind":"param","name":"c12.p1","shape":[6,3,4,6],"sharding":null},{"dtype":"f32","init":"normal(1.0)","kind":"param","name":"c12.p2","shape":[6,3,4,6],"sharding":null},{"dtype":"f32","init":"normal(0.5)","kind":"param","name":"c12.p3","shape":[6,3,4,6],"sharding":null}],"members":[12],"mesh":[["x",2]],"ops":[{"attrs":{"causal":true,"scale":0.125},"dtype":"f32","kind":"attention","name":"c12.v4","operands":["c12.p1","c12.p2","c12.p3"],"shape":[6,3,4,6]},{"attrs":{"sharding":{"dims":[[],[],["x"],[]],"unreduced":[]}},"dtype":"f32","kind":"sharding_constraint","name":"c12.v5","operands":["c12.v4"],"shape":[6,3,4,6]}],"results":[{"sharding":null,"value":"c12.v5"}]}
palm.mesh @mesh(x = 2)
func.func @forward(
    %arg0: tensor<6x3x4x6xf32> {palm.name = "c12.p1", palm.init = #palm.init<normal(1.0)>},
    %arg1: tensor<6x3x4x6xf32> {palm.name = "c12.p2", palm.init = #palm.init<normal(1.0)>},
    %arg2: tensor<6x3x4x6xf32> {palm.name = "c12.p3", palm.init = #palm.init<normal(0.5)>})
    -> (tensor<6x3x4x6xf32> {palm.name = "c12.v5.r0"}) {
  %0 = palm.attention %arg0, %arg1, %arg2 {causal, scale = 1.250000000e-01 : f32} : (tensor<6x3x4x6xf32>, tensor<6x3x4x6xf32>, tensor<6x3x4x6xf32>) -> tensor<6x3x4x6xf32>
  %1 = palm.sharding_constraint %0 to <@mesh, [[], [], [x], []]> : tensor<6x3x4x6xf32>
  return %1 : tensor<6x3x4x6xf32>
}
