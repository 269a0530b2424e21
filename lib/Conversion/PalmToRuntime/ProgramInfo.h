//===- ProgramInfo.h - the program description for the runtime --*- C++ -*-===//

#ifndef PALM_LIB_CONVERSION_PALMTORUNTIME_PROGRAMINFO_H
#define PALM_LIB_CONVERSION_PALMTORUNTIME_PROGRAMINFO_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "palm/Dialect/Palm/IR/PalmOps.h"

#include <string>

namespace mlir::palm {

/// Writes the program description of docs/runtime-abi.md (versioned JSON)
/// for `fn`, a local function over `mesh` (null for a single device) whose
/// collectives use the communicator `groups` (axis lists, indexed by group
/// id); `cuda` makes its target "cuda". Fails with an error at `fn` when an
/// argument or result lacks what the runtime needs.
FailureOr<std::string>
describeProgram(func::FuncOp fn, MeshOp mesh,
                ArrayRef<SmallVector<StringAttr, 2>> groups, bool cuda);

} // namespace mlir::palm

#endif // PALM_LIB_CONVERSION_PALMTORUNTIME_PROGRAMINFO_H
