//===- BufferPlan.h - arena offsets from liveness ---------------*- C++ -*-===//

#ifndef PALM_LIB_CONVERSION_PALMTORUNTIME_BUFFERPLAN_H
#define PALM_LIB_CONVERSION_PALMTORUNTIME_BUFFERPLAN_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"

#include <cstdint>

namespace mlir::palm {

/// One buffer of a straight-line program: live from the op that defines it
/// (`def`) through the last op that reads it (`lastUse`), both positions in
/// program order.
struct BufferRequest {
  int64_t bytes;
  int64_t def;
  int64_t lastUse;
};

/// Assigns each request an offset in one arena so buffers whose lifetimes
/// do not overlap share memory: the smaller of two placements, first fit in
/// definition order and largest buffer first into the smallest gap that
/// holds it. Offsets and sizes are multiples of `alignment`. Returns the
/// offsets (in request order) and sets `arenaBytes`.
llvm::SmallVector<int64_t> planArena(llvm::ArrayRef<BufferRequest> requests,
                                     int64_t alignment, int64_t &arenaBytes);

} // namespace mlir::palm

#endif // PALM_LIB_CONVERSION_PALMTORUNTIME_BUFFERPLAN_H
