//===- PalmBase.td - palm dialect definition ----------------*- tablegen -*-===//
//
// The palm dialect: a dense Transformer with sharding annotations over a
// named device mesh, at the global (logical shapes) or local (per-device
// shapes, explicit collectives) level.
//
//===----------------------------------------------------------------------===//

#ifndef PALM_DIALECT_PALM_IR_PALMBASE_TD
#define PALM_DIALECT_PALM_IR_PALMBASE_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def Palm_Dialect : Dialect {
  let name = "palm";
  let cppNamespace = "::mlir::palm";
  let summary = "A sharded dense Transformer and its SPMD collectives";
  let description = [{
    The `palm` dialect expresses a PaLM-style dense Transformer (its forward
    pass or its whole training step) together with how every tensor is
    distributed over a named device mesh.

    A module is at one of two levels, recorded in the module attribute
    `palm.level` (absent means global):

    * **global**: tensors have their logical shapes. A sharding is an
      attribute (`#palm.sharding`) on function arguments and results, on
      `palm.sharding_constraint`, or, after propagation, in the `palm.shardings`
      attribute of any op; it never changes a type.
    * **local**: tensors have per-device shapes and communication is explicit
      in the collective ops (`palm.all_gather`, `palm.all_reduce`, ...), each
      naming the mesh axes it communicates over.

    Every tensor op of the global level declares a *sharding rule* through
    `ShardingRuleOpInterface`: each tensor dimension maps to a factor, and a
    factor is parallel, a reduction, must be replicated, or follows one of
    two masked rules (a gather over a sharded table, a log-sum-exp over a
    sharded class dimension). Propagation and partitioning are written once
    over these rules.
  }];
  let useDefaultAttributePrinterParser = 1;
  let hasOperationAttrVerify = 1;
  let hasRegionArgAttrVerify = 1;
  let hasRegionResultAttrVerify = 1;
  let extraClassDeclaration = [{
    /// Registers the attributes (defined in PalmAttrs.cpp, beside their
    /// storage classes).
    void registerAttributes();
    /// Name of the discardable attribute holding one sharding per op result.
    static constexpr ::llvm::StringLiteral kShardingsAttrName = "palm.shardings";
    /// Name of the function argument/result attribute holding a sharding.
    static constexpr ::llvm::StringLiteral kShardingAttrName = "palm.sharding";
    /// Name of the argument attribute naming a parameter or an input.
    static constexpr ::llvm::StringLiteral kNameAttrName = "palm.name";
    /// Name of the argument attribute marking a parameter and its initializer.
    static constexpr ::llvm::StringLiteral kInitAttrName = "palm.init";
    /// Function result attribute: the argument number of the parameter
    /// whose gradient the result is (-palm-autodiff).
    static constexpr ::llvm::StringLiteral kGradOfAttrName = "palm.grad_of";
    /// Function argument attribute of a training step's other arguments:
    /// "state" (optimizer state, zero at the start) or "step" (the 1-based
    /// step number as a 0-d f32, filled by the runtime).
    static constexpr ::llvm::StringLiteral kRoleAttrName = "palm.role";
    /// Function result attribute: the number of the argument whose new
    /// value the result is (the runtime updates that argument in place).
    static constexpr ::llvm::StringLiteral kAliasesAttrName = "palm.aliases";
    /// Function argument attribute of a training step's input that is one
    /// micro-batch of the step's batch: [index, count]
    /// (-palm-accumulate-gradients); the runtime fills it with rows
    /// index * n ... (index + 1) * n - 1 of the batch, n its first dimension.
    static constexpr ::llvm::StringLiteral kMicrobatchAttrName =
        "palm.microbatch";
    /// Name of the local-level argument/result attribute holding the global
    /// type of the value a local argument or result is one shard of.
    static constexpr ::llvm::StringLiteral kGlobalTypeAttrName =
        "palm.global_type";
    /// Name of the module attribute recording the IR level.
    static constexpr ::llvm::StringLiteral kLevelAttrName = "palm.level";
    /// Name of the optional module attribute holding the model FLOPs of one
    /// forward step (an i64 >= 0), which palm-compile records before
    /// partitioning and the runtime turns into an MFU.
    static constexpr ::llvm::StringLiteral kForwardFlopsAttrName =
        "palm.forward_flops";
  }];
}

def Palm_ReductionKind : I32EnumAttr<"ReductionKind",
    "how pending partial results combine", [
  I32EnumAttrCase<"Sum", 0, "sum">,
  I32EnumAttrCase<"Max", 1, "max">
]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::mlir::palm";
}

def Palm_ReductionKindAttr
    : EnumAttr<Palm_Dialect, Palm_ReductionKind, "reduction"> {
  let summary = "reduction kind of a collective or an unreduced axis";
  let description = [{
    `sum` or `max`. Inside a collective it prints as the bare keyword:
    `palm.all_reduce %x on @mesh [model] sum : tensor<4x8xf32>`.
  }];
  let assemblyFormat = "$value";
}

def Palm_InitKind : I32EnumAttr<"InitKind", "parameter initializer", [
  I32EnumAttrCase<"Normal", 0, "normal">,
  I32EnumAttrCase<"Ones", 1, "ones">,
  I32EnumAttrCase<"Zeros", 2, "zeros">
]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::mlir::palm";
}

def Palm_Level : I32EnumAttr<"Level", "IR level of a palm module", [
  I32EnumAttrCase<"Global", 0, "global">,
  I32EnumAttrCase<"Local", 1, "local">
]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::mlir::palm";
}

def Palm_LevelAttr : EnumAttr<Palm_Dialect, Palm_Level, "level"> {
  let summary = "IR level of a module: global or local";
  let description = [{
    Attached to the module as `palm.level`. At the `global` level tensors keep
    their logical shapes; at the `local` level they have per-device shapes
    and collectives are explicit. A module without the attribute is global.

    ```mlir
    module attributes {palm.level = #palm.level<local>} { ... }
    ```
  }];
  let assemblyFormat = "`<` $value `>`";
}

#endif // PALM_DIALECT_PALM_IR_PALMBASE_TD
