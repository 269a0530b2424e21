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

} // namespace mlir::palm

#endif // PALM_DIALECT_PALM_TRANSFORMS_PASSES_H
