// palm_fuzz regression: wrong on mesh x=2 (rope, sharding_constraint).
// Found by palm_fuzz.py --seed 1 (case 195, batch 8), shrunk from 6 ops to 2 in 23 tries.
// c195.v8.r0: mesh vs 1 device: max|diff| 3.91, max|ref| 3.2 (1.2 of it, tolerance 1e-05)
// REQUIRES: mpi, numpy
// A known bug (issue 11): remove the XFAIL line when it is fixed.
// XFAIL: *
// RUN: %python %S/../palm_fuzz.py --bin %palm_obj_root/bin --work %t --replay %s
// FUZZ-PROGRAM: {"args":[{"dtype":"f32","init":"normal(1.0)","kind":"param","name":"s.p0","shape":[2,3,12,8],"sharding":null}],"members":[195],"mesh":[["x",2]],"ops":[{"attrs":{},"dtype":"f32","kind":"rope","name":"c195.v7","operands":["s.p0"],"shape":[2,3,12,8]},{"attrs":{"sharding":{"dims":[[],["x"],[],[]],"unreduced":[]}},"dtype":"f32","kind":"sharding_constraint","name":"c195.v8","operands":["c195.v7"],"shape":[2,3,12,8]}],"results":[{"sharding":null,"value":"c195.v8"}]}
palm.mesh @mesh(x = 2)
func.func @forward(
    %arg0: tensor<2x3x12x8xf32> {palm.name = "s.p0", palm.init = #palm.init<normal(1.0)>})
    -> (tensor<2x3x12x8xf32> {palm.name = "c195.v8.r0"}) {
  %0 = palm.rope %arg0 : tensor<2x3x12x8xf32>
  %1 = palm.sharding_constraint %0 to <@mesh, [[], [x], [], []]> : tensor<2x3x12x8xf32>
  return %1 : tensor<2x3x12x8xf32>
}
