//===- NestingLimit.h - refuse input nested too deep to parse ---*- C++ -*-===//
//
// MLIR's parser is recursive descent: every bracket it enters costs a few
// kilobytes of stack, and a few thousand nested brackets overflow the 8 MiB
// main thread (a crash, not a diagnostic). Every palm tool that parses MLIR
// text checks the input with this cheap lexical scan first.
//
//===----------------------------------------------------------------------===//

#ifndef PALM_SUPPORT_NESTINGLIMIT_H
#define PALM_SUPPORT_NESTINGLIMIT_H

#include "mlir/Support/LLVM.h"
#include "llvm/ADT/StringRef.h"

namespace llvm {
class MemoryBuffer;
} // namespace llvm

namespace mlir::palm {

/// The deepest bracket nesting ('{', '(', '[', '<' together) the tools
/// accept. The parser's deepest form costs about 2.1 KiB of stack per
/// bracket (nested regions; docs/compiling.md has the measurements), so
/// 1000 uses about a quarter of an 8 MiB stack, leaving the rest to the
/// passes, the printer and the destructors, which recurse too.
inline constexpr unsigned kMaxNestingDepth = 1000;

/// Scans `buffer` as MLIR text (skipping string literals and comments) and,
/// when brackets nest deeper than kMaxNestingDepth, prints an error at the
/// first bracket past the limit ("file:line:col: error: ...") to `os` and
/// fails. When `splitMarker` is given, each chunk it separates (as with
/// --split-input-file) is scanned on its own. MLIR bytecode passes
/// unscanned.
LogicalResult checkNestingDepth(const llvm::MemoryBuffer &buffer,
                                raw_ostream &os,
                                llvm::StringRef splitMarker = {});

} // namespace mlir::palm

#endif // PALM_SUPPORT_NESTINGLIMIT_H
