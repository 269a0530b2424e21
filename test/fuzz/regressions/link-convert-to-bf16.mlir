// palm_fuzz regression: crashed on mesh y=2 (convert).
// Found by palm_fuzz.py --seed 1 (case 1, batch 8), shrunk from 6 ops to 1 in 12 tries.
// link failed: undefined reference to __truncsfbf2
// REQUIRES: mpi, numpy
// The CPU lowering of an f32 -> bf16 convert called __truncsfbf2, which the
// link does not provide; fixed on main by 50fcce1 (arith-expand with bf16).
// RUN: %python %S/../palm_fuzz.py --bin %palm_obj_root/bin --work %t --replay %s --expect exact
// FUZZ-PROGRAM: {"args":[{"dtype":"f32","init":"normal(0.25)","kind":"param","name":"c1.p1","shape":[4,11,3],"sharding":null}],"members":[1],"mesh":[["y",2]],"ops":[{"attrs":{},"dtype":"bf16","kind":"convert","name":"c1.v4","operands":["c1.p1"],"shape":[4,11,3]}],"results":[{"sharding":null,"value":"c1.v4"}]}
palm.mesh @mesh(y = 2)
func.func @forward(
    %arg0: tensor<4x11x3xf32> {palm.name = "c1.p1", palm.init = #palm.init<normal(0.25)>})
    -> (tensor<4x11x3xbf16> {palm.name = "c1.v4.r0"}) {
  %0 = palm.convert %arg0 : tensor<4x11x3xf32> -> tensor<4x11x3xbf16>
  return %0 : tensor<4x11x3xbf16>
}
