//===- NestingLimit.cpp - refuse input nested too deep to parse -----------===//
//
// A lexical scan, not a parse: it knows string literals and comments, and
// treats '{' '(' '[' '<' and their closers as one stack of brackets. It may
// misjudge text a dialect lexes its own way, so it errs towards accepting:
// a '>' is a closer only where a '<' is innermost and it is not an arrow
// ("->"), and a closer pops every '<' left open above its own opener.
//
//===----------------------------------------------------------------------===//

#include "palm/Support/NestingLimit.h"

#include "mlir/Bytecode/BytecodeReader.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"

using namespace mlir;

static char getCloser(char opener) {
  switch (opener) {
  case '{':
    return '}';
  case '(':
    return ')';
  case '[':
    return ']';
  default:
    return '>';
  }
}

LogicalResult mlir::palm::checkNestingDepth(const llvm::MemoryBuffer &buffer,
                                            raw_ostream &os,
                                            llvm::StringRef splitMarker) {
  // Bytecode is no text: its strings are raw bytes, and its reader keeps
  // its own stack of regions.
  if (isBytecode(buffer.getMemBufferRef()))
    return success();
  llvm::StringRef text = buffer.getBuffer();
  // The closer each open bracket expects, innermost last.
  llvm::SmallVector<char> open;
  unsigned line = 1;
  size_t lineBegin = 0;
  bool onlyBlanksSoFar = true;
  for (size_t i = 0, e = text.size(); i < e; ++i) {
    char c = text[i];
    switch (c) {
    case '\n':
      ++line;
      lineBegin = i + 1;
      onlyBlanksSoFar = true;
      continue;
    case ' ':
    case '\t':
    case '\r':
      continue;
    case '"':
      // A string ends at its quote or, unterminated, at the line's end (the
      // parser reports that one).
      for (++i; i < e && text[i] != '"' && text[i] != '\n'; ++i)
        if (text[i] == '\\')
          ++i;
      if (i < e && text[i] == '\n')
        --i;
      break;
    case '/':
      if (i + 1 < e && text[i + 1] == '/') {
        if (onlyBlanksSoFar && !splitMarker.empty() &&
            text.substr(i).starts_with(splitMarker))
          open.clear();
        size_t end = text.find('\n', i);
        i = (end == llvm::StringRef::npos ? e : end) - 1;
      }
      break;
    case '{':
    case '(':
    case '[':
    case '<':
      open.push_back(getCloser(c));
      if (open.size() > kMaxNestingDepth) {
        std::string where = (buffer.getBufferIdentifier() + ":" +
                             llvm::Twine(line) + ":" +
                             llvm::Twine(i - lineBegin + 1))
                                .str();
        llvm::SMDiagnostic(
            where, llvm::SourceMgr::DK_Error,
            ("brackets nest more than " + llvm::Twine(kMaxNestingDepth) +
             " deep here; palm refuses input nested this deep (\"Input "
             "limits\" in docs/compiling.md)")
                .str())
            .print(nullptr, os);
        return failure();
      }
      break;
    case '>':
      if (i > 0 && text[i - 1] == '-')
        break; // "->"
      if (!open.empty() && open.back() == '>')
        open.pop_back();
      break;
    case '}':
    case ')':
    case ']': {
      auto match = llvm::find(llvm::reverse(open), c);
      if (match != open.rend())
        open.resize(open.rend() - match - 1);
      break;
    }
    default:
      break;
    }
    onlyBlanksSoFar = false;
  }
  return success();
}
