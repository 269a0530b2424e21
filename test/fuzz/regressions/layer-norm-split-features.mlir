// Not found by the fuzzer: the split form of issue 11, kept with its cases.
// A layer norm whose input and result are split on the features (13 over
// y = 3: shards of 5, 5 and 3 real features): the split form (row moments,
// their all-gather, the parallel-variance merge) against 1 device and the
// f64 interpreter; then the same feeding a contraction over the features.
// REQUIRES: mpi, numpy
// RUN: %python %S/../palm_fuzz.py --bin %palm_obj_root/bin --work %t --replay %s --expect exact
// FUZZ-PROGRAM: {"args":[{"dtype":"f32","init":"normal(0.5)","kind":"param","name":"ln.x","shape":[6,13],"sharding":{"dims":[[],["y"]],"unreduced":[]}},{"dtype":"f32","init":"normal(1.0)","kind":"param","name":"ln.g","shape":[13],"sharding":null},{"dtype":"f32","init":"normal(0.5)","kind":"param","name":"ln.w","shape":[13,4],"sharding":{"dims":[["y"],[]],"unreduced":[]}}],"members":[0],"mesh":[["y",3]],"ops":[{"attrs":{},"dtype":"f32","kind":"layer_norm","name":"ln.n","operands":["ln.x","ln.g"],"shape":[6,13]},{"attrs":{"sharding":{"dims":[[],["y"]],"unreduced":[]}},"dtype":"f32","kind":"sharding_constraint","name":"ln.c","operands":["ln.n"],"shape":[6,13]},{"attrs":{"lhs_contracting":[1],"rhs_contracting":[0],"lhs_batch":[],"rhs_batch":[]},"dtype":"f32","kind":"dot_general","name":"ln.y","operands":["ln.c","ln.w"],"shape":[6,4]}],"results":[{"sharding":{"dims":[[],["y"]],"unreduced":[]},"value":"ln.c"},{"sharding":null,"value":"ln.y"}]}
palm.mesh @mesh(y = 3)
func.func @forward(
    %arg0: tensor<6x13xf32> {palm.name = "ln.x", palm.init = #palm.init<normal(0.5)>, palm.sharding = #palm.sharding<@mesh, [[], [y]]>},
    %arg1: tensor<13xf32> {palm.name = "ln.g", palm.init = #palm.init<normal(1.0)>},
    %arg2: tensor<13x4xf32> {palm.name = "ln.w", palm.init = #palm.init<normal(0.5)>, palm.sharding = #palm.sharding<@mesh, [[y], []]>})
    -> (tensor<6x13xf32> {palm.name = "ln.c.r0", palm.sharding = #palm.sharding<@mesh, [[], [y]]>},
        tensor<6x4xf32> {palm.name = "ln.y.r1"}) {
  %0 = palm.layer_norm %arg0, %arg1 : (tensor<6x13xf32>, tensor<13xf32>) -> tensor<6x13xf32>
  %1 = palm.sharding_constraint %0 to <@mesh, [[], [y]]> : tensor<6x13xf32>
  %2 = palm.dot_general %1, %arg2, contracting_dims = [1] x [0] : (tensor<6x13xf32>, tensor<13x4xf32>) -> tensor<6x4xf32>
  return %1, %2 : tensor<6x13xf32>, tensor<6x4xf32>
}
