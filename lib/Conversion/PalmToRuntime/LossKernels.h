//===- LossKernels.h - row reductions of the loss kernels -------*- C++ -*-===//
//
// Pieces of the softmax and cross-entropy kernels (EmbeddingLossGpu.cpp):
// one warp reduces one row of logits, lanes reading 16 bytes at a time
// when the rows are aligned; per-token losses are summed by one warp in a
// fixed order, so the loss is deterministic.
//
//===----------------------------------------------------------------------===//

#ifndef PALM_LIB_CONVERSION_PALMTORUNTIME_LOSSKERNELS_H
#define PALM_LIB_CONVERSION_PALMTORUNTIME_LOSSKERNELS_H

#include "GpuKernels.h"

namespace mlir::palm::lowering {

/// Maximum over classes [0, count) of the row that starts at element `base`
/// of `logits` (elements of type `t`, rows of `vocab`), in every lane.
Value rowMax(OpBuilder &b, Location loc, Type t, Value logits, Value base,
             Value lane, Value count, Value vocab);

/// Sum over classes [0, count) of exp(logit - max), in every lane.
Value rowSumExp(OpBuilder &b, Location loc, Type t, Value logits, Value base,
                Value lane, Value count, Value vocab, Value max);

/// i1: token `row` (flat over `tokenShape`) is real, every coordinate below
/// its valid extent (not padding).
Value isRealToken(OpBuilder &b, Location loc, Value row,
                  ArrayRef<int64_t> tokenShape, ArrayRef<Value> validExtents);

/// Loss of token `row` from logZ and the target logit, divided by `count`;
/// zero for padding tokens (a coordinate at or past its valid extent).
Value tokenLoss(OpBuilder &b, Location loc, Value row,
                ArrayRef<int64_t> tokenShape, ArrayRef<Value> validExtents,
                Value logZ, Value target, Value zLoss, Value count);

/// The kernel (ptr in, ptr out, i64 n) writing the sum of n f32 values.
StringRef sumKernel(GpuKernels &gpu, MLIRContext *ctx);

} // namespace mlir::palm::lowering

#endif // PALM_LIB_CONVERSION_PALMTORUNTIME_LOSSKERNELS_H
