//===- PalmInterfaces.td - palm op interfaces ---------------*- tablegen -*-===//

#ifndef PALM_DIALECT_PALM_IR_PALMINTERFACES_TD
#define PALM_DIALECT_PALM_IR_PALMINTERFACES_TD

include "mlir/IR/OpBase.td"

def Palm_ShardingRuleOpInterface : OpInterface<"ShardingRuleOpInterface"> {
  let cppNamespace = "::mlir::palm";
  let description = [{
    An op that declares how its tensor dimensions relate: every dimension of
    every operand and result maps to a factor, and each factor has a kind
    (parallel, reduction, replicated, masked gather, log-sum-exp). Sharding
    propagation and SPMD partitioning are written once over these rules, so
    an op never hand-writes its own partitioning.
  }];
  let methods = [
    InterfaceMethod<
      "Returns the op's sharding rule, built from its operand and result types.",
      "::mlir::palm::ShardingRule", "getShardingRule">
  ];
}

def Palm_DifferentiableOpInterface : OpInterface<"DifferentiableOpInterface"> {
  let cppNamespace = "::mlir::palm";
  let description = [{
    An op with a reverse-mode rule (a vector-Jacobian product): given the
    cotangents of its results it builds, as ordinary palm ops, the
    cotangents of its operands. `-palm-autodiff` walks a function backwards
    and asks each op for its rule, so the backward pass is palm IR that
    propagation and partitioning treat like the forward.
  }];
  let methods = [
    InterfaceMethod<
      [{Prepares the op for differentiation before the backward pass is
        built, for an op whose rule needs a value the forward does not
        compute (attention's row log-sum-exp): returns the op to
        differentiate, which may be a replacement of this one.}],
      "::mlir::Operation *", "prepareForVjp",
      (ins "::mlir::OpBuilder &":$builder), [{}], [{
        return $_op.getOperation();
      }]>,
    InterfaceMethod<
      [{Builds the operands' cotangents from the results' cotangents
        (`resultCotangents`, one per result, null where a result does not
        reach the loss; at least one is set, except at the cross-entropy
        whose result is the loss a function returns: its null cotangent is
        the seed 1). `operandCotangents` gets one
        entry per operand: null for an operand without a gradient (integer
        ids). The builder's insertion point is where the ops go.}],
      "::llvm::LogicalResult", "buildVjp",
      (ins "::mlir::OpBuilder &":$builder,
           "::llvm::ArrayRef<::mlir::Value>":$resultCotangents,
           "::llvm::SmallVectorImpl<::mlir::Value> &":$operandCotangents)>
  ];
}

#endif // PALM_DIALECT_PALM_IR_PALMINTERFACES_TD
