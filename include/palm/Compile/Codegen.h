//===- Codegen.h - LLVM dialect to a native object file ---------*- C++ -*-===//

#ifndef PALM_COMPILE_CODEGEN_H
#define PALM_COMPILE_CODEGEN_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/raw_ostream.h"

#include <string>

namespace mlir::palm {

/// Translates `module` (LLVM dialect) to LLVM IR for the host, optimizes it
/// at -O3 for the host CPU, and writes textual LLVM IR (`asObject` false)
/// or an object file to `os`. Fails with a message in `error`.
llvm::LogicalResult emitHostCode(mlir::ModuleOp module, bool asObject,
                                 llvm::raw_pwrite_stream &os,
                                 std::string &error);

} // namespace mlir::palm

#endif // PALM_COMPILE_CODEGEN_H
