//===- MemoryReport.h - palm-compile --memory-report ------------*- C++ -*-===//
//
// One device's memory as the lowered program plans it: its arguments and
// results (from the program description) and its arena (from the buffer
// plan), printed as a table.
//
//===----------------------------------------------------------------------===//

#ifndef PALM_COMPILE_MEMORYREPORT_H
#define PALM_COMPILE_MEMORYREPORT_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/raw_ostream.h"

#include <string>

namespace mlir::palm {

/// Prints the memory report of `lowered` (after -palm-lower-to-runtime) to
/// `os`; on failure (no program description in the module) sets `error`.
LogicalResult printMemoryReport(ModuleOp lowered, llvm::raw_ostream &os,
                                std::string &error);

} // namespace mlir::palm

#endif // PALM_COMPILE_MEMORYREPORT_H
