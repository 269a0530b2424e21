//===- PalmOps.h - palm operations ------------------------------*- C++ -*-===//

#ifndef PALM_DIALECT_PALM_IR_PALMOPS_H
#define PALM_DIALECT_PALM_IR_PALMOPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "palm/Dialect/Palm/IR/PalmAttrs.h"
#include "palm/Dialect/Palm/IR/PalmDialect.h"
#include "palm/Dialect/Palm/IR/ShardingRule.h"

#include "palm/Dialect/Palm/IR/PalmInterfaces.h.inc"

#define GET_OP_CLASSES
#include "palm/Dialect/Palm/IR/PalmOps.h.inc"

namespace mlir::palm {

/// The level of the module enclosing `op` (global when unmarked or when `op`
/// is in no module).
Level getLevel(Operation *op);

/// Fails, reporting at `op`, unless `op` is in a local-level module. `what`
/// names the kind of op in the message.
LogicalResult verifyLocalOnly(Operation *op, StringRef what);

/// Verifies the `token_count`/`token_shards` attributes of a loss op with
/// `numTokenDims` token dimensions.
LogicalResult verifyTokenShards(Operation *op,
                                std::optional<int64_t> tokenCount,
                                ArrayAttr tokenShards, int64_t numTokenDims);

/// The shardings recorded on `op`'s results by `palm.shardings`, or an empty
/// array when there are none.
ArrayAttr getResultShardings(Operation *op);

} // namespace mlir::palm

#endif // PALM_DIALECT_PALM_IR_PALMOPS_H
