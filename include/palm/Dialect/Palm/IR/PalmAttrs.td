//===- PalmAttrs.td - palm attributes -----------------------*- tablegen -*-===//

#ifndef PALM_DIALECT_PALM_IR_PALMATTRS_TD
#define PALM_DIALECT_PALM_IR_PALMATTRS_TD

include "palm/Dialect/Palm/IR/PalmBase.td"
include "mlir/IR/BuiltinAttributeInterfaces.td"

class Palm_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<Palm_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

def Palm_AxisListAttr : Palm_Attr<"AxisList", "axes"> {
  let summary = "ordered mesh axes (major to minor) sharding one tensor dimension";
  let description = [{
    The mesh axes a tensor dimension is split over, major to minor: with
    `[data, model]` on a mesh `data=4, model=2`, the dimension is cut into 8
    pieces and the device at coordinates (d, m) holds piece `d * 2 + m`. An
    empty list means the dimension is replicated. It normally appears inside
    `#palm.sharding`, which prints it without the `#palm.axes` prefix.

    ```mlir
    #palm.axes<[data, model]>
    ```

    Constraints:
    * every axis name is non-empty;
    * no axis appears twice.
  }];
  let parameters = (ins ArrayRefParameter<"::mlir::StringAttr", "axis names">:$axes);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// True when the dimension is not split.
    bool isReplicated() const { return getAxes().empty(); }
  }];
}

def Palm_ShardingAttr : Palm_Attr<"Sharding", "sharding"> {
  let summary = "how a tensor is split and what is left unreduced on a mesh";
  let description = [{
    A sharding names a `palm.mesh` and gives, for each tensor dimension, the
    ordered list of mesh axes that dimension is split over (major to minor),
    plus the *unreduced* axes: mesh axes over which each device holds a
    partial result still to be combined with the given reduction (`sum` or
    `max`). Axes named nowhere are replicated: every device along them holds
    the same data.

    A dimension of size `D` split `n` ways has local size `ceil(D / n)`;
    shards past the end of the data hold padding (see `docs/dialect.md`).

    ```mlir
    // [batch, seq, d_model]: batch over data, d_model over model.
    #palm.sharding<@mesh, [[data], [], [model]]>
    // A matmul output whose contraction was split over model: each device
    // holds a partial sum over its model slice.
    #palm.sharding<@mesh, [[data], [], []], unreduced = [model: sum]>
    ```

    Constraints:
    * every mesh axis appears at most once in the whole sharding, whether in
      a dimension or in the unreduced set;
    * (checked where the sharding is attached) the mesh is a `palm.mesh`
      symbol, every axis exists in it, and the number of dimensions equals
      the rank of the tensor it describes;
    * (checked where the sharding is attached) a tensor of integers (token
      ids, targets) has no unreduced axes: integers are never partial sums
      or maxima;
    * (checked on function arguments) an argument has no unreduced axes:
      the runtime gives each device its shard of a whole value, so a
      partial one cannot be passed in.
  }];
  let parameters = (ins
    "::mlir::FlatSymbolRefAttr":$mesh,
    ArrayRefParameter<"::mlir::palm::AxisListAttr", "per-dimension axes">:$dims,
    ArrayRefParameter<"::mlir::StringAttr", "unreduced axes">:$unreducedAxes,
    ArrayRefParameter<"::mlir::palm::ReductionKind", "their reductions">:$unreducedKinds
  );
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let builders = [
    AttrBuilderWithInferredContext<(ins "::mlir::FlatSymbolRefAttr":$mesh,
        "::llvm::ArrayRef<::mlir::palm::AxisListAttr>":$dims), [{
      return $_get(mesh.getContext(), mesh, dims,
                   ::llvm::ArrayRef<::mlir::StringAttr>(),
                   ::llvm::ArrayRef<::mlir::palm::ReductionKind>());
    }]>
  ];
  let extraClassDeclaration = [{
    /// Number of tensor dimensions described.
    int64_t getRank() const { return getDims().size(); }
    /// True when no dimension is split and nothing is unreduced.
    bool isFullyReplicated() const;
    /// The dimension `axis` splits, or -1 when it splits none.
    int64_t getDimOfAxis(::llvm::StringRef axis) const;
    /// The reduction pending over `axis`, if it is unreduced.
    std::optional<::mlir::palm::ReductionKind>
    getUnreducedKind(::llvm::StringRef axis) const;
    /// Every axis this sharding names, dimensions first, in order.
    ::llvm::SmallVector<::mlir::StringAttr> getAllAxes() const;
    /// Verifies the sharding against a tensor type and the mesh it names,
    /// resolving the mesh from `anchor` and reporting errors at `loc`.
    /// `what` names the annotated value.
    ::llvm::LogicalResult verifyFor(::mlir::Operation *anchor,
                                    ::mlir::Location loc, ::mlir::Type type,
                                    const ::llvm::Twine &what) const;
  }];
}

def Palm_DimShardAttr : Palm_Attr<"DimShard", "dim_shard"> {
  let summary = "a local dimension as one shard of a global dimension";
  let description = [{
    At the local level, says that a tensor dimension is this device's shard
    of a global dimension of size `size` split over mesh `axes`: the shard
    starts at `group_index(axes) * local_size`, and elements at global index
    `size` or beyond are padding. Local ops whose result the padding or the
    offset would change carry it (a masked embedding lookup, a sharded
    softmax, `palm.mask_padding`); the lowering computes the offset and the
    valid extent from the device's mesh coordinates.

    ```mlir
    #palm.dim_shard<@mesh, [model], 256000>
    ```

    Constraints: at least one axis, no axis twice, `size >= 1`; (where
    attached) the mesh exists and has the axes.
  }];
  let parameters = (ins "::mlir::FlatSymbolRefAttr":$mesh,
                        ArrayRefParameter<"::mlir::StringAttr", "axes">:$axes,
                        "int64_t":$size);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Verifies the mesh and axes, reporting at `op`.
    ::llvm::LogicalResult verifyMesh(::mlir::Operation *op) const;
  }];
}

def Palm_InitAttr : Palm_Attr<"Init", "init"> {
  let summary = "how a parameter is initialised";
  let description = [{
    Marks a function argument as a model parameter (as opposed to an input
    such as tokens) and says how the runtime initialises it from the seed:
    `normal(stddev)` draws from N(0, stddev^2), `ones` and `zeros` fill. The
    values come from a counter-based generator keyed by the seed, the
    parameter's `palm.name` and the global element index, so they do not
    depend on the mesh.

    ```mlir
    func.func @forward(
        %wq: tensor<512x8x64xf32> {palm.name = "layers.0.attention.wq",
                                   palm.init = #palm.init<normal(0.0441941738)>},
        %ln: tensor<512xf32> {palm.name = "layers.0.ln", palm.init = #palm.init<ones>})
    ```

    Constraints: `stddev` is given for `normal` only, and is positive and
    finite.
  }];
  let parameters = (ins "::mlir::palm::InitKind":$kind,
                        APFloatParameter<"standard deviation (normal only)">:$stddev);
  let extraClassDeclaration = [{
    /// The standard deviation as a double (0 unless the kind is normal).
    double getStddevValue() const { return getStddev().convertToDouble(); }
  }];
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
}

#endif // PALM_DIALECT_PALM_IR_PALMATTRS_TD
