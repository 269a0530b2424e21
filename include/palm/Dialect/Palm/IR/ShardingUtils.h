//===- ShardingUtils.h - shard sizes, bytes, function shardings -*- C++ -*-===//
//
// The small helpers every level of palm IR needs: the size of a shard, the
// bytes of a tensor, and the shardings on a function's signature. The
// sharding passes and the lowering to the runtime both use them, so they
// live with the dialect rather than with either.
//
//===----------------------------------------------------------------------===//

#ifndef PALM_DIALECT_PALM_IR_SHARDINGUTILS_H
#define PALM_DIALECT_PALM_IR_SHARDINGUTILS_H

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "palm/Dialect/Palm/IR/PalmOps.h"

namespace mlir::palm {

/// ceil(a / b) for positive b: the size of every shard of a dimension of
/// size `a` split `b` ways, the last ones padded.
inline int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// Bytes of one element of `type` (bf16 counts 2).
int64_t elementBytes(Type type);

/// Bytes of a tensor of `shape` with elements of `elementType`.
int64_t tensorBytes(ArrayRef<int64_t> shape, Type elementType);

/// The Transformer layer an op belongs to: the `i` of the first name in its
/// location with a component "layers.<i>" (palm-gen's naming, which
/// -palm-autodiff and -palm-optimizer extend: "layers.0.mlp.down.grad",
/// "optimizer.grad.layers.0.mlp.wdown"), or std::nullopt.
std::optional<int64_t> layerOf(Location loc);

/// The suffix -palm-autodiff{remat=layers} gives the names of the ops it
/// recomputes: work the program does only to save memory, not model FLOPs.
inline constexpr llvm::StringLiteral kRecomputedSuffix = ".remat";

/// The unit attribute on every op that recomputes a forward value for the
/// backward pass (the clones -palm-autodiff{remat=layers} makes, and the
/// collectives and masks the partitioner adds for them). It keeps CSE from
/// merging a recomputation with the forward op it repeats, which would keep
/// the forward's value alive until the backward and undo the
/// rematerialization.
inline constexpr llvm::StringLiteral kRecomputedAttrName = "palm.remat";

/// Reads the sharding of function argument `index`, or null.
ShardingAttr getArgSharding(FunctionOpInterface fn, unsigned index);
/// Reads the sharding of function result `index`, or null.
ShardingAttr getResultSharding(FunctionOpInterface fn, unsigned index);

} // namespace mlir::palm

#endif // PALM_DIALECT_PALM_IR_SHARDINGUTILS_H
