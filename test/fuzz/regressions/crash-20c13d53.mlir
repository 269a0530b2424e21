// palm_fuzz regression: crashed on mesh x=2 (reshape, sharding_constraint).
// Found by palm_fuzz.py --seed 1 (case 38, batch 8), shrunk from 6 ops to 2 in 21 tries.
// invalid IR after a pass: '_' op changes the element count from N to N
// REQUIRES: mpi, numpy
// A known bug (issue 11): remove the XFAIL line when it is fixed.
// XFAIL: *
// RUN: %python %S/../palm_fuzz.py --bin %palm_obj_root/bin --work %t --replay %s
// FUZZ-PROGRAM: {"args":[{"dtype":"bf16","init":"normal(0.5)","kind":"param","name":"c38.p4","shape":[4,3,2,4],"sharding":null}],"members":[38],"mesh":[["x",2]],"ops":[{"attrs":{},"dtype":"bf16","kind":"reshape","name":"c38.v10","operands":["c38.p4"],"shape":[2,2,3,2,4]},{"attrs":{"sharding":{"dims":[["x"],[],[],[],[]],"unreduced":[]}},"dtype":"bf16","kind":"sharding_constraint","name":"c38.v11","operands":["c38.v10"],"shape":[2,2,3,2,4]}],"results":[{"sharding":null,"value":"c38.v11"}]}
palm.mesh @mesh(x = 2)
func.func @forward(
    %arg0: tensor<4x3x2x4xbf16> {palm.name = "c38.p4", palm.init = #palm.init<normal(0.5)>})
    -> (tensor<2x2x3x2x4xbf16> {palm.name = "c38.v11.r0"}) {
  %0 = palm.reshape %arg0 : tensor<4x3x2x4xbf16> -> tensor<2x2x3x2x4xbf16>
  %1 = palm.sharding_constraint %0 to <@mesh, [[x], [], [], [], []]> : tensor<2x2x3x2x4xbf16>
  return %1 : tensor<2x2x3x2x4xbf16>
}
