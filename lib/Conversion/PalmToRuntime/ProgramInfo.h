//===- ProgramInfo.h - the program description for the runtime --*- C++ -*-===//

#ifndef PALM_LIB_CONVERSION_PALMTORUNTIME_PROGRAMINFO_H
#define PALM_LIB_CONVERSION_PALMTORUNTIME_PROGRAMINFO_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "palm/Dialect/Palm/IR/PalmOps.h"

#include <string>

namespace mlir::palm {

/// What the arena plan says of one device's memory (the description's
/// "memory"; palm-compile --memory-report prints it).
struct MemoryPlan {
  /// The arena: every intermediate value, placed by liveness (BufferPlan.h).
  int64_t arenaBytes = 0;
  /// The most bytes of intermediates live at one point of the program (the
  /// arena's lower bound; the rest is fragmentation).
  int64_t peakLiveBytes = 0;
  /// The parameter gradients the optimizer reads, all of them, and those
  /// live at that point.
  int64_t gradientBytes = 0, gradientsAtPeak = 0;
  /// The CPU runtime's staging buffers of collectives whose pieces are not
  /// contiguous (packed before sending, unpacked after receiving): the
  /// largest packing of each direction; 0 on cuda.
  int64_t collectiveStaging = 0;
  /// The largest values live at that point: the name of the op that
  /// computes each (its location's), and its bytes; largest first.
  SmallVector<std::pair<std::string, int64_t>> largestAtPeak;
};

/// Writes the program description of docs/runtime-abi.md (versioned JSON)
/// for `fn`, a local function over `mesh` (null for a single device) whose
/// collectives use the communicator `groups` (axis lists, indexed by group
/// id) and whose arena is `memory`; `cuda` makes its target "cuda". Fails
/// with an error at `fn` when an argument or result lacks what the runtime
/// needs.
FailureOr<std::string>
describeProgram(func::FuncOp fn, MeshOp mesh,
                ArrayRef<SmallVector<StringAttr, 2>> groups,
                const MemoryPlan &memory, bool cuda);

} // namespace mlir::palm

#endif // PALM_LIB_CONVERSION_PALMTORUNTIME_PROGRAMINFO_H
