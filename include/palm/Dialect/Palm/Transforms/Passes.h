//===- Passes.h - palm passes -----------------------------------*- C++ -*-===//

#ifndef PALM_DIALECT_PALM_TRANSFORMS_PASSES_H
#define PALM_DIALECT_PALM_TRANSFORMS_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Pass/Pass.h"

namespace mlir::palm {

#define GEN_PASS_DECL
#include "palm/Dialect/Palm/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "palm/Dialect/Palm/Transforms/Passes.h.inc"

/// Adds propagation, partitioning and collective optimization to `pm`.
void buildSpmdPipeline(OpPassManager &pm, bool explain = false,
                       int64_t combineThreshold = 65536);

/// Registers palm-spmd-pipeline.
void registerPalmPipelines();

} // namespace mlir::palm

#endif // PALM_DIALECT_PALM_TRANSFORMS_PASSES_H
