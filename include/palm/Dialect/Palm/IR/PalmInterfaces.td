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

#endif // PALM_DIALECT_PALM_IR_PALMINTERFACES_TD
