//===- Training.h - what the training passes read of a function -*- C++ -*-===//
//
// The conventions -palm-autodiff, -palm-accumulate-gradients and
// -palm-optimizer share: which result is the loss, which are gradients.
//
//===----------------------------------------------------------------------===//

#ifndef PALM_DIALECT_PALM_TRANSFORMS_TRAINING_H
#define PALM_DIALECT_PALM_TRANSFORMS_TRAINING_H

#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace mlir::palm {

/// The loss of `fn`: the result named "loss" (palm.name), or else its only
/// 0-d f32 result; an error at `fn` when there is neither.
FailureOr<unsigned> findLossResult(func::FuncOp fn);

/// True when some result of `fn` is a gradient (palm.grad_of).
bool hasGradientResults(func::FuncOp fn);

/// Runs `rewrite` on every function of `module` that returns gradients;
/// fails, with an error naming `pass`, on a partitioned module or one
/// without such a function, and when a rewrite fails.
LogicalResult
forEachDifferentiatedFunction(ModuleOp module, StringRef pass,
                              function_ref<LogicalResult(func::FuncOp)> rewrite);

} // namespace mlir::palm

#endif // PALM_DIALECT_PALM_TRANSFORMS_TRAINING_H
