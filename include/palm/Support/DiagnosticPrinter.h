//===- DiagnosticPrinter.h - diagnostics that name their op -----*- C++ -*-===//
//
// The one way palm's tools print diagnostics. Like MLIR's
// SourceMgrDiagnosticHandler it prints "file:line:col: error: ..." and the
// source line; unlike it, it also prints the name of a named location, and
// prints a location that is only a name (palm-gen writes one per op) as
// that name rather than as "<unknown>:0: error: loc(...)":
//
//   model.mlir:12:5: error: ... (at 'embedding.constraint')
//   embedding.constraint: error: ...
//   palm-opt: error: ...                 (no location at all)
//
// MLIR's verifier handler (--verify-diagnostics) is left as it is.
//
//===----------------------------------------------------------------------===//

#ifndef PALM_SUPPORT_DIAGNOSTICPRINTER_H
#define PALM_SUPPORT_DIAGNOSTICPRINTER_H

#include "mlir/IR/Diagnostics.h"
#include "llvm/Support/raw_ostream.h"

#include <memory>
#include <string>

namespace llvm {
class MemoryBuffer;
class SourceMgr;
} // namespace llvm

namespace mlir {
class DialectRegistry;

namespace palm {

/// Prints diagnostics to a stream; the source lines come from `sourceMgr`,
/// or from the named file when no buffer of the source manager has that
/// name.
class DiagnosticPrinter {
public:
  DiagnosticPrinter(llvm::SourceMgr &sourceMgr, llvm::StringRef toolName,
                    raw_ostream &os = llvm::errs());

  /// Prints `diag`, its call stack and its notes.
  void print(Diagnostic &diag);

private:
  /// Prints one message at `loc`; `showNames` appends the names of a
  /// location that has a file position.
  void print(Location loc, llvm::StringRef message,
             DiagnosticSeverity severity, bool showSourceLine,
             bool showNames = true);
  /// The start of `loc` in a buffer of the source manager, or an invalid
  /// SMLoc.
  llvm::SMLoc findInSource(FileLineColLoc loc);

  llvm::SourceMgr &sourceMgr;
  std::string toolName;
  raw_ostream &os;
};

/// Prints every diagnostic of `context` with a DiagnosticPrinter while it
/// lives (palm-compile, palm-gen).
class ScopedDiagnosticPrinter : public ScopedDiagnosticHandler {
public:
  ScopedDiagnosticPrinter(llvm::SourceMgr &sourceMgr, MLIRContext *context,
                          llvm::StringRef toolName,
                          raw_ostream &os = llvm::errs());

private:
  DiagnosticPrinter printer;
};

/// Makes every context built from `registry` print its diagnostics with a
/// DiagnosticPrinter whose source is `input`, for drivers that create their
/// contexts and handlers themselves (MlirOptMain). The printer goes above
/// the driver's handler when the context loads its first dialect other than
/// builtin, as the parser does at the first op; what is reported before that
/// is a syntax error, which has a file location and prints the same either
/// way. A handler registered later (a pass's) still goes first. `input` must
/// outlive those contexts.
void addDiagnosticPrinterExtension(DialectRegistry &registry,
                                   const llvm::MemoryBuffer &input,
                                   llvm::StringRef toolName);

} // namespace palm
} // namespace mlir

#endif // PALM_SUPPORT_DIAGNOSTICPRINTER_H
