// One case per verifier rule of the palm attributes and of where they may
// be attached.
// RUN: palm-opt %s -split-input-file -verify-diagnostics

palm.mesh @mesh(data = 2, model = 2)
// expected-error@+1 {{mesh axis 'data' appears twice in one dimension}}
func.func @axis_twice_in_dim(%a: tensor<8xf32> {palm.sharding = #palm.sharding<@mesh, [[data, data]]>}) {
  return
}

// -----

palm.mesh @mesh(data = 2, model = 2)
// expected-error@+1 {{mesh axis names must be non-empty}}
func.func @empty_axis_name(%a: tensor<8xf32> {palm.sharding = #palm.sharding<@mesh, [[""]]>}) {
  return
}

// -----

palm.mesh @mesh(data = 2, model = 2)
// expected-error@+1 {{mesh axis 'data' shards more than one dimension}}
func.func @axis_in_two_dims(%a: tensor<8x8xf32> {palm.sharding = #palm.sharding<@mesh, [[data], [data]]>}) {
  return
}

// -----

palm.mesh @mesh(data = 2, model = 2)
// expected-error@+1 {{mesh axis 'model' is unreduced and also shards a dimension}}
func.func @unreduced_and_sharded(%a: tensor<8xf32> {palm.sharding = #palm.sharding<@mesh, [[model]], unreduced = [model: sum]>}) {
  return
}

// -----

palm.mesh @mesh(data = 2, model = 2)
// expected-error@+1 {{mesh axis 'model' is unreduced and also unreduced twice}}
func.func @unreduced_twice(%a: tensor<8xf32> {palm.sharding = #palm.sharding<@mesh, [[]], unreduced = [model: sum, model: max]>}) {
  return
}

// -----

palm.mesh @mesh(data = 2, model = 2)
// expected-error@+1 {{expected reduction kind 'sum' or 'max', got 'min'}}
func.func @bad_reduction_kind(%a: tensor<8xf32> {palm.sharding = #palm.sharding<@mesh, [[]], unreduced = [model: min]>}) {
  return
}

// -----

palm.mesh @mesh(data = 2, model = 2)
// expected-error@+1 {{has 1 dimensions, but 'tensor<8x8xf32>' has rank 2}}
func.func @rank_mismatch(%a: tensor<8x8xf32> {palm.sharding = #palm.sharding<@mesh, [[data]]>}) {
  return
}

// -----

palm.mesh @mesh(data = 2, model = 2)
// expected-error@+1 {{needs a ranked tensor, but the type is 'f32'}}
func.func @not_a_tensor(%a: f32 {palm.sharding = #palm.sharding<@mesh, []>}) {
  return
}

// -----

// expected-error@+1 {{names @nowhere, which is not a palm.mesh in scope}}
func.func @unknown_mesh(%a: tensor<8xf32> {palm.sharding = #palm.sharding<@nowhere, [[data]]>}) {
  return
}

// -----

func.func private @not_a_mesh()
// expected-error@+1 {{names @not_a_mesh, which is not a palm.mesh in scope}}
func.func @symbol_not_a_mesh(%a: tensor<8xf32> {palm.sharding = #palm.sharding<@not_a_mesh, [[]]>}) {
  return
}

// -----

palm.mesh @mesh(data = 2, model = 2)
// expected-error@+1 {{uses axis 'pipe', which mesh @mesh does not have}}
func.func @unknown_axis(%a: tensor<8xf32> {palm.sharding = #palm.sharding<@mesh, [[pipe]]>}) {
  return
}

// -----

palm.mesh @mesh(data = 2, model = 2)
// expected-error@+1 {{uses axis 'pipe', which mesh @mesh does not have}}
func.func @unknown_unreduced_axis(%a: tensor<8xf32> {palm.sharding = #palm.sharding<@mesh, [[]], unreduced = [pipe: sum]>}) {
  return
}

// -----

palm.mesh @mesh(data = 2, model = 2)
// expected-error@+1 {{uses axis 'pipe', which mesh @mesh does not have}}
func.func @unknown_axis_on_result(%a: tensor<8xf32>) -> (tensor<8xf32> {palm.sharding = #palm.sharding<@mesh, [[pipe]]>}) {
  return %a : tensor<8xf32>
}

// -----

// expected-error@+1 {{'palm.sharding' on argument #0 must be a #palm.sharding}}
func.func @sharding_wrong_kind(%a: tensor<8xf32> {palm.sharding = 3 : i64}) {
  return
}

// -----

// expected-error@+1 {{unknown palm attribute 'palm.weird' on argument #0}}
func.func @unknown_arg_attr(%a: tensor<8xf32> {palm.weird = 1 : i64}) {
  return
}

// -----

// expected-error@+1 {{unknown palm attribute 'palm.init' on result #0}}
func.func @init_on_result(%a: tensor<8xf32>) -> (tensor<8xf32> {palm.init = #palm.init<ones>}) {
  return %a : tensor<8xf32>
}

// -----

// expected-error@+1 {{'palm.name' on argument #0 must be a non-empty string}}
func.func @empty_name(%a: tensor<8xf32> {palm.name = ""}) {
  return
}

// -----

// expected-error@+1 {{'palm.init' on argument #0 must be a #palm.init}}
func.func @init_wrong_kind(%a: tensor<8xf32> {palm.init = 1.0 : f32}) {
  return
}

// -----

// expected-error@+1 {{normal(stddev) needs a positive, finite stddev}}
func.func @normal_without_stddev(%a: tensor<8xf32> {palm.init = #palm.init<normal>}) {
  return
}

// -----

// expected-error@+1 {{normal(stddev) needs a positive, finite stddev}}
func.func @normal_negative(%a: tensor<8xf32> {palm.init = #palm.init<normal(-1.0)>}) {
  return
}

// -----

// expected-error@+1 {{'ones' takes no stddev}}
func.func @ones_with_stddev(%a: tensor<8xf32> {palm.init = #palm.init<ones(1.0)>}) {
  return
}

// -----

// expected-error@+1 {{expected 'normal', 'ones' or 'zeros', got 'uniform'}}
func.func @unknown_init(%a: tensor<8xf32> {palm.init = #palm.init<uniform>}) {
  return
}

// -----

// expected-error@+1 {{'palm.level' belongs on a module}}
func.func @level_on_func() attributes {palm.level = #palm.level<local>} {
  return
}

// -----

// expected-error@+1 {{'palm.level' must be a #palm.level}}
module attributes {palm.level = "local"} {
}

// -----

func.func @shardings_not_array(%x: tensor<8xf32>) {
  // expected-error@+1 {{'palm.shardings' must be an array of #palm.sharding}}
  %0 = palm.silu %x {palm.shardings = 1 : i64} : tensor<8xf32>
  return
}

// -----

palm.mesh @mesh(data = 2, model = 2)
func.func @shardings_count(%x: tensor<8xf32>) {
  // expected-error@+1 {{'palm.shardings' has 2 shardings for 1 results}}
  %0 = palm.silu %x {palm.shardings = [#palm.sharding<@mesh, [[]]>, #palm.sharding<@mesh, [[]]>]} : tensor<8xf32>
  return
}

// -----

func.func @shardings_entry_kind(%x: tensor<8xf32>) {
  // expected-error@+1 {{'palm.shardings' entry #0 must be a #palm.sharding}}
  %0 = palm.silu %x {palm.shardings = [1 : i64]} : tensor<8xf32>
  return
}

// -----

palm.mesh @mesh(data = 2, model = 2)
func.func @shardings_entry_invalid(%x: tensor<8xf32>) {
  // expected-error@+1 {{sharding #palm.sharding<@mesh, [[data], []]> on result #0 has 2 dimensions, but 'tensor<8xf32>' has rank 1}}
  %0 = palm.silu %x {palm.shardings = [#palm.sharding<@mesh, [[data], []]>]} : tensor<8xf32>
  return
}

// -----

palm.mesh @mesh(data = 2, model = 2)
func.func @sharding_on_op(%x: tensor<8xf32>) {
  // expected-error@+1 {{'palm.sharding' belongs on function arguments and results; use 'palm.shardings' on an op}}
  %0 = palm.silu %x {palm.sharding = #palm.sharding<@mesh, [[]]>} : tensor<8xf32>
  return
}

// -----

func.func @unknown_op_attr(%x: tensor<8xf32>) {
  // expected-error@+1 {{unknown palm attribute 'palm.color'}}
  %0 = palm.silu %x {palm.color = 1 : i64} : tensor<8xf32>
  return
}

// -----

func.func @forward_flops_on_op(%x: tensor<8xf32>) {
  // expected-error@+1 {{'palm.forward_flops' belongs on a module}}
  %0 = palm.silu %x {palm.forward_flops = 16 : i64} : tensor<8xf32>
  return
}

// -----

// expected-error@+1 {{'palm.forward_flops' must be a non-negative i64 (FLOPs)}}
module attributes {palm.forward_flops = -1 : i64} {
}

// -----

// expected-error@+1 {{'palm.forward_flops' must be a non-negative i64 (FLOPs)}}
module attributes {palm.forward_flops = 1.5 : f32} {
}

// -----

// An argument cannot arrive as a partial sum: the runtime splits whole
// values into shards (this sharding was accepted before).
palm.mesh @mesh(data = 2, model = 4)
// expected-error@+1 {{sharding #palm.sharding<@mesh, [[], [model]], unreduced = [data: sum]> on argument #0 has unreduced axes, but an argument is a whole value that the runtime splits into shards; it cannot be a partial one}}
func.func @unreduced_argument(%b: tensor<8x4xf32> {palm.sharding = #palm.sharding<@mesh, [[], [model]], unreduced = [data: sum]>}) {
  return
}

// -----

palm.mesh @mesh(data = 2, model = 4)
// expected-error@+1 {{on argument #1 has unreduced axes}}
func.func @unreduced_max_argument(%a: tensor<8x4xf32>, %c: tensor<8x4xf32> {palm.sharding = #palm.sharding<@mesh, [[], []], unreduced = [model: max, data: sum]>}) {
  return
}

// -----

// Integers (token ids, targets) are never partial.
palm.mesh @mesh(data = 2)
// expected-error@+1 {{sharding #palm.sharding<@mesh, [[]], unreduced = [data: sum]> on result #0 has unreduced axes, but 'tensor<8xi32>' holds integers, which are never partial sums or maxima}}
func.func @unreduced_integers(%a: tensor<8xi32>) -> (tensor<8xi32> {palm.sharding = #palm.sharding<@mesh, [[]], unreduced = [data: sum]>}) {
  return %a : tensor<8xi32>
}

// -----

palm.mesh @mesh(data = 2)
func.func @unreduced_integer_op(%a: tensor<8xi32>) -> tensor<8xi32> {
  // expected-error@+1 {{has unreduced axes, but 'tensor<8xi32>' holds integers}}
  %0 = palm.sharding_constraint %a to <@mesh, [[]], unreduced = [data: max]> : tensor<8xi32>
  return %0 : tensor<8xi32>
}

// -----

// expected-error@+1 {{'palm.role' on argument #0 must be "state" or "step"}}
func.func @bad_role(%a: tensor<8xf32> {palm.role = "momentum"}) {
  return
}

// -----

func.func @microbatch_on_an_op(%a: tensor<8xf32>) -> tensor<8xf32> {
  // expected-error@+1 {{'palm.microbatch' on an op must be a non-negative i64 (the micro-batch it computes)}}
  %b = palm.silu %a {palm.microbatch = -1 : i64} : tensor<8xf32>
  return %b : tensor<8xf32>
}

// -----

func.func @remat_not_unit(%a: tensor<8xf32>) -> tensor<8xf32> {
  // expected-error@+1 {{'palm.remat' must be a unit attribute}}
  %b = palm.silu %a {palm.remat = 1 : i64} : tensor<8xf32>
  return %b : tensor<8xf32>
}

// -----

// expected-error@+1 {{'palm.microbatch' on argument #0 must be [index, count] with 0 <= index < count}}
func.func @bad_microbatch(%a: tensor<8xi32> {palm.microbatch = array<i64: 2, 2>}) {
  return
}

// -----

// expected-error@+1 {{'palm.microbatch' on argument #0 must be [index, count] with 0 <= index < count}}
func.func @microbatch_not_a_pair(%a: tensor<8xi32> {palm.microbatch = array<i64: 0>}) {
  return
}

// -----

// expected-error@+1 {{'palm.microbatch' on argument #0 belongs to an input, not a parameter or optimizer state}}
func.func @microbatch_of_a_parameter(%a: tensor<8xf32> {palm.init = #palm.init<ones>, palm.microbatch = array<i64: 0, 2>}) {
  return
}

// -----

// expected-error@+1 {{'palm.grad_of' on result #0 must be the number of an argument}}
func.func @grad_of_missing(%a: tensor<8xf32>) -> (tensor<8xf32> {palm.grad_of = 3 : i64}) {
  return %a : tensor<8xf32>
}

// -----

// expected-error@+1 {{'palm.aliases' on result #0 names argument #0 of type 'tensor<4xf32>', not the result's 'tensor<8xf32>'}}
func.func @aliases_type(%a: tensor<4xf32>, %b: tensor<8xf32>) -> (tensor<8xf32> {palm.aliases = 0 : i64}) {
  return %b : tensor<8xf32>
}
