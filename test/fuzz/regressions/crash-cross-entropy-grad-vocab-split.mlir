// palm_fuzz regression: crashed on mesh y=2 (add, attention, cross_entropy, dot_general, embedding, reshape, scale, sharding_constraint).
// Found by palm_fuzz.py --grads --seed 1 (case 1, batch 8), shrunk by compiling only (a crash needs no run): 20 ops left after 364 tries.
// The partitioner's replaceExpanded copied a sharding through a reference
// into a DenseMap that the insertion of the new value grew (a dangling
// read), here at the cross_entropy_grad whose vocabulary the embedding's
// split makes split. Fixed in SpmdPartition.cpp (copy first).
// PLEASE submit a bug report (a segfault in MeshInfo::size, from Resharder::allGather in expandShardedSoftmaxGrad)
// REQUIRES: mpi, numpy
// RUN: %python %S/../palm_fuzz.py --bin %palm_obj_root/bin --work %t --replay %s --expect exact
// FUZZ-PROGRAM: {"args":[{"dtype":"i32","init":null,"kind":"input","name":"tokens","shape":[4,8],"sharding":null},{"dtype":"i32","init":null,"kind":"input","name":"targets","shape":[4,8],"sharding":{"dims":[[],["y"]],"unreduced":[]}},{"dtype":"f32","init":"normal(1.0)","kind":"param","name":"embedding","shape":[5,6],"sharding":{"dims":[["y"],[]],"unreduced":[]}},{"dtype":"f32","init":"normal(0.25)","kind":"param","name":"c1.p1","shape":[4,11,3],"sharding":null},{"dtype":"f32","init":"normal(1.0)","kind":"param","name":"c1.p2","shape":[4,11],"sharding":null},{"dtype":"f32","init":"normal(1.0)","kind":"param","name":"c1.p8","shape":[16,2,3,3],"sharding":{"dims":[["y"],[],[],[]],"unreduced":[]}},{"dtype":"f32","init":"normal(0.25)","kind":"param","name":"c1.p9","shape":[16,2,3,3],"sharding":null},{"dtype":"f32","init":"normal(0.25)","kind":"param","name":"c1.p13","shape":[4,3],"sharding":{"dims":[[],[]],"unreduced":[]}},{"dtype":"f32","init":"normal(0.5)","kind":"param","name":"c1.p15","shape":[4,11,8,5],"sharding":{"dims":[[],[],[],[]],"unreduced":[]}},{"dtype":"f32","init":"normal(0.5)","kind":"param","name":"c1.p18","shape":[4,8,1,5],"sharding":null},{"dtype":"f32","init":"normal(0.5)","kind":"param","name":"c1.p21","shape":[16,2,3],"sharding":null},{"dtype":"f32","init":"normal(0.5)","kind":"param","name":"c1.p23","shape":[3,4,8,5],"sharding":null},{"dtype":"f32","init":"normal(0.5)","kind":"param","name":"c1.p26","shape":[3],"sharding":null},{"dtype":"f32","init":"normal(0.5)","kind":"param","name":"c1.p28","shape":[4,8,1,5],"sharding":{"dims":[["y"],[],[],[]],"unreduced":[]}},{"dtype":"f32","init":"normal(1.0)","kind":"param","name":"s.p0","shape":[],"sharding":null}],"grads":true,"members":[1],"mesh":[["y",2]],"ops":[{"attrs":{"lhs_batch":[],"lhs_contracting":[1,0],"rhs_batch":[],"rhs_contracting":[1,0]},"dtype":"f32","kind":"dot_general","name":"c1.v3","operands":["c1.p1","c1.p2"],"shape":[3]},{"attrs":{"factor":0.125},"dtype":"f32","kind":"scale","name":"c1.v4","operands":["c1.p1"],"shape":[4,11,3]},{"attrs":{"sharding":{"dims":[[],[],["y"]],"unreduced":[]}},"dtype":"f32","kind":"sharding_constraint","name":"c1.v5","operands":["c1.v4"],"shape":[4,11,3]},{"attrs":{"causal":false},"dtype":"f32","kind":"attention","name":"c1.v10","operands":["c1.p8","c1.p9","c1.p8"],"shape":[16,2,3,3]},{"attrs":{},"dtype":"f32","kind":"reshape","name":"c1.v11","operands":["c1.v3"],"shape":[1,3]},{"attrs":{"lhs_batch":[],"lhs_contracting":[0,2],"rhs_batch":[],"rhs_contracting":[0,1]},"dtype":"f32","kind":"dot_general","name":"c1.v14","operands":["c1.v5","c1.p13"],"shape":[11]},{"attrs":{"lhs_batch":[],"lhs_contracting":[0],"rhs_batch":[],"rhs_contracting":[1]},"dtype":"f32","kind":"dot_general","name":"c1.v16","operands":["c1.v14","c1.p15"],"shape":[4,8,5]},{"attrs":{},"dtype":"f32","kind":"reshape","name":"c1.v17","operands":["s.p0"],"shape":[1]},{"attrs":{"lhs_batch":[],"lhs_contracting":[0],"rhs_batch":[],"rhs_contracting":[2]},"dtype":"f32","kind":"dot_general","name":"c1.v19","operands":["c1.v17","c1.p18"],"shape":[4,8,5]},{"attrs":{},"dtype":"f32","kind":"add","name":"c1.v20","operands":["c1.v16","c1.v19"],"shape":[4,8,5]},{"attrs":{"lhs_batch":[],"lhs_contracting":[0,1,3],"rhs_batch":[],"rhs_contracting":[0,1,2]},"dtype":"f32","kind":"dot_general","name":"c1.v22","operands":["c1.v10","c1.p21"],"shape":[3]},{"attrs":{"lhs_batch":[],"lhs_contracting":[0],"rhs_batch":[],"rhs_contracting":[0]},"dtype":"f32","kind":"dot_general","name":"c1.v24","operands":["c1.v22","c1.p23"],"shape":[4,8,5]},{"attrs":{},"dtype":"f32","kind":"add","name":"c1.v25","operands":["c1.v20","c1.v24"],"shape":[4,8,5]},{"attrs":{"lhs_batch":[],"lhs_contracting":[1],"rhs_batch":[],"rhs_contracting":[0]},"dtype":"f32","kind":"dot_general","name":"c1.v27","operands":["c1.v11","c1.p26"],"shape":[1]},{"attrs":{"lhs_batch":[],"lhs_contracting":[0],"rhs_batch":[],"rhs_contracting":[2]},"dtype":"f32","kind":"dot_general","name":"c1.v29","operands":["c1.v27","c1.p28"],"shape":[4,8,5]},{"attrs":{},"dtype":"f32","kind":"add","name":"c1.v30","operands":["c1.v25","c1.v29"],"shape":[4,8,5]},{"attrs":{},"dtype":"f32","kind":"embedding","name":"head.x","operands":["embedding","tokens"],"shape":[4,8,6]},{"attrs":{"lhs_batch":[],"lhs_contracting":[2],"rhs_batch":[],"rhs_contracting":[1]},"dtype":"f32","kind":"dot_general","name":"head.logits","operands":["head.x","embedding"],"shape":[4,8,5]},{"attrs":{},"dtype":"f32","kind":"add","name":"head.sum0","operands":["head.logits","c1.v30"],"shape":[4,8,5]},{"attrs":{},"dtype":"f32","kind":"cross_entropy","name":"loss","operands":["head.sum0","targets"],"shape":[]}],"results":[{"name":"loss","sharding":null,"value":"loss"}]}
palm.mesh @mesh(y = 2)
func.func @forward(
    %arg0: tensor<4x8xi32> {palm.name = "tokens"},
    %arg1: tensor<4x8xi32> {palm.name = "targets", palm.sharding = #palm.sharding<@mesh, [[], [y]]>},
    %arg2: tensor<5x6xf32> {palm.name = "embedding", palm.init = #palm.init<normal(1.0)>, palm.sharding = #palm.sharding<@mesh, [[y], []]>},
    %arg3: tensor<4x11x3xf32> {palm.name = "c1.p1", palm.init = #palm.init<normal(0.25)>},
    %arg4: tensor<4x11xf32> {palm.name = "c1.p2", palm.init = #palm.init<normal(1.0)>},
    %arg5: tensor<16x2x3x3xf32> {palm.name = "c1.p8", palm.init = #palm.init<normal(1.0)>, palm.sharding = #palm.sharding<@mesh, [[y], [], [], []]>},
    %arg6: tensor<16x2x3x3xf32> {palm.name = "c1.p9", palm.init = #palm.init<normal(0.25)>},
    %arg7: tensor<4x3xf32> {palm.name = "c1.p13", palm.init = #palm.init<normal(0.25)>, palm.sharding = #palm.sharding<@mesh, [[], []]>},
    %arg8: tensor<4x11x8x5xf32> {palm.name = "c1.p15", palm.init = #palm.init<normal(0.5)>, palm.sharding = #palm.sharding<@mesh, [[], [], [], []]>},
    %arg9: tensor<4x8x1x5xf32> {palm.name = "c1.p18", palm.init = #palm.init<normal(0.5)>},
    %arg10: tensor<16x2x3xf32> {palm.name = "c1.p21", palm.init = #palm.init<normal(0.5)>},
    %arg11: tensor<3x4x8x5xf32> {palm.name = "c1.p23", palm.init = #palm.init<normal(0.5)>},
    %arg12: tensor<3xf32> {palm.name = "c1.p26", palm.init = #palm.init<normal(0.5)>},
    %arg13: tensor<4x8x1x5xf32> {palm.name = "c1.p28", palm.init = #palm.init<normal(0.5)>, palm.sharding = #palm.sharding<@mesh, [[y], [], [], []]>},
    %arg14: tensor<f32> {palm.name = "s.p0", palm.init = #palm.init<normal(1.0)>})
    -> (tensor<f32> {palm.name = "loss"}) {
  %0 = palm.dot_general %arg3, %arg4, contracting_dims = [1, 0] x [1, 0] : (tensor<4x11x3xf32>, tensor<4x11xf32>) -> tensor<3xf32>
  %1 = palm.scale %arg3 {factor = 1.250000000e-01 : f32} : tensor<4x11x3xf32>
  %2 = palm.sharding_constraint %1 to <@mesh, [[], [], [y]]> : tensor<4x11x3xf32>
  %3 = palm.attention %arg5, %arg6, %arg5 : (tensor<16x2x3x3xf32>, tensor<16x2x3x3xf32>, tensor<16x2x3x3xf32>) -> tensor<16x2x3x3xf32>
  %4 = palm.reshape %0 : tensor<3xf32> -> tensor<1x3xf32>
  %5 = palm.dot_general %2, %arg7, contracting_dims = [0, 2] x [0, 1] : (tensor<4x11x3xf32>, tensor<4x3xf32>) -> tensor<11xf32>
  %6 = palm.dot_general %5, %arg8, contracting_dims = [0] x [1] : (tensor<11xf32>, tensor<4x11x8x5xf32>) -> tensor<4x8x5xf32>
  %7 = palm.reshape %arg14 : tensor<f32> -> tensor<1xf32>
  %8 = palm.dot_general %7, %arg9, contracting_dims = [0] x [2] : (tensor<1xf32>, tensor<4x8x1x5xf32>) -> tensor<4x8x5xf32>
  %9 = palm.add %6, %8 : tensor<4x8x5xf32>
  %10 = palm.dot_general %3, %arg10, contracting_dims = [0, 1, 3] x [0, 1, 2] : (tensor<16x2x3x3xf32>, tensor<16x2x3xf32>) -> tensor<3xf32>
  %11 = palm.dot_general %10, %arg11, contracting_dims = [0] x [0] : (tensor<3xf32>, tensor<3x4x8x5xf32>) -> tensor<4x8x5xf32>
  %12 = palm.add %9, %11 : tensor<4x8x5xf32>
  %13 = palm.dot_general %4, %arg12, contracting_dims = [1] x [0] : (tensor<1x3xf32>, tensor<3xf32>) -> tensor<1xf32>
  %14 = palm.dot_general %13, %arg13, contracting_dims = [0] x [2] : (tensor<1xf32>, tensor<4x8x1x5xf32>) -> tensor<4x8x5xf32>
  %15 = palm.add %12, %14 : tensor<4x8x5xf32>
  %16 = palm.embedding %arg2[%arg0] : (tensor<5x6xf32>, tensor<4x8xi32>) -> tensor<4x8x6xf32>
  %17 = palm.dot_general %16, %arg2, contracting_dims = [2] x [1] : (tensor<4x8x6xf32>, tensor<5x6xf32>) -> tensor<4x8x5xf32>
  %18 = palm.add %17, %15 : tensor<4x8x5xf32>
  %19 = palm.cross_entropy %18, %arg1 : (tensor<4x8x5xf32>, tensor<4x8xi32>) -> tensor<f32>
  return %19 : tensor<f32>
}
