//===- Passes.td - palm passes ------------------------------*- tablegen -*-===//

#ifndef PALM_DIALECT_PALM_TRANSFORMS_PASSES_TD
#define PALM_DIALECT_PALM_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def PalmPrintShardingRules : Pass<"palm-print-sharding-rules"> {
  let summary = "Reports the sharding rule of every op as a remark";
  let description = [{
    Emits, at each op that implements `ShardingRuleOpInterface`, a remark with
    its sharding rule in einsum notation: one letter per factor, the factor
    sizes, and the factors that are not parallel grouped by kind. For
    example, a `palm.dot_general` of `[4, 256, 512] x [512, 2048]` reports

    ```
    sharding rule: ([i, j, k], [k, l]) -> ([i, j, l]) {i=4, j=256, k=512, l=2048} reduction={k}
    ```

    Use it to see why propagation treats a dimension as it does. The IR is
    not changed.
  }];
}

def PalmStampForwardFlops
    : Pass<"palm-stamp-forward-flops", "::mlir::ModuleOp"> {
  let summary = "Records the model FLOPs of a forward step on the module";
  let description = [{
    Counts the model FLOPs of one forward step of a global-level module and
    stores them in the module attribute `palm.forward_flops` (an `i64`):
    `2 M N K` for every `palm.dot_general`, `4 b h s t d` for every
    `palm.attention` (all query/key pairs, causal or not) and `8 b h s t d`
    for every `palm.attention_grad`. That is the `2N + 4LHQT` per token of
    the PaLM paper's MFU (docs/model.md) for a forward, and `6N + 12LHQT`
    for a training step (its backward contractions are twice the
    forward's), without the LayerNorm scales.

    The count is taken on the global program, before partitioning, so every
    layout of a model gets the same number; the lowering copies it into the
    program description (`flops <n>`) and the runtime prints MFU from it.
    `palm-compile` runs this pass before `-palm-spmd-pipeline`. A module
    that is not at the global level is left unchanged: its logical shapes
    are gone.

    ```mlir
    module attributes {palm.forward_flops = 270336 : i64} { ... }
    ```
  }];
}

def PalmPropagateShardings
    : Pass<"palm-propagate-shardings", "::mlir::ModuleOp"> {
  let summary = "Gives every value a sharding, from a few annotations";
  let description = [{
    Starting from the shardings on function arguments and results, on
    `palm.sharding_constraint` ops and on any op that already carries
    `palm.shardings`, propagates shardings forward and backward through each
    op's sharding rule until nothing changes, then records one sharding per
    op result (`palm.shardings`) and one per function argument and result.

    For each op, every tensor with a known sharding proposes axes for the
    factors of its dimensions. Proposals are merged with one of them leading;
    a later proposal that conflicts (an axis already taken, or a different
    split of the same factor) is dropped, and the tensor it came from will be
    resharded by the partitioner. The leader is chosen by one deterministic
    rule:

    1. activations and inputs lead before parameters (arguments with
       `palm.init`, and values computed only from them): weights follow the
       activations and are all-gathered where they disagree, as in FSDP and
       PaLM's 2D layout;
    2. then the choice whose adoption moves the fewest bytes per device:
       the all-gathers of disagreeing tensors plus the reduction a split
       contraction leaves;
    3. then operand order.

    Factors of kind `replicated` never receive axes. Results of split
    reduction and masked-gather factors are unreduced (partial sums); `add`,
    `scale`, `transpose` and `reshape` keep the partial state their operands
    share, so two partial branch outputs are summed before one reduction.
    User annotations are never changed: a value annotated by the user keeps
    its sharding, and the partitioner inserts what it takes to meet it.
    Shardings only ever gain axes, so propagation terminates; its result
    depends only on the input, so the output is deterministic.

    Every op in a partitioned function must have a sharding rule, and a
    function's annotations must all name one mesh; otherwise the pass fails
    with a diagnostic at the op.
  }];
}

def PalmAutodiff : Pass<"palm-autodiff", "::mlir::ModuleOp"> {
  let summary = "Appends the loss's gradients to every function (reverse mode)";
  let description = [{
    Differentiates each function of a global-level module that has a loss:
    the result named `loss` (`palm.name`), or else its only 0-d f32 result.
    The parameters are the arguments that carry `palm.init`. The pass walks
    the function backwards from the loss and asks every op on the way for its
    reverse-mode rule (`DifferentiableOpInterface`), accumulating the
    cotangents of a value used several times with `palm.add` (a tied
    embedding's two uses sum). It then appends one result per parameter,
    its gradient, named `grad.<parameter name>` with `palm.grad_of` set to
    the parameter's argument number and the parameter's `palm.sharding`,
    so that a gradient is laid out like its parameter.

    The backward pass is ordinary palm IR: new values carry no sharding, so
    run `-palm-propagate-shardings` afterwards (shardings already recorded
    on the forward are kept). A training program's attentions return their
    row log-sum-exp as a second result, which the backward uses.

    ```mlir
    func.func @step(%x: tensor<8xf32>, %w: tensor<8xf32> {palm.init = ...})
        -> (tensor<f32> {palm.name = "loss"}, tensor<8xf32> {palm.name = "grad.w", palm.grad_of = 1 : i64})
    ```

    Errors: a function without a loss; an op on the path to the loss
    without a reverse-mode rule (named); a parameter the loss does not
    depend on (its gradient would be zero, which is almost always a
    mistake in the program); a loss not computed by `palm.cross_entropy`
    (the seed of the backward pass is that op's cotangent 1).

    Rematerialization (`remat`): `none` keeps every forward value the
    backward pass reads; `layers` is PaLM's policy: each Transformer layer's
    backward recomputes the layer's forward from its input (ops named
    `layers.<i>...`, as palm-gen names them; the recomputed copies are named
    `<name>.remat`), so only each layer's input lives from the forward to
    the backward pass. The values are identical either way.
  }];
  let options = [
    Option<"remat", "remat", "std::string", "\"none\"",
           "Rematerialization: none, or layers (PaLM's)">
  ];
}

def PalmAccumulateGradients
    : Pass<"palm-accumulate-gradients", "::mlir::ModuleOp"> {
  let summary = "Gradient accumulation: one step over several micro-batches";
  let description = [{
    Runs after `-palm-autodiff` (and before `-palm-optimizer`) on a
    global-level module. A differentiated function computes the loss and
    the gradients of one micro-batch; with `microbatches=M` it computes
    them for a step of `M` micro-batches instead: every input (an argument
    with neither `palm.init` nor `palm.role`, such as `tokens` and
    `targets`) becomes `M` arguments of the same type, marked
    `palm.microbatch = array<i64: i, M>` (the runtime fills micro-batch `i`
    with rows `i*n ... (i+1)*n - 1` of the step's batch, `n` the input's
    first dimension), and the body runs once per micro-batch, in order: the
    forward and backward of micro-batch `i` end before those of `i + 1`
    begin, so only one micro-batch's activations are live at a time. The
    loss and every gradient are the mean over the micro-batches (the sum of
    each micro-batch's value, accumulated right after it, times `1/M`),
    which for a loss that is a mean over equal micro-batches is the
    gradient of the whole batch's loss.

    The accumulation is ordinary palm IR (`palm.add`, `palm.scale`):
    partitioned, a gradient's partial sums stay partial through the
    accumulation and are reduced once per step, not once per micro-batch.

    Errors: a function whose results are not only its loss and gradients
    (a per-example result has no single meaning over micro-batches); a
    function without inputs; `microbatches` below 1.
    `microbatches=1` (the default) leaves the module unchanged.
  }];
  let options = [
    Option<"microbatches", "microbatches", "int64_t", "1",
           "Micro-batches per step (the loss and gradients are their mean)">
  ];
}

def PalmOptimizer : Pass<"palm-optimizer", "::mlir::ModuleOp"> {
  let summary = "Turns loss and gradients into the whole training step";
  let description = [{
    Runs after `-palm-autodiff` on a global-level module. For each function
    with gradient results (`palm.grad_of`), it adds the optimizer: the
    gradients' global norm (one `palm.sum_squares` per gradient, summed,
    its square root returned as `grad_norm`), the learning rate of the step
    (`palm.learning_rate`, returned as `lr`), and one update per parameter
    with the gradient clipped by the global norm:

    * `adafactor` (the default, PaLM's): unfactored Adafactor with momentum,
      update clipping at RMS `clipping-threshold`, parameter scaling by
      `max(1e-3, RMS(W))`, `beta2 = 1 - k^-0.8` and weight decay `lr^2`
      (`palm.adafactor_moments`, `palm.adafactor_apply`), as optax's
      `adafactor(factored=False, multiply_by_parameter_scale=True,
      clipping_threshold=1, momentum=0.9, weight_decay_rate=lr^2,
      decay_rate=0.8, eps=1e-30)`;
    * `adamw`: optax's `adamw` (`palm.adamw_apply`).

    The function gains, after its arguments, two optimizer-state arguments
    per parameter (`opt.v.<name>` and `opt.m.<name>`, `palm.role =
    "state"`, sharded like the parameter, zero at the start) and the step
    number `step` (0-d f32, `palm.role = "step"`, 1-based). Its gradient
    results are replaced by the updated parameters and state, each marked
    `palm.aliases` with the argument it replaces, so the runtime updates
    them in place, followed by `grad_norm` and `lr`.

    Schedules: `inverse-sqrt` (PaLM's `lr = peak / sqrt(max(k, warmup))`,
    peak 1, warmup 10000) and `warmup-cosine` (linear warmup to `peak-lr`,
    cosine decay to `final-lr` at `total-steps`).
  }];
  let options = [
    Option<"optimizer", "optimizer", "std::string", "\"adafactor\"",
           "adafactor (PaLM's) or adamw">,
    Option<"schedule", "schedule", "std::string", "\"inverse-sqrt\"",
           "Learning-rate schedule: inverse-sqrt or warmup-cosine">,
    Option<"peakLr", "peak-lr", "double", "1.0",
           "Peak learning rate (inverse-sqrt: lr = peak / sqrt(max(k, warmup)))">,
    Option<"warmupSteps", "warmup-steps", "int64_t", "10000",
           "Warmup steps of the schedule">,
    Option<"totalSteps", "total-steps", "int64_t", "0",
           "warmup-cosine: the step where the decay ends">,
    Option<"finalLr", "final-lr", "double", "0.0",
           "warmup-cosine: the learning rate after the decay">,
    Option<"maxNorm", "max-norm", "double", "1.0",
           "Global-norm gradient clipping threshold">,
    Option<"weightDecay", "weight-decay", "double", "-1.0",
           "Weight decay (adafactor: times lr^2, default 1; adamw: default 0.1)">,
    Option<"beta1", "beta1", "double", "0.9", "Momentum / first-moment decay">,
    Option<"beta2", "beta2", "double", "0.95", "adamw: second-moment decay">,
    Option<"epsilon", "epsilon", "double", "-1.0",
           "adafactor: 1e-30 (added to g^2); adamw: 1e-8 (default)">
  ];
}

def PalmSpmdPartition : Pass<"palm-spmd-partition", "::mlir::ModuleOp"> {
  let summary = "Turns the global program into one per-device (SPMD) program";
  let description = [{
    Needs every value annotated (run `-palm-propagate-shardings` first).
    Each op computes on its local shards according to its sharding rule;
    between a producer's sharding and what a consumer needs, the pass
    inserts the cheapest collectives:

    * a pending partial sum is reduced where a consumer needs the full
      value: with a reduce-scatter when the consumer wants the result split
      over the same axes, otherwise an all-reduce. `add` of two partial sums
      stays partial;
    * an axis moving between dimensions is an all-to-all;
    * axes leaving a dimension are all-gathered, axes arriving are sliced
      locally (`palm.all_slice`).

    Uneven dimensions are padded to `ceil(size / shards)` per device and
    stay exact: where shards of different splits do not nest, a dimension is
    gathered whole and its padding dropped (`tensor.extract_slice`) before it
    is split again; a contraction over a padded split masks the padding
    (`palm.mask_padding`) unless a function argument, zero-padded by
    contract, is on one side. A split embedding table becomes a masked local
    lookup (partial sum); a cross-entropy over a split vocabulary becomes
    `palm.softmax_max`, `palm.softmax_sums` and `palm.cross_entropy_loss`
    with two token-sized all-reduces, never moving the logits.

    Function signatures become local; every argument and result keeps its
    `palm.sharding` and gains `palm.global_type`, so the runtime knows what
    each device holds. The module is marked `palm.level = #palm.level<local>`.

    With `explain`, every inserted collective gets a remark naming the
    consumer, the producer and the two shardings that forced it.
  }];
  let options = [
    Option<"explain", "explain", "bool", /*default=*/"false",
           "Attach a remark to every inserted collective saying why">
  ];
  // palm itself: an input without palm ops has not loaded the dialect
  // whose attributes the pass writes.
  let dependentDialects = ["::mlir::palm::PalmDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::arith::ArithDialect"];
}

def PalmOptimizeCollectives
    : Pass<"palm-optimize-collectives", "::mlir::ModuleOp"> {
  let summary = "Fewer and cheaper collectives in a local-level program";
  let description = [{
    Rewrites that keep every value and move fewer bytes, applied until none
    applies:

    * `all_reduce` whose only use is an `all_slice` over the same axes
      becomes a `reduce_scatter` (half the bytes);
    * `all_slice` of an `all_gather` over the same axes and dimension is the
      gather's operand; so is an `all_gather` of an evenly divisible
      `all_slice`;
    * identical collectives of one value (the embedding table gathered for
      the lookup and again for the logits) become one;
    * all-reduces of at most `combine-threshold` bytes over the same axes
      with the same reduction and element type run as one all-reduce of
      their concatenation, when each one's operand is ready and no result is
      used before the last of them.
  }];
  let options = [
    Option<"combineThreshold", "combine-threshold", "int64_t",
           /*default=*/"65536",
           "Largest all-reduce, in bytes per device, that may be combined "
           "with others (0 disables combining)">
  ];
  let dependentDialects = ["::mlir::palm::PalmDialect",
                           "::mlir::tensor::TensorDialect"];
}

def PalmCollectiveReport
    : Pass<"palm-collective-report", "::mlir::ModuleOp"> {
  let summary = "Prints the collectives of a local program: counts and bytes";
  let description = [{
    For each function, prints per collective kind and set of mesh axes the
    number of collectives and the bytes each device sends, in total and per
    Transformer layer (an op belongs to layer `i` when its location is named
    `layers.<i>...`, as `palm-gen` names them). Text by default,
    `format=json` for JSON; output goes to stdout and the IR is unchanged.

    Bytes per device follow the ring algorithms of NCCL and MPI for large
    messages, with `n` the group size: all-gather `(n-1)/n` of the result;
    reduce-scatter and all-to-all `(n-1)/n` of the input; all-reduce twice
    `(n-1)/n` of the input; collective-permute the input; all-slice nothing.
    See `docs/collectives.md`.
  }];
  let options = [
    Option<"format", "format", "std::string", /*default=*/"\"text\"",
           "Output format: text or json">,
    Option<"perLayer", "per-layer", "bool", /*default=*/"true",
           "Also print the table of each layer (text format)">
  ];
}

#endif // PALM_DIALECT_PALM_TRANSFORMS_PASSES_TD
