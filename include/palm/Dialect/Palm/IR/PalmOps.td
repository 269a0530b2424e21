//===- PalmOps.td - palm operations -------------------------*- tablegen -*-===//

#ifndef PALM_DIALECT_PALM_IR_PALMOPS_TD
#define PALM_DIALECT_PALM_IR_PALMOPS_TD

include "palm/Dialect/Palm/IR/PalmBase.td"
include "palm/Dialect/Palm/IR/PalmAttrs.td"
include "palm/Dialect/Palm/IR/PalmInterfaces.td"
include "mlir/IR/BuiltinAttributes.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

class Palm_Op<string mnemonic, list<Trait> traits = []>
    : Op<Palm_Dialect, mnemonic, traits>;

def Palm_FloatTensor : StaticShapeTensorOf<[F32, BF16, F16]>;
def Palm_Tensor : StaticShapeTensorOf<[AnyType]>;
def Palm_IndexTensor : StaticShapeTensorOf<[I32, I64]>;

/// A tensor op of the global level: pure, with a sharding rule.
class Palm_TensorOp<string mnemonic, list<Trait> traits = []>
    : Palm_Op<mnemonic, !listconcat(traits, [Pure,
        DeclareOpInterfaceMethods<Palm_ShardingRuleOpInterface>])>;

/// A tensor op with a reverse-mode rule (lib/Dialect/Palm/IR/OpVjps.cpp).
class Palm_DiffTensorOp<string mnemonic, list<Trait> traits = []>
    : Palm_TensorOp<mnemonic, !listconcat(traits, [
        DeclareOpInterfaceMethods<Palm_DifferentiableOpInterface,
                                  ["buildVjp"]>])>;

//===----------------------------------------------------------------------===//
// Mesh and annotations
//===----------------------------------------------------------------------===//

def Palm_MeshOp : Palm_Op<"mesh", [Symbol, HasParent<"::mlir::ModuleOp">]> {
  let summary = "a named device mesh with named axes";
  let description = [{
    Declares a logical device mesh: an ordered list of named axes with their
    sizes. Devices (ranks) map to mesh coordinates row-major: the last axis
    varies fastest, so on `data=4, model=2` rank `r` sits at
    `(r / 2, r % 2)`. Compiler and runtime share this mapping
    (`runtime/include/palmrt/mesh.h`).

    ```mlir
    palm.mesh @mesh(data = 4, model = 2)
    ```

    Constraints:
    * at least one axis;
    * axis names are identifiers (letters, digits, `_`, `$`, `.`, `-`, not
      starting with a digit) and unique;
    * every size is at least 1 and the device count fits in 63 bits.
  }];
  let arguments = (ins
    SymbolNameAttr:$sym_name,
    StrArrayAttr:$axis_names,
    DenseI64ArrayAttr:$shape
  );
  let hasCustomAssemblyFormat = 1;
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// Number of devices: the product of the axis sizes.
    int64_t getNumDevices();
    /// Position of axis `name`, or std::nullopt.
    std::optional<unsigned> getAxisIndex(::llvm::StringRef name);
    /// Size of axis `name`; the axis must exist.
    int64_t getAxisSize(::llvm::StringRef name);
  }];
}

def Palm_ShardingConstraintOp : Palm_DiffTensorOp<"sharding_constraint", [
    SameOperandsAndResultType,
    DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "pins the sharding of a value";
  let description = [{
    Returns its operand unchanged and states that the value must have the
    given sharding at this point. Propagation treats it as a user
    annotation, which always wins over propagated shardings; partitioning
    inserts whatever collectives reach it. Global level only.

    ```mlir
    %y = palm.sharding_constraint %x to #palm.sharding<@mesh, [[data], [], []]>
        : tensor<8x128x512xf32>
    ```

    Constraints:
    * the sharding verifies against the operand type (mesh, axes, rank);
    * the op is in a global-level module.
  }];
  let arguments = (ins Palm_Tensor:$input, Palm_ShardingAttr:$sharding);
  let results = (outs Palm_Tensor:$result);
  let assemblyFormat = "$input `to` $sharding attr-dict `:` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Transformer ops (global level; also used, with local shapes, after
// partitioning)
//===----------------------------------------------------------------------===//

def Palm_EmbeddingOp : Palm_DiffTensorOp<"embedding"> {
  let summary = "rows of an embedding table selected by token ids";
  let description = [{
    `result[i..., :] = table[ids[i...], :]` for a table `[vocab, d_model]`
    and ids of any rank. Ids outside `[0, vocab)` are an error of the input
    data (the CPU runtime reports it).

    Sharding rule: ids dimensions and `d_model` are parallel; `vocab` is a
    *masked gather*: with the table's rows split, each device looks up the
    ids that fall in its rows, writes zeros for the others, and the result is
    a partial sum over the vocab axes.

    At the local level, `vocab_shard` says the table holds one shard of the
    rows: ids outside this device's rows give zeros.

    ```mlir
    %x = palm.embedding %table[%ids]
        : (tensor<8192x512xf32>, tensor<4x256xi32>) -> tensor<4x256x512xf32>
    ```

    Constraints: the table has rank 2; the result is `ids.shape + [d_model]`
    with the table's element type; `vocab_shard` only at the local level.
  }];
  let arguments = (ins Palm_FloatTensor:$table, Palm_IndexTensor:$ids,
                       OptionalAttr<Palm_DimShardAttr>:$vocab_shard);
  let results = (outs Palm_FloatTensor:$result);
  let builders = [
    // Infers the result type from the operands.
    OpBuilder<(ins "::mlir::Value":$table, "::mlir::Value":$ids)>
  ];
  let hasVerifier = 1;
  let assemblyFormat = [{
    $table `[` $ids `]` attr-dict `:` functional-type(operands, results)
  }];
}

def Palm_LayerNormOp : Palm_DiffTensorOp<"layer_norm", [AllTypesMatch<["input", "result"]>]> {
  let summary = "layer normalization over the last dimension, scale only";
  let description = [{
    `y = (x - mean(x)) / sqrt(var(x) + epsilon) * scale`, with the mean and
    the (biased) variance over the last dimension, computed in f32. There is
    no bias (PaLM uses none).

    Sharding rule: leading dimensions parallel; the normalized dimension (in
    `input`, `scale` and the result) is a row-statistics factor: split only
    where the input already is, as `palm.row_moments`, an `all_gather` of
    the moments and `palm.layer_norm_merged`; otherwise computed whole.

    ```mlir
    %y = palm.layer_norm %x, %scale {epsilon = 1.0e-06 : f32}
        : (tensor<4x256x512xf32>, tensor<512xf32>) -> tensor<4x256x512xf32>
    ```

    Constraints: `scale` is rank 1 with the size of the input's last
    dimension and the same element type; `epsilon > 0`.
  }];
  let arguments = (ins Palm_FloatTensor:$input, Palm_FloatTensor:$scale,
                       DefaultValuedAttr<F32Attr, "1.0e-6">:$epsilon);
  let results = (outs Palm_FloatTensor:$result);
  let builders = [
    OpBuilder<(ins "::mlir::Value":$input, "::mlir::Value":$scale,
                   CArg<"float", "1.0e-6f">:$epsilon), [{
      build($_builder, $_state, input.getType(), input, scale,
            $_builder.getF32FloatAttr(epsilon));
    }]>
  ];
  let assemblyFormat = [{
    $input `,` $scale attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Palm_DotGeneralOp : Palm_DiffTensorOp<"dot_general"> {
  let summary = "tensor contraction with batch and contracting dimensions";
  let description = [{
    Contracts `lhs` and `rhs` over the paired contracting dimensions, with
    the paired batch dimensions in common. Result dimensions, in order: the
    batch dimensions (in `lhs` order), the remaining `lhs` dimensions, the
    remaining `rhs` dimensions. Accumulation is in f32.

    Weights keep their logical structure, so a query projection is
    `[b, s, d] x [d, heads, head_dim] -> [b, s, heads, head_dim]`.

    Sharding rule: batch and free dimensions are parallel; contracting
    dimensions are reductions (splitting one leaves a partial sum).

    ```mlir
    %q = palm.dot_general %x, %wq, contracting_dims = [2] x [0]
        : (tensor<4x256x512xf32>, tensor<512x8x64xf32>) -> tensor<4x256x8x64xf32>
    %s = palm.dot_general %a, %b, contracting_dims = [2] x [1],
        batch_dims = [0] x [0]
        : (tensor<4x16x32xf32>, tensor<4x32x8xf32>) -> tensor<4x16x8xf32>
    ```

    Constraints: each dimension list is in range and free of repeats; a
    dimension is not both batch and contracting; paired dimension lists have
    equal lengths and paired dimensions equal sizes; operands share an
    element type.
  }];
  let arguments = (ins Palm_FloatTensor:$lhs, Palm_FloatTensor:$rhs,
      DenseI64ArrayAttr:$lhs_contracting_dims,
      DenseI64ArrayAttr:$rhs_contracting_dims,
      DefaultValuedAttr<DenseI64ArrayAttr, "{}">:$lhs_batch_dims,
      DefaultValuedAttr<DenseI64ArrayAttr, "{}">:$rhs_batch_dims);
  let results = (outs Palm_FloatTensor:$result);
  let builders = [
    // Infers the result type from the operands and dimensions.
    OpBuilder<(ins "::mlir::Value":$lhs, "::mlir::Value":$rhs,
                   "::llvm::ArrayRef<int64_t>":$lhs_contracting_dims,
                   "::llvm::ArrayRef<int64_t>":$rhs_contracting_dims,
                   CArg<"::llvm::ArrayRef<int64_t>", "{}">:$lhs_batch_dims,
                   CArg<"::llvm::ArrayRef<int64_t>", "{}">:$rhs_batch_dims)>
  ];
  let hasVerifier = 1;
  let assemblyFormat = [{
    $lhs `,` $rhs `,` `contracting_dims` `=` $lhs_contracting_dims `x`
    $rhs_contracting_dims (`,` `batch_dims` `=` $lhs_batch_dims^ `x`
    $rhs_batch_dims)? attr-dict `:` functional-type(operands, results)
  }];
}

def Palm_RopeOp : Palm_DiffTensorOp<"rope", [SameOperandsAndResultType]> {
  let summary = "rotary position embedding (rotate-half pairing)";
  let description = [{
    Rotates `x : [batch, seq, heads, head_dim]` by position: dimension `i`
    (for `i < head_dim/2`) pairs with `j = i + head_dim/2`, with angle
    `a = p * base^(-2i/head_dim)` at position `p` (positions `0 .. seq-1`):
    `y[i] = x[i] cos(a) - x[j] sin(a)` and `y[j] = x[j] cos(a) + x[i] sin(a)`.

    Sharding rule: batch and heads parallel; seq positional (a shard
    rotates by its global positions); head_dim (pairs span both halves)
    replicated.

    With `inverse` the rotation is by `-a`: the inverse of the rotation,
    which is also its transpose, so it maps a cotangent `dy` to `dx`.

    At the local level, `seq_shard` says the sequence is one shard of the
    global sequence, so that local position `p` is global position
    `offset + p`.

    ```mlir
    %qr = palm.rope %q {base = 1.0e+04 : f32} : tensor<4x256x8x64xf32>
    ```

    Constraints: rank 4; even head_dim; `base > 0`; `seq_shard` only at the
    local level.
  }];
  let arguments = (ins Palm_FloatTensor:$input,
                       DefaultValuedAttr<F32Attr, "10000.0">:$base,
                       UnitAttr:$inverse,
                       OptionalAttr<Palm_DimShardAttr>:$seq_shard);
  let results = (outs Palm_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Palm_AttentionOp : Palm_TensorOp<"attention", [
    DeclareOpInterfaceMethods<Palm_DifferentiableOpInterface,
                              ["prepareForVjp", "buildVjp"]>]> {
  let summary = "scaled dot-product attention with grouped key/value heads";
  let description = [{
    `q : [b, s, h, k]`, `key : [b, t, g, k]`, `value : [b, t, g, kv]` give
    `[b, s, h, kv]`. Query head `i` attends with key/value head
    `i / (h / g)`: `g = 1` is multi-query attention (PaLM), `g = h`
    multi-head, anything between grouped-query. Scores are scaled by `scale`
    (default `1/sqrt(k)`), masked causally when `causal` is set, and the
    softmax is computed in f32.

    Sharding rule: batch and query heads parallel, value head_dim parallel;
    query seq positional (a shard masks causally at its global positions);
    key/value heads grouped by the query heads (split with them when both
    head counts divide evenly over the same axes); key seq and the q/k
    head_dim replicated.

    A second result `lse : [b, s, h]` (f32), when present, holds each query
    row's log-sum-exp of its scaled, masked scores: a training program's
    forward keeps it for `palm.attention_grad`, which recomputes the
    probabilities from it instead of storing them.

    At the local level, `heads_shard` says the query heads are one shard of
    the global heads, so that head `i` of the shard uses the key/value head
    of global head `offset + i`; `kv_heads_shard` says the key/value heads
    are one shard of the global ones (local head `j` is global head
    `offset + j`); `seq_shard` says the queries are one shard of the global
    sequence (local query `p` is at global position `offset + p`).

    ```mlir
    %o = palm.attention %q, %k, %v {causal}
        : (tensor<4x256x8x64xf32>, tensor<4x256x1x64xf32>,
           tensor<4x256x1x64xf32>) -> tensor<4x256x8x64xf32>
    ```

    Constraints: all rank 4 with one element type; equal batch; key and
    value agree on seq and heads; `h` divisible by `g` (the global counts
    where shards say them); q and key head_dim equal; causal attention
    needs `s == t` (the global query length where `seq_shard` gives it);
    `scale > 0` when given; `lse` is f32 `[b, s, h]`; the shard attributes
    only at the local level.
  }];
  let arguments = (ins Palm_FloatTensor:$query, Palm_FloatTensor:$key,
                       Palm_FloatTensor:$value, UnitAttr:$causal,
                       OptionalAttr<F32Attr>:$scale,
                       OptionalAttr<Palm_DimShardAttr>:$heads_shard,
                       OptionalAttr<Palm_DimShardAttr>:$kv_heads_shard,
                       OptionalAttr<Palm_DimShardAttr>:$seq_shard);
  let results = (outs Palm_FloatTensor:$result,
                      Optional<StaticShapeTensorOf<[F32]>>:$lse);
  let builders = [
    // Infers the result type from the operands.
    OpBuilder<(ins "::mlir::Value":$query, "::mlir::Value":$key,
                   "::mlir::Value":$value, "bool":$causal,
                   CArg<"::mlir::FloatAttr", "{}">:$scale)>
  ];
  let hasVerifier = 1;
  let assemblyFormat = [{
    $query `,` $key `,` $value attr-dict `:` functional-type(operands, results)
  }];
  let extraClassDeclaration = [{
    /// The score scale: `scale` if given, else 1/sqrt(head_dim).
    float getEffectiveScale();
  }];
}

class Palm_BinaryOp<string mnemonic, string what>
    : Palm_DiffTensorOp<mnemonic, [SameOperandsAndResultType]> {
  let summary = "elementwise " # what;
  let arguments = (ins Palm_FloatTensor:$lhs, Palm_FloatTensor:$rhs);
  let results = (outs Palm_FloatTensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($result)";
}

def Palm_AddOp : Palm_BinaryOp<"add", "addition"> {
  let description = [{
    `lhs + rhs`, same shapes, no broadcasting. Every dimension is parallel.
    Unreduced inputs stay unreduced: the sum of two partial sums over the
    same axes is a partial sum, so a parallel block's two branches cost one
    reduction.

    ```mlir
    %y = palm.add %a, %b : tensor<4x256x512xf32>
    ```
  }];
}

def Palm_MulOp : Palm_BinaryOp<"mul", "multiplication"> {
  let description = [{
    `lhs * rhs`, same shapes, no broadcasting. Every dimension is parallel.

    ```mlir
    %h = palm.mul %g, %u : tensor<4x256x2048xf32>
    ```
  }];
}

def Palm_SiluOp : Palm_DiffTensorOp<"silu", [SameOperandsAndResultType]> {
  let summary = "Swish / SiLU activation, x * sigmoid(x)";
  let description = [{
    `x * sigmoid(x)`, elementwise; with `palm.mul` it forms SwiGLU:
    `silu(x W_gate) * (x W_up)`. Every dimension is parallel.

    ```mlir
    %s = palm.silu %g : tensor<4x256x2048xf32>
    ```
  }];
  let arguments = (ins Palm_FloatTensor:$input);
  let results = (outs Palm_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
}

def Palm_ScaleOp : Palm_DiffTensorOp<"scale", [SameOperandsAndResultType]> {
  let summary = "multiplication by a constant";
  let description = [{
    `x * factor`, elementwise (for example the logits' `1/sqrt(d_model)`).
    Every dimension is parallel; an unreduced sum stays unreduced.

    ```mlir
    %l = palm.scale %x {factor = 0.0441941731 : f32} : tensor<4x256x8192xf32>
    ```
  }];
  let arguments = (ins Palm_FloatTensor:$input, F32Attr:$factor);
  let results = (outs Palm_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
}

def Palm_ConvertOp : Palm_DiffTensorOp<"convert", []> {
  let summary = "element type conversion";
  let description = [{
    Converts every element to the result's float type (round to nearest
    even). Every dimension is parallel.

    ```mlir
    %h = palm.convert %x : tensor<4x256x512xf32> -> tensor<4x256x512xbf16>
    ```

    Constraints: same shape.
  }];
  let arguments = (ins Palm_FloatTensor:$input);
  let results = (outs Palm_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Palm_CrossEntropyOp : Palm_DiffTensorOp<"cross_entropy"> {
  let summary = "mean softmax cross-entropy with z-loss";
  let description = [{
    For logits `[..., vocab]` and integer targets `[...]`:
    `mean over tokens t of (logZ_t - logits_t[target_t] + z_loss * logZ_t^2)`
    with `logZ_t = logsumexp(logits_t)`, computed in f32; the result is a
    0-d f32 tensor.

    Sharding rule: token dimensions are reductions into the scalar (each
    device sums its tokens' losses divided by the global token count, a
    partial sum); `vocab` is a *log-sum-exp* factor: with it split, devices
    combine a max, a sum of exponentials and the target logit, all of token
    size, never the logits themselves (see `palm.softmax_max`).

    At the local level, `token_count` is the global number of tokens (the
    divisor of the mean), and `token_shards` has one entry per token
    dimension: a `#palm.dim_shard` when that dimension is split (padded
    tokens are skipped), `unit` when it is whole.

    ```mlir
    %loss = palm.cross_entropy %logits, %targets {z_loss = 1.0e-04 : f32}
        : (tensor<4x256x8192xf32>, tensor<4x256xi32>) -> tensor<f32>
    ```

    Constraints: logits have rank at least 2; targets have the logits'
    shape without the last dimension; `z_loss >= 0`; `token_count >= 1`;
    `token_shards` has one `#palm.dim_shard` or `unit` per token dimension;
    both only at the local level.
  }];
  let arguments = (ins Palm_FloatTensor:$logits, Palm_IndexTensor:$targets,
                       DefaultValuedAttr<F32Attr, "1.0e-4">:$z_loss,
                       OptionalAttr<I64Attr>:$token_count,
                       OptionalAttr<ArrayAttr>:$token_shards);
  let results = (outs 0DTensorOf<[F32]>:$result);
  let builders = [
    OpBuilder<(ins "::mlir::Value":$logits, "::mlir::Value":$targets,
                   CArg<"float", "1.0e-4f">:$z_loss), [{
      build($_builder, $_state,
            ::mlir::RankedTensorType::get({}, $_builder.getF32Type()),
            logits, targets, $_builder.getF32FloatAttr(z_loss),
            ::mlir::IntegerAttr(), ::mlir::ArrayAttr());
    }]>
  ];
  let assemblyFormat = [{
    $logits `,` $targets attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Palm_TransposeOp : Palm_DiffTensorOp<"transpose"> {
  let summary = "dimension permutation";
  let description = [{
    `result.shape[i] = input.shape[permutation[i]]`. Every dimension is
    parallel and its sharding moves with it.

    ```mlir
    %t = palm.transpose %x, permutation = [0, 2, 1]
        : tensor<4x256x512xf32> -> tensor<4x512x256xf32>
    ```

    Constraints: `permutation` is a permutation of `0 .. rank-1`.
  }];
  let arguments = (ins Palm_Tensor:$input, DenseI64ArrayAttr:$permutation);
  let results = (outs Palm_Tensor:$result);
  let builders = [
    // Infers the result type from the operand and the permutation.
    OpBuilder<(ins "::mlir::Value":$input,
                   "::llvm::ArrayRef<int64_t>":$permutation)>
  ];
  let hasVerifier = 1;
  let assemblyFormat = [{
    $input `,` `permutation` `=` $permutation attr-dict `:` type($input) `->`
    type($result)
  }];
}

def Palm_ReshapeOp : Palm_DiffTensorOp<"reshape", []> {
  let summary = "shape change preserving element order";
  let description = [{
    Reinterprets the row-major elements with a new static shape. A dimension
    kept as is (the same size at the same place in the grouping of
    dimensions) is parallel; dimensions that are split or merged must be
    replicated, so a sharded dimension is never split by a reshape.

    ```mlir
    %r = palm.reshape %x : tensor<4x256x512xf32> -> tensor<4x256x8x64xf32>
    ```

    Constraints: static shapes with equal element counts and one element
    type.
  }];
  let arguments = (ins Palm_Tensor:$input);
  let results = (outs Palm_Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Backward ops (built by -palm-autodiff; global level, and local after
// partitioning)
//===----------------------------------------------------------------------===//

def Palm_SiluGradOp : Palm_TensorOp<"silu_grad", [SameOperandsAndResultType]> {
  let summary = "the cotangent of silu's input";
  let description = [{
    `dy * s * (1 + x * (1 - s))` with `s = sigmoid(x)`, elementwise: the
    derivative of `x * sigmoid(x)` times the cotangent. Every dimension is
    parallel.

    ```mlir
    %dx = palm.silu_grad %x, %dy : tensor<4x256x2048xf32>
    ```
  }];
  let arguments = (ins Palm_FloatTensor:$input, Palm_FloatTensor:$grad);
  let results = (outs Palm_FloatTensor:$result);
  let assemblyFormat = "$input `,` $grad attr-dict `:` type($result)";
}

def Palm_LayerNormGradOp : Palm_TensorOp<"layer_norm_grad"> {
  let summary = "the cotangents of a layer norm's input and scale";
  let description = [{
    For `y = palm.layer_norm(x, scale)` and the cotangent `dy`, with
    `xhat = (x - mean) * rstd` and `g = dy * scale` (per row):
    `dx = rstd * (g - mean(g) - xhat * mean(g * xhat))` and
    `dscale = sum over rows of dy * xhat`, computed in f32.

    Sharding rule: leading dimensions parallel (`dscale`, which has none of
    them, is then a partial sum over their axes: a data-parallel program
    reduces it once); the normalized dimension replicated (rows are
    normalized whole).

    ```mlir
    %dx, %ds = palm.layer_norm_grad %x, %scale, %dy {epsilon = 1.0e-06 : f32}
        : (tensor<4x256x512xf32>, tensor<512xf32>, tensor<4x256x512xf32>)
        -> (tensor<4x256x512xf32>, tensor<512xf32>)
    ```

    Constraints: as `palm.layer_norm` for `input` and `scale`; `grad` and
    `input_grad` have the input's type, `scale_grad` the scale's.
  }];
  let arguments = (ins Palm_FloatTensor:$input, Palm_FloatTensor:$scale,
                       Palm_FloatTensor:$grad,
                       DefaultValuedAttr<F32Attr, "1.0e-6">:$epsilon);
  let results = (outs Palm_FloatTensor:$input_grad,
                      Palm_FloatTensor:$scale_grad);
  let assemblyFormat = [{
    $input `,` $scale `,` $grad attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Palm_AttentionGradOp : Palm_TensorOp<"attention_grad"> {
  let summary = "the cotangents of attention's query, key and value";
  let description = [{
    The backward of `palm.attention` (same attributes and shapes), flash
    style: with `P = exp(scale * q k^T - lse)` recomputed from the forward's
    row log-sum-exp (never stored), `D = rowsum(dout * out)` and
    `dS = P * (dout v^T - D)`: `dq = scale * dS k`,
    `dk = scale * dS^T q` and `dv = P^T dout`, the key/value cotangents
    summed over the query heads that share each key/value head.

    Sharding rule: as `palm.attention`'s, read as an einsum: a factor a
    result lacks is summed over, so with the queries split (positional) or
    the query heads split finer than the key/value heads, `key_grad` and
    `value_grad` are partial sums over those axes; with the value head_dim
    split, `query_grad` and `key_grad` are.

    ```mlir
    %dq, %dk, %dv = palm.attention_grad %q, %k, %v, %o, %lse, %do {causal}
        : (tensor<4x256x8x64xf32>, tensor<4x256x1x64xf32>,
           tensor<4x256x1x64xf32>, tensor<4x256x8x64xf32>,
           tensor<4x256x8xf32>, tensor<4x256x8x64xf32>)
        -> (tensor<4x256x8x64xf32>, tensor<4x256x1x64xf32>,
            tensor<4x256x1x64xf32>)
    ```

    Constraints: `query`, `key`, `value` as for `palm.attention`; `out` and
    `grad` have the attention result's type, `lse` is f32 `[b, s, h]`; the
    results have the types of query, key and value; the shard attributes
    only at the local level.
  }];
  let arguments = (ins Palm_FloatTensor:$query, Palm_FloatTensor:$key,
                       Palm_FloatTensor:$value, Palm_FloatTensor:$out,
                       StaticShapeTensorOf<[F32]>:$lse,
                       Palm_FloatTensor:$grad, UnitAttr:$causal,
                       OptionalAttr<F32Attr>:$scale,
                       OptionalAttr<Palm_DimShardAttr>:$heads_shard,
                       OptionalAttr<Palm_DimShardAttr>:$kv_heads_shard,
                       OptionalAttr<Palm_DimShardAttr>:$seq_shard);
  let results = (outs Palm_FloatTensor:$query_grad,
                      Palm_FloatTensor:$key_grad,
                      Palm_FloatTensor:$value_grad);
  let hasVerifier = 1;
  let assemblyFormat = [{
    $query `,` $key `,` $value `,` $out `,` $lse `,` $grad attr-dict `:`
    functional-type(operands, results)
  }];
  let extraClassDeclaration = [{
    /// The score scale: `scale` if given, else 1/sqrt(head_dim).
    float getEffectiveScale();
  }];
}

def Palm_EmbeddingGradOp : Palm_TensorOp<"embedding_grad"> {
  let summary = "the cotangent of an embedding table (scatter-add)";
  let description = [{
    `result[r, :] = sum over the ids i with ids[i] == r of grad[i, :]`, for
    a table `[vocab, d_model]` (the result type gives the vocabulary);
    summed in id order.

    Sharding rule: `vocab` and `d_model` parallel; the ids' dimensions are
    summed over (absent from the result), so with them split the result is
    a partial sum. With `vocab` split, each device adds only the ids that
    fall in its rows (at the local level `vocab_shard` says which).

    ```mlir
    %dt = palm.embedding_grad %ids, %dx
        : (tensor<4x256xi32>, tensor<4x256x512xf32>) -> tensor<8192x512xf32>
    ```

    Constraints: the grad is `ids.shape + [d_model]`; the result is rank 2
    `[vocab, d_model]` with the grad's element type; `vocab_shard` only at
    the local level.
  }];
  let arguments = (ins Palm_IndexTensor:$ids, Palm_FloatTensor:$grad,
                       OptionalAttr<Palm_DimShardAttr>:$vocab_shard);
  let results = (outs Palm_FloatTensor:$result);
  let hasVerifier = 1;
  let assemblyFormat = [{
    $ids `,` $grad attr-dict `:` functional-type(operands, results)
  }];
}

def Palm_CrossEntropyGradOp : Palm_TensorOp<"cross_entropy_grad",
    [AttrSizedOperandSegments]> {
  let summary = "the cotangent of the logits of a mean cross-entropy";
  let description = [{
    The backward of `palm.cross_entropy` (same `z_loss`): with
    `logZ = logsumexp(logits)` per token and `N` the number of tokens,
    `dlogits = (softmax(logits) * (1 + 2 z_loss logZ) - onehot(target)) *
    grad / N`, where `grad` (0-d f32) is the loss's cotangent (1 when
    absent, as for the loss a function returns), computed in f32.

    Sharding rule: token dimensions parallel; `vocab` log-sum-exp: with it
    split, the devices combine the per-token max and sum of exponentials
    (`palm.softmax_max`, `palm.softmax_sums`, one all-reduce each), which
    `max` and `sums` then carry at the local level.

    At the local level `token_count` and `token_shards` are as on
    `palm.cross_entropy` (padded tokens get zeros) and `vocab_shard` says
    the logits hold one shard of the classes.

    ```mlir
    %dl = palm.cross_entropy_grad %logits, %targets grad %g {z_loss = 1.0e-04 : f32}
        : (tensor<4x256x8192xf32>, tensor<4x256xi32>, tensor<f32>)
        -> tensor<4x256x8192xf32>
    ```

    Constraints: as `palm.cross_entropy` for logits and targets; `grad`,
    when given, is 0-d f32; the result has the logits' type; `max` and `sums` (both or
    neither, with `vocab_shard`) are f32 of the token shape and `[2]` +
    the token shape.
  }];
  let arguments = (ins Palm_FloatTensor:$logits, Palm_IndexTensor:$targets,
                       Optional<0DTensorOf<[F32]>>:$grad,
                       Optional<StaticShapeTensorOf<[F32]>>:$max,
                       Optional<StaticShapeTensorOf<[F32]>>:$sums,
                       DefaultValuedAttr<F32Attr, "1.0e-4">:$z_loss,
                       OptionalAttr<I64Attr>:$token_count,
                       OptionalAttr<ArrayAttr>:$token_shards,
                       OptionalAttr<Palm_DimShardAttr>:$vocab_shard);
  let results = (outs Palm_FloatTensor:$result);
  let hasVerifier = 1;
  let assemblyFormat = [{
    $logits `,` $targets (`grad` $grad^)? (`stats` `(` $max^ `,` $sums `)`)? attr-dict
    `:` functional-type(operands, results)
  }];
}

//===----------------------------------------------------------------------===//
// Optimizer ops (built by -palm-optimizer; global level, and local after
// partitioning)
//===----------------------------------------------------------------------===//

def Palm_SumSquaresOp : Palm_TensorOp<"sum_squares"> {
  let summary = "the sum of a tensor's squared elements";
  let description = [{
    `sum(x^2)` over every element, accumulated in f64 and returned as a 0-d
    f32 tensor: the pieces of the global gradient norm and of a tensor's
    RMS.

    Sharding rule: every dimension is a reduction, so a split tensor gives a
    partial sum over its axes, and a replicated one is counted once (no
    device adds another's copy).

    ```mlir
    %n = palm.sum_squares %g : tensor<512x2048xf32> -> tensor<f32>
    ```
  }];
  let arguments = (ins Palm_FloatTensor:$input);
  let results = (outs 0DTensorOf<[F32]>:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
}

def Palm_SqrtOp : Palm_TensorOp<"sqrt", [SameOperandsAndResultType]> {
  let summary = "elementwise square root";
  let description = [{
    `sqrt(x)`, elementwise (the gradient norm from its square). Every
    dimension is parallel.

    ```mlir
    %n = palm.sqrt %sq : tensor<f32>
    ```
  }];
  let arguments = (ins Palm_FloatTensor:$input);
  let results = (outs Palm_FloatTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
}

def Palm_LearningRateOp : Palm_TensorOp<"learning_rate",
    [AllTypesMatch<["step", "result"]>]> {
  let summary = "the learning rate of step k";
  let description = [{
    From the 1-based step number `k` (a 0-d f32 tensor), in f32:
    * `inverse_sqrt` (PaLM): `peak * 1 / sqrt(max(k, warmup_steps))`, with
      PaLM's `peak = 1`, `warmup_steps = 10000` (a constant 1e-2 for the
      first 10k steps, then inverse square-root decay);
    * `warmup_cosine`: linear warmup from 0 to `peak` over `warmup_steps`,
      then cosine decay to `final` at `total_steps` (constant after):
      with `t = k - 1`, `peak * t / warmup_steps` while `t < warmup_steps`,
      else `final + (peak - final) * (1 + cos(pi * p)) / 2` with
      `p = min(1, (t - warmup_steps) / (total_steps - warmup_steps))`.

    ```mlir
    %lr = palm.learning_rate %k {schedule = "inverse_sqrt", peak = 1.0 : f32,
        warmup_steps = 10000 : i64} : tensor<f32>
    ```

    Constraints: `schedule` is one of the two; `peak > 0`;
    `warmup_steps >= 0` (`>= 1` for inverse_sqrt); for warmup_cosine
    `total_steps > warmup_steps` and `0 <= final <= peak`.
  }];
  let arguments = (ins 0DTensorOf<[F32]>:$step, StrAttr:$schedule,
                       F32Attr:$peak, I64Attr:$warmup_steps,
                       DefaultValuedAttr<I64Attr, "0">:$total_steps,
                       DefaultValuedAttr<F32Attr, "0.0">:$final);
  let results = (outs 0DTensorOf<[F32]>:$result);
  let assemblyFormat = "$step attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Palm_AdafactorMomentsOp : Palm_TensorOp<"adafactor_moments"> {
  let summary = "Adafactor's second moment, and the update's sum of squares";
  let description = [{
    First half of an unfactored Adafactor step for one tensor, as optax
    computes it. With `n = sqrt(grad_sum_squares)` (the global gradient
    norm), the clipped gradient is `g = grad` when `n < max_norm`, else
    `grad / n * max_norm`; with `beta2 = 1 - k^-decay_rate` (`k` the
    1-based step):
    `new_v = beta2 * v + (1 - beta2) * (g^2 + epsilon)`, and
    `update_sum_squares = sum(u^2)` of the normalized update
    `u = g / sqrt(new_v)`, which `palm.adafactor_apply` needs for update
    clipping.

    Sharding rule: the tensor's dimensions are parallel in `grad`, `v` and
    `new_v`; `update_sum_squares` lacks them, so it is a partial sum over
    the axes splitting them.

    ```mlir
    %v1, %usq = palm.adafactor_moments %g, %v, %gsq, %k
        : (tensor<512xf32>, tensor<512xf32>, tensor<f32>, tensor<f32>)
        -> (tensor<512xf32>, tensor<f32>)
    ```

    Constraints: `grad`, `v` and `new_v` have one type; the scalars are 0-d
    f32; `decay_rate > 0`, `epsilon >= 0`, `max_norm > 0`.
  }];
  let arguments = (ins Palm_FloatTensor:$grad, Palm_FloatTensor:$v,
                       0DTensorOf<[F32]>:$grad_sum_squares,
                       0DTensorOf<[F32]>:$step,
                       DefaultValuedAttr<F32Attr, "0.8">:$decay_rate,
                       DefaultValuedAttr<F32Attr, "1.0e-30">:$epsilon,
                       DefaultValuedAttr<F32Attr, "1.0">:$max_norm);
  let results = (outs Palm_FloatTensor:$new_v,
                      0DTensorOf<[F32]>:$update_sum_squares);
  let assemblyFormat = [{
    $grad `,` $v `,` $grad_sum_squares `,` $step attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Palm_AdafactorApplyOp : Palm_TensorOp<"adafactor_apply"> {
  let summary = "Adafactor's update of one parameter and its momentum";
  let description = [{
    Second half of an unfactored Adafactor step, as optax's
    `adafactor(factored=False, multiply_by_parameter_scale=True,
    clipping_threshold, momentum, weight_decay_rate=lr^2 * weight_decay)`
    computes it after `clip_by_global_norm(max_norm)`. With `g` the clipped
    gradient (as in `palm.adafactor_moments`), `N = count` (the parameter's
    global element count):
    * `u = g / sqrt(new_v)`, then `u = u / max(1, sqrt(update_sum_squares /
      N) / clipping_threshold)` (update clipping at RMS 1);
    * `u = u * lr * max(scale_floor, sqrt(param_sum_squares / N))`
      (parameter scaling by the parameter's RMS before the step);
    * `new_m = beta1 * m + (1 - beta1) * u`;
    * `new_param = param - (new_m + weight_decay * lr^2 * param)`.

    Sharding rule: the parameter's dimensions are parallel in every tensor
    operand and result; the scalars are 0-d (each must be whole: the
    partitioner reduces partial sums before the op).

    ```mlir
    %w1, %m1 = palm.adafactor_apply %w, %g, %v1, %m, %gsq, %usq, %wsq, %lr
        {count = 512 : i64}
        : (tensor<512xf32>, tensor<512xf32>, tensor<512xf32>, tensor<512xf32>,
           tensor<f32>, tensor<f32>, tensor<f32>, tensor<f32>)
        -> (tensor<512xf32>, tensor<512xf32>)
    ```

    Constraints: the four tensors and both results have one type; the
    scalars are 0-d f32; `count >= 1`; `0 <= beta1 < 1`;
    `clipping_threshold > 0`, `scale_floor >= 0`, `max_norm > 0`,
    `weight_decay >= 0`.
  }];
  let arguments = (ins Palm_FloatTensor:$param, Palm_FloatTensor:$grad,
                       Palm_FloatTensor:$new_v, Palm_FloatTensor:$m,
                       0DTensorOf<[F32]>:$grad_sum_squares,
                       0DTensorOf<[F32]>:$update_sum_squares,
                       0DTensorOf<[F32]>:$param_sum_squares,
                       0DTensorOf<[F32]>:$lr,
                       I64Attr:$count,
                       DefaultValuedAttr<F32Attr, "0.9">:$beta1,
                       DefaultValuedAttr<F32Attr, "1.0">:$clipping_threshold,
                       DefaultValuedAttr<F32Attr, "1.0e-3">:$scale_floor,
                       DefaultValuedAttr<F32Attr, "1.0">:$max_norm,
                       DefaultValuedAttr<F32Attr, "1.0">:$weight_decay);
  let results = (outs Palm_FloatTensor:$new_param, Palm_FloatTensor:$new_m);
  let assemblyFormat = [{
    $param `,` $grad `,` $new_v `,` $m `,` $grad_sum_squares `,`
    $update_sum_squares `,` $param_sum_squares `,` $lr attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Palm_AdamWApplyOp : Palm_TensorOp<"adamw_apply"> {
  let summary = "AdamW's update of one parameter and its two moments";
  let description = [{
    One AdamW step, as optax's `chain(clip_by_global_norm(max_norm),
    adamw(lr, b1=beta1, b2=beta2, eps=epsilon, weight_decay))` computes it,
    with `g` the clipped gradient (as in `palm.adafactor_moments`) and `k`
    the 1-based step:
    `new_m = beta1 m + (1 - beta1) g`, `new_v = beta2 v + (1 - beta2) g^2`,
    `mhat = new_m / (1 - beta1^k)`, `vhat = new_v / (1 - beta2^k)`,
    `new_param = param - lr * (mhat / (sqrt(vhat) + epsilon) +
    weight_decay * param)`.

    Sharding rule: the parameter's dimensions are parallel in every tensor
    operand and result; the scalars are 0-d.

    ```mlir
    %w1, %m1, %v1 = palm.adamw_apply %w, %g, %m, %v, %gsq, %lr, %k
        : (tensor<512xf32>, tensor<512xf32>, tensor<512xf32>, tensor<512xf32>,
           tensor<f32>, tensor<f32>, tensor<f32>)
        -> (tensor<512xf32>, tensor<512xf32>, tensor<512xf32>)
    ```

    Constraints: the four tensors and the three results have one type; the
    scalars are 0-d f32; `0 <= beta1, beta2 < 1`; `epsilon >= 0`;
    `max_norm > 0`; `weight_decay >= 0`.
  }];
  let arguments = (ins Palm_FloatTensor:$param, Palm_FloatTensor:$grad,
                       Palm_FloatTensor:$m, Palm_FloatTensor:$v,
                       0DTensorOf<[F32]>:$grad_sum_squares,
                       0DTensorOf<[F32]>:$lr, 0DTensorOf<[F32]>:$step,
                       DefaultValuedAttr<F32Attr, "0.9">:$beta1,
                       DefaultValuedAttr<F32Attr, "0.999">:$beta2,
                       DefaultValuedAttr<F32Attr, "1.0e-8">:$epsilon,
                       DefaultValuedAttr<F32Attr, "1.0">:$max_norm,
                       DefaultValuedAttr<F32Attr, "0.0">:$weight_decay);
  let results = (outs Palm_FloatTensor:$new_param, Palm_FloatTensor:$new_m,
                      Palm_FloatTensor:$new_v);
  let assemblyFormat = [{
    $param `,` $grad `,` $m `,` $v `,` $grad_sum_squares `,` $lr `,` $step
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Local pieces of sharded ops (local level)
//===----------------------------------------------------------------------===//

/// An op that exists only in local-level modules.
class Palm_LocalOp<string mnemonic, list<Trait> traits = []>
    : Palm_Op<mnemonic, !listconcat(traits, [Pure])> {
  let hasVerifier = 1;
}

def Palm_MaskPaddingOp : Palm_LocalOp<"mask_padding",
    [SameOperandsAndResultType]> {
  let summary = "zeroes the padding of an unevenly sharded dimension";
  let description = [{
    Dimension `dim` is this device's shard of a global dimension (`shard`);
    elements whose global index is `shard.size` or more are set to zero, the
    rest pass through. The partitioner inserts it where a contraction over an
    uneven dimension would otherwise add padding into the result.

    ```mlir
    %y = palm.mask_padding %x dim 2 shard <@mesh, [model], 10>
        : tensor<2x8x5xf32>
    ```

    Constraints: local level; `dim` in range; the mesh has the axes.
  }];
  let arguments = (ins Palm_Tensor:$input, I64Attr:$dim,
                       Palm_DimShardAttr:$shard);
  let results = (outs Palm_Tensor:$result);
  let assemblyFormat = [{
    $input `dim` $dim `shard` $shard attr-dict `:` type($result)
  }];
}

def Palm_SoftmaxMaxOp : Palm_LocalOp<"softmax_max"> {
  let summary = "this device's maximum over a sharded class dimension";
  let description = [{
    First step of a cross-entropy whose vocabulary is split: the maximum of
    `logits[..., :]` over this device's valid classes, in f32 (padding is
    skipped). An `all_reduce ... max` over the vocab axes gives the global
    maximum for `palm.softmax_sums`.

    ```mlir
    %m = palm.softmax_max %logits shard <@mesh, [model], 50>
        : tensor<2x8x13xf32> -> tensor<2x8xf32>
    ```

    Constraints: local level; logits of rank at least 2; result f32 with
    the logits' shape without the last dimension.
  }];
  let arguments = (ins Palm_FloatTensor:$logits,
                       Palm_DimShardAttr:$vocab_shard);
  let results = (outs StaticShapeTensorOf<[F32]>:$result);
  let assemblyFormat = [{
    $logits `shard` $vocab_shard attr-dict `:` type($logits) `->` type($result)
  }];
}

def Palm_SoftmaxSumsOp : Palm_LocalOp<"softmax_sums"> {
  let summary = "sum of exponentials and target logit over a class shard";
  let description = [{
    Second step of a sharded cross-entropy. Given the global maximum `max`,
    returns `[2, ...]` in f32: entry 0 is `sum(exp(logits - max))` over this
    device's valid classes, entry 1 is the target's logit when the target
    falls in this device's classes and 0 otherwise. Both are partial sums
    over the vocab axes, combined by one `all_reduce ... sum`.

    ```mlir
    %s = palm.softmax_sums %logits, %m, %targets shard <@mesh, [model], 50>
        : (tensor<2x8x13xf32>, tensor<2x8xf32>, tensor<2x8xi32>)
        -> tensor<2x2x8xf32>
    ```

    Constraints: local level; `max` and `targets` have the logits' shape
    without the last dimension; the result is `[2] + that shape`, f32.
  }];
  let arguments = (ins Palm_FloatTensor:$logits,
                       StaticShapeTensorOf<[F32]>:$max,
                       Palm_IndexTensor:$targets,
                       Palm_DimShardAttr:$vocab_shard);
  let results = (outs StaticShapeTensorOf<[F32]>:$result);
  let assemblyFormat = [{
    $logits `,` $max `,` $targets `shard` $vocab_shard attr-dict `:`
    functional-type(operands, results)
  }];
}

def Palm_RowMomentsOp : Palm_LocalOp<"row_moments"> {
  let summary = "count, mean and squared deviations of each row's shard";
  let description = [{
    First step of a layer norm whose normalized (last) dimension is split:
    for each row of `input`, over this device's valid elements of the last
    dimension (padding is skipped), the element count, the mean, and the
    sum of squared deviations from that mean (two passes, no cancellation),
    in f32, as `[1, 3, rows...]`. An `all_gather` along dimension 0 over the
    split's axes gives every device every shard's moments, in shard order,
    for `palm.layer_norm_merged`.

    ```mlir
    %m = palm.row_moments %x shard <@mesh, [model], 50>
        : tensor<2x8x13xf32> -> tensor<1x3x2x8xf32>
    ```

    Constraints: local level; input of rank at least 1; result f32
    `[1, 3]` followed by the input's shape without its last dimension.
  }];
  let arguments = (ins Palm_FloatTensor:$input,
                       Palm_DimShardAttr:$feature_shard);
  let results = (outs StaticShapeTensorOf<[F32]>:$result);
  let assemblyFormat = [{
    $input `shard` $feature_shard attr-dict `:` type($input) `->` type($result)
  }];
}

def Palm_LayerNormMergedOp : Palm_LocalOp<"layer_norm_merged",
    [AllTypesMatch<["input", "result"]>]> {
  let summary = "layer norm of a feature shard from every shard's moments";
  let description = [{
    Second step of a layer norm whose normalized dimension is split.
    `moments : [shards, 3, rows...]` holds each shard's (count, mean, sum of
    squared deviations) per row (`palm.row_moments`, gathered). They are
    merged in shard order with the parallel-variance formula: for a merged
    prefix `a` and the next shard `b`, `n = n_a + n_b`, `d = mean_b -
    mean_a`, `mean = mean_a + d n_b / n`, `M2 = M2_a + M2_b + d^2 n_a n_b /
    n` (never `E[x^2] - E[x]^2`, which cancels). This device's shard is then
    normalized as `palm.layer_norm` does: `(x - mean) / sqrt(M2 / n +
    epsilon) * scale`. Every device merges in the same order, so the
    statistics agree bit for bit across the shards of a row.

    ```mlir
    %y = palm.layer_norm_merged %x, %scale, %m {epsilon = 1.0e-06 : f32}
        : (tensor<2x8x13xf32>, tensor<13xf32>, tensor<4x3x2x8xf32>)
        -> tensor<2x8x13xf32>
    ```

    Constraints: local level; `scale` rank 1, the size of the input's last
    dimension, with its element type; `moments` f32 `[shards >= 1, 3]`
    followed by the input's shape without its last dimension; `epsilon > 0`.
  }];
  let arguments = (ins Palm_FloatTensor:$input, Palm_FloatTensor:$scale,
                       StaticShapeTensorOf<[F32]>:$moments,
                       DefaultValuedAttr<F32Attr, "1.0e-6">:$epsilon);
  let results = (outs Palm_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $scale `,` $moments attr-dict `:`
    functional-type(operands, results)
  }];
}

def Palm_CrossEntropyLossOp : Palm_LocalOp<"cross_entropy_loss"> {
  let summary = "the loss from a sharded softmax's combined statistics";
  let description = [{
    Last step of a sharded cross-entropy: with `logZ = max + log(sums[0])`,
    returns `sum over this device's valid tokens of (logZ - sums[1] +
    z_loss * logZ^2) / token_count` as a 0-d f32 tensor (a partial sum over
    the axes splitting the tokens). `token_shards` is as on
    `palm.cross_entropy`.

    ```mlir
    %l = palm.cross_entropy_loss %m, %s {token_count = 32 : i64}
        : (tensor<2x8xf32>, tensor<2x2x8xf32>) -> tensor<f32>
    ```

    Constraints: local level; `sums` is `[2] + max.shape`; `z_loss >= 0`;
    `token_count >= 1`; `token_shards` has one entry per token dimension.
  }];
  let arguments = (ins StaticShapeTensorOf<[F32]>:$max,
                       StaticShapeTensorOf<[F32]>:$sums,
                       DefaultValuedAttr<F32Attr, "1.0e-4">:$z_loss,
                       I64Attr:$token_count,
                       OptionalAttr<ArrayAttr>:$token_shards);
  let results = (outs 0DTensorOf<[F32]>:$result);
  let assemblyFormat = [{
    $max `,` $sums attr-dict `:` functional-type(operands, results)
  }];
}

def Palm_FusionOp : Palm_LocalOp<"fusion", [IsolatedFromAbove]> {
  let summary = "elementwise ops computed together, one loop or kernel";
  let description = [{
    A tree of elementwise ops (`add`, `mul`, `silu`, `silu_grad`, `sqrt`,
    `scale`, `convert`) whose intermediate values are never stored: the lowering computes the
    yielded value element by element in one loop (CPU) or one kernel (CUDA),
    reading each input once per element. `-palm-fuse-elementwise` forms
    them from elementwise chains.

    ```mlir
    %y = palm.fusion(%a, %b) : (tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32> {
    ^bb0(%x: tensor<8xf32>, %z: tensor<8xf32>):
      %0 = palm.add %x, %z : tensor<8xf32>
      %1 = palm.silu %0 : tensor<8xf32>
      palm.yield %1 : tensor<8xf32>
    }
    ```

    Constraints: local level; one block whose arguments have the inputs'
    types; every input has the result's shape; the body holds only
    elementwise ops and ends with `palm.yield` of one value of the result's
    type.
  }];
  let arguments = (ins Variadic<Palm_Tensor>:$inputs);
  let results = (outs Palm_Tensor:$result);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    `(` $inputs `)` attr-dict `:` functional-type($inputs, $result) $body
  }];
  let extraClassDeclaration = [{
    /// The value the body yields, computed per element.
    ::mlir::Value getYielded();
  }];
}

def Palm_YieldOp : Palm_Op<"yield", [Pure, Terminator,
    HasParent<"FusionOp">]> {
  let summary = "the value a fusion computes";
  let description = [{
    Ends the body of `palm.fusion`:

    ```mlir
    palm.yield %1 : tensor<8xf32>
    ```
  }];
  let arguments = (ins Palm_Tensor:$value);
  let assemblyFormat = "$value attr-dict `:` type($value)";
}

//===----------------------------------------------------------------------===//
// Collectives (local level)
//===----------------------------------------------------------------------===//

class Palm_CollectiveOp<string mnemonic, list<Trait> traits = []>
    : Palm_Op<mnemonic, !listconcat(traits, [Pure,
        DeclareOpInterfaceMethods<SymbolUserOpInterface>])> {
  dag commonArgs = (ins FlatSymbolRefAttr:$mesh, StrArrayAttr:$mesh_axes);
  let results = (outs Palm_Tensor:$result);
  let hasVerifier = 1;
  code collectiveClassDeclaration = [{
    /// Number of devices in each group: the product of the axes' sizes.
    /// The mesh must resolve (it does once the op has verified).
    int64_t getGroupSize();
  }];
  let extraClassDeclaration = collectiveClassDeclaration;
}

def Palm_AllGatherOp : Palm_CollectiveOp<"all_gather"> {
  let summary = "concatenates the shards held along mesh axes";
  let description = [{
    Every device in a group (the devices that differ only in their
    coordinates on `mesh_axes`) receives the concatenation, along
    `gather_dim`, of the group's inputs, in group order (the axes major to
    minor). The result dimension is the input's times the group size: for
    uneven shards it includes the padding, which a later slice drops.

    ```mlir
    %w = palm.all_gather %ws on @mesh [data] dim 0
        : tensor<128x2048xf32> -> tensor<512x2048xf32>
    ```

    Constraints: local-level module; the mesh exists; axes exist and are
    unique; `gather_dim` is in range; result = input with `gather_dim`
    multiplied by the group size.
  }];
  let arguments = !con(commonArgs, (ins Palm_Tensor:$input,
                                        I64Attr:$gather_dim));
  let assemblyFormat = [{
    $input `on` $mesh custom<MeshAxes>($mesh_axes) `dim` $gather_dim attr-dict
    `:` type($input) `->` type($result)
  }];
}

def Palm_AllReduceOp : Palm_CollectiveOp<"all_reduce", [SameOperandsAndResultType]> {
  let summary = "reduces over mesh axes, result on every device";
  let description = [{
    Every device in a group receives the elementwise `sum` or `max` of the
    group's inputs.

    ```mlir
    %y = palm.all_reduce %p on @mesh [model] sum : tensor<4x256x512xf32>
    ```

    Constraints: local-level module; the mesh exists; axes exist and are
    unique.
  }];
  let arguments = !con(commonArgs, (ins Palm_Tensor:$input,
                                        Palm_ReductionKindAttr:$reduction));
  let assemblyFormat = [{
    $input `on` $mesh custom<MeshAxes>($mesh_axes) custom<Reduction>($reduction) attr-dict `:`
    type($result)
  }];
}

def Palm_ReduceScatterOp : Palm_CollectiveOp<"reduce_scatter"> {
  let summary = "reduces over mesh axes and keeps one slice per device";
  let description = [{
    Reduces the group's inputs elementwise and gives device `i` of the group
    slice `i` of `scatter_dim`. Bytes moved equal half an all-reduce.

    ```mlir
    %y = palm.reduce_scatter %p on @mesh [model] sum dim 1
        : tensor<4x256x512xf32> -> tensor<4x128x512xf32>
    ```

    Constraints: local-level module; the mesh exists; axes exist and are
    unique; `scatter_dim` is in range and divisible by the group size;
    result = input with `scatter_dim` divided by the group size.
  }];
  let arguments = !con(commonArgs, (ins Palm_Tensor:$input,
                                        Palm_ReductionKindAttr:$reduction,
                                        I64Attr:$scatter_dim));
  let assemblyFormat = [{
    $input `on` $mesh custom<MeshAxes>($mesh_axes) custom<Reduction>($reduction) `dim`
    $scatter_dim attr-dict `:` type($input) `->` type($result)
  }];
}

def Palm_AllToAllOp : Palm_CollectiveOp<"all_to_all"> {
  let summary = "moves a mesh split from one dimension to another";
  let description = [{
    Device `i` of a group splits its input into group-size pieces along
    `split_dim`, sends piece `j` to device `j`, and concatenates what it
    receives along `concat_dim` in group order.

    ```mlir
    %y = palm.all_to_all %x on @mesh [model] split 2 concat 1
        : tensor<4x128x512xf32> -> tensor<4x256x256xf32>
    ```

    Constraints: local-level module; the mesh exists; axes exist and are
    unique; both dimensions in range and different; `split_dim` divisible by
    the group size; result = input with `split_dim` divided and
    `concat_dim` multiplied by the group size.
  }];
  let arguments = !con(commonArgs, (ins Palm_Tensor:$input,
                                        I64Attr:$split_dim,
                                        I64Attr:$concat_dim));
  let assemblyFormat = [{
    $input `on` $mesh custom<MeshAxes>($mesh_axes) `split` $split_dim
    `concat` $concat_dim attr-dict `:` type($input) `->` type($result)
  }];
}

def Palm_CollectivePermuteOp
    : Palm_CollectiveOp<"collective_permute", [SameOperandsAndResultType]> {
  let summary = "point-to-point exchange inside groups";
  let description = [{
    Within every group, device `source` sends its input to device `target`
    for each listed pair (indices are positions in the group). A device that
    is no pair's target receives zeros.

    ```mlir
    %y = palm.collective_permute %x on @mesh [model] pairs [0 -> 1, 1 -> 0]
        : tensor<4x256x512xf32>
    ```

    Constraints: local-level module; the mesh exists; axes exist and are
    unique; every index is in `[0, group size)`; no source and no target
    appears twice.
  }];
  let arguments = !con(commonArgs, (ins Palm_Tensor:$input,
                                        DenseI64ArrayAttr:$source_target_pairs));
  let assemblyFormat = [{
    $input `on` $mesh custom<MeshAxes>($mesh_axes) `pairs`
    custom<PermutePairs>($source_target_pairs) attr-dict `:` type($result)
  }];
}

def Palm_AllSliceOp : Palm_CollectiveOp<"all_slice"> {
  let summary = "keeps this device's slice, without communication";
  let description = [{
    Device `i` of a group keeps slice `i` of `slice_dim`, of size
    `ceil(dim / group size)`; slices past the end of the data are padded
    with zeros. No data moves: it is the inverse of `all_gather`.

    ```mlir
    %y = palm.all_slice %x on @mesh [data] dim 0
        : tensor<9x512xf32> -> tensor<2x512xf32>
    ```

    Constraints: local-level module; the mesh exists; axes exist and are
    unique; `slice_dim` is in range; result = input with `slice_dim`
    replaced by `ceil(dim / group size)`.
  }];
  let arguments = !con(commonArgs, (ins Palm_Tensor:$input,
                                        I64Attr:$slice_dim));
  let assemblyFormat = [{
    $input `on` $mesh custom<MeshAxes>($mesh_axes) `dim` $slice_dim attr-dict
    `:` type($input) `->` type($result)
  }];
}

#endif // PALM_DIALECT_PALM_IR_PALMOPS_TD
