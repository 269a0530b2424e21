// palm_fuzz regression: wrong on mesh y=2 (add, attention, cross_entropy, dot_general).
// Found by palm_fuzz.py --grads --seed 1 (case 3, batch 8), shrunk from 16 ops to 7 in 109 tries.
// The log-sum-exp of an attention whose value head dimension is split was
// all-reduced as a partial sum (each shard holds it whole), so every
// gradient through the attention came out wrong; the forward was exact.
// Fixed by the attention rule's identicalOver (ShardingRule::addResult).
// grad.c3.p4: mesh vs 1 device: max|diff| 0.00741, max|ref| 0.00927 (0.8 of it, tolerance 1e-05); grad.c3.p5: mesh vs 1 device: max|diff| 0.0303, max|ref| 0.0477 (0.63 of it, tolerance 1e-05); grad.c3.p6: mesh vs 1 device: max|diff| 0.0864, max|ref| 0.238 (0.36 of it, tolerance 1e-05)
// REQUIRES: mpi, numpy
// RUN: %python %S/../palm_fuzz.py --bin %palm_obj_root/bin --work %t --replay %s --expect exact
// FUZZ-PROGRAM: {"args":[{"dtype":"i32","init":null,"kind":"input","name":"targets","shape":[4,8],"sharding":null},{"dtype":"f32","init":"normal(1.0)","kind":"param","name":"embedding","shape":[5,6],"sharding":null},{"dtype":"f32","init":"normal(1.0)","kind":"param","name":"c3.p4","shape":[12,8,9,1],"sharding":null},{"dtype":"f32","init":"normal(0.25)","kind":"param","name":"c3.p5","shape":[12,8,9,1],"sharding":null},{"dtype":"f32","init":"normal(0.25)","kind":"param","name":"c3.p6","shape":[12,8,9,1],"sharding":{"dims":[[],[],[],["y"]],"unreduced":[]}},{"dtype":"f32","init":"normal(1.0)","kind":"param","name":"c3.p14","shape":[12,8,1],"sharding":null},{"dtype":"f32","init":"normal(0.25)","kind":"param","name":"c3.p16","shape":[4,9,8,5],"sharding":null},{"dtype":"f32","init":"normal(1.0)","kind":"param","name":"s.p0","shape":[4,8,6],"sharding":null},{"dtype":"f32","init":"normal(1.0)","kind":"param","name":"s.p1","shape":[4,8,5],"sharding":null}],"grads":true,"members":[3],"mesh":[["y",2]],"ops":[{"attrs":{"causal":true},"dtype":"f32","kind":"attention","name":"c3.v7","operands":["c3.p4","c3.p5","c3.p6"],"shape":[12,8,9,1]},{"attrs":{"lhs_batch":[],"lhs_contracting":[0,1,3],"rhs_batch":[],"rhs_contracting":[0,1,2]},"dtype":"f32","kind":"dot_general","name":"c3.v15","operands":["c3.v7","c3.p14"],"shape":[9]},{"attrs":{"lhs_batch":[],"lhs_contracting":[0],"rhs_batch":[],"rhs_contracting":[1]},"dtype":"f32","kind":"dot_general","name":"c3.v17","operands":["c3.v15","c3.p16"],"shape":[4,8,5]},{"attrs":{},"dtype":"f32","kind":"add","name":"c3.v18","operands":["s.p1","c3.v17"],"shape":[4,8,5]},{"attrs":{"lhs_batch":[],"lhs_contracting":[2],"rhs_batch":[],"rhs_contracting":[1]},"dtype":"f32","kind":"dot_general","name":"head.logits","operands":["s.p0","embedding"],"shape":[4,8,5]},{"attrs":{},"dtype":"f32","kind":"add","name":"head.sum0","operands":["head.logits","c3.v18"],"shape":[4,8,5]},{"attrs":{},"dtype":"f32","kind":"cross_entropy","name":"loss","operands":["head.sum0","targets"],"shape":[]}],"results":[{"name":"loss","sharding":null,"value":"loss"}]}
palm.mesh @mesh(y = 2)
func.func @forward(
    %arg0: tensor<4x8xi32> {palm.name = "targets"},
    %arg1: tensor<5x6xf32> {palm.name = "embedding", palm.init = #palm.init<normal(1.0)>},
    %arg2: tensor<12x8x9x1xf32> {palm.name = "c3.p4", palm.init = #palm.init<normal(1.0)>},
    %arg3: tensor<12x8x9x1xf32> {palm.name = "c3.p5", palm.init = #palm.init<normal(0.25)>},
    %arg4: tensor<12x8x9x1xf32> {palm.name = "c3.p6", palm.init = #palm.init<normal(0.25)>, palm.sharding = #palm.sharding<@mesh, [[], [], [], [y]]>},
    %arg5: tensor<12x8x1xf32> {palm.name = "c3.p14", palm.init = #palm.init<normal(1.0)>},
    %arg6: tensor<4x9x8x5xf32> {palm.name = "c3.p16", palm.init = #palm.init<normal(0.25)>},
    %arg7: tensor<4x8x6xf32> {palm.name = "s.p0", palm.init = #palm.init<normal(1.0)>},
    %arg8: tensor<4x8x5xf32> {palm.name = "s.p1", palm.init = #palm.init<normal(1.0)>})
    -> (tensor<f32> {palm.name = "loss"}) {
  %0 = palm.attention %arg2, %arg3, %arg4 {causal} : (tensor<12x8x9x1xf32>, tensor<12x8x9x1xf32>, tensor<12x8x9x1xf32>) -> tensor<12x8x9x1xf32>
  %1 = palm.dot_general %0, %arg5, contracting_dims = [0, 1, 3] x [0, 1, 2] : (tensor<12x8x9x1xf32>, tensor<12x8x1xf32>) -> tensor<9xf32>
  %2 = palm.dot_general %1, %arg6, contracting_dims = [0] x [1] : (tensor<9xf32>, tensor<4x9x8x5xf32>) -> tensor<4x8x5xf32>
  %3 = palm.add %arg8, %2 : tensor<4x8x5xf32>
  %4 = palm.dot_general %arg7, %arg1, contracting_dims = [2] x [1] : (tensor<4x8x6xf32>, tensor<5x6xf32>) -> tensor<4x8x5xf32>
  %5 = palm.add %4, %3 : tensor<4x8x5xf32>
  %6 = palm.cross_entropy %5, %arg0 : (tensor<4x8x5xf32>, tensor<4x8xi32>) -> tensor<f32>
  return %6 : tensor<f32>
}
