// palm_fuzz regression: wrong on mesh y=2 (rope, sharding_constraint).
// Found by palm_fuzz.py --seed 1 (case 135, batch 8), shrunk from 6 ops to 2 in 26 tries.
// c135.v7.r0: mesh vs 1 device: max|diff| 5.39, max|ref| 3.03 (1.8 of it, tolerance 1e-05)
// REQUIRES: mpi, numpy
// A known bug (issue 11): remove the XFAIL line when it is fixed.
// XFAIL: *
// RUN: %python %S/../palm_fuzz.py --bin %palm_obj_root/bin --work %t --replay %s
// FUZZ-PROGRAM: {"args":[{"dtype":"f32","init":"normal(1.0)","kind":"param","name":"c135.p5","shape":[1,3,8,12],"sharding":null}],"members":[135],"mesh":[["y",2]],"ops":[{"attrs":{},"dtype":"f32","kind":"rope","name":"c135.v6","operands":["c135.p5"],"shape":[1,3,8,12]},{"attrs":{"sharding":{"dims":[[],["y"],[],[]],"unreduced":[]}},"dtype":"f32","kind":"sharding_constraint","name":"c135.v7","operands":["c135.v6"],"shape":[1,3,8,12]}],"results":[{"sharding":null,"value":"c135.v7"}]}
palm.mesh @mesh(y = 2)
func.func @forward(
    %arg0: tensor<1x3x8x12xf32> {palm.name = "c135.p5", palm.init = #palm.init<normal(1.0)>})
    -> (tensor<1x3x8x12xf32> {palm.name = "c135.v7.r0"}) {
  %0 = palm.rope %arg0 : tensor<1x3x8x12xf32>
  %1 = palm.sharding_constraint %0 to <@mesh, [[], [y], [], []]> : tensor<1x3x8x12xf32>
  return %1 : tensor<1x3x8x12xf32>
}
