//===- DiagnosticPrinter.cpp - diagnostics that name their op -------------===//
//
// A location is taken apart into the names it carries and the first file
// location inside it (through names, fused locations, the callee of a call
// site and opaque locations), in the order MLIR's own handler searches.
//
//===----------------------------------------------------------------------===//

#include "palm/Support/DiagnosticPrinter.h"

#include "mlir/IR/BuiltinDialect.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/Location.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"

#include <mutex>

using namespace mlir;
using namespace mlir::palm;

namespace {

/// What of a location can be shown: its names and a file position.
struct LocationParts {
  llvm::SetVector<StringRef> names;
  FileLineColLoc file;
};

} // namespace

static void collectParts(Location loc, LocationParts &parts) {
  llvm::TypeSwitch<LocationAttr>(loc)
      .Case([&](NameLoc name) {
        parts.names.insert(name.getName().getValue());
        collectParts(name.getChildLoc(), parts);
      })
      .Case([&](FileLineColLoc file) {
        if (!parts.file)
          parts.file = file;
      })
      .Case([&](FusedLoc fused) {
        for (Location child : fused.getLocations())
          collectParts(child, parts);
      })
      .Case([&](CallSiteLoc call) { collectParts(call.getCallee(), parts); })
      .Case([&](OpaqueLoc opaque) {
        collectParts(opaque.getFallbackLocation(), parts);
      });
}

/// The call site `loc` is, under any names.
static CallSiteLoc getCallSite(Location loc) {
  if (auto name = dyn_cast<NameLoc>(loc))
    return getCallSite(name.getChildLoc());
  return dyn_cast<CallSiteLoc>(loc);
}

static llvm::SourceMgr::DiagKind getKind(DiagnosticSeverity severity) {
  switch (severity) {
  case DiagnosticSeverity::Note:
    return llvm::SourceMgr::DK_Note;
  case DiagnosticSeverity::Warning:
    return llvm::SourceMgr::DK_Warning;
  case DiagnosticSeverity::Error:
    return llvm::SourceMgr::DK_Error;
  case DiagnosticSeverity::Remark:
    return llvm::SourceMgr::DK_Remark;
  }
  llvm_unreachable("unknown diagnostic severity");
}

DiagnosticPrinter::DiagnosticPrinter(llvm::SourceMgr &sourceMgr,
                                     StringRef toolName, raw_ostream &os)
    : sourceMgr(sourceMgr), toolName(toolName), os(os) {}

void DiagnosticPrinter::print(Diagnostic &diag) {
  Location loc = diag.getLocation();
  print(loc, diag.str(), diag.getSeverity(), /*showSourceLine=*/true);
  // Like MLIR's handler: at most 10 callers, as notes.
  CallSiteLoc call = getCallSite(loc);
  for (int depth = 0; call && depth < 10; ++depth) {
    print(call.getCaller(), "called from", DiagnosticSeverity::Note,
          /*showSourceLine=*/true);
    call = getCallSite(call.getCaller());
  }
  // A note repeats the source line and the names only where it points
  // elsewhere.
  for (Diagnostic &note : diag.getNotes()) {
    bool elsewhere = note.getLocation() != loc;
    print(note.getLocation(), note.str(), note.getSeverity(), elsewhere,
          elsewhere);
    loc = note.getLocation();
  }
}

void DiagnosticPrinter::print(Location loc, StringRef message,
                              DiagnosticSeverity severity, bool showSourceLine,
                              bool showNames) {
  LocationParts parts;
  collectParts(loc, parts);
  std::string names;
  for (auto [i, name] : llvm::enumerate(parts.names))
    names += (i == 0 ? "" : ", ") + name.str();

  if (!parts.file) {
    // A name stands where a file position would; the tool's name where
    // there is neither.
    llvm::SMDiagnostic(names.empty() ? StringRef(toolName) : StringRef(names),
                       getKind(severity), message)
        .print(nullptr, os);
    return;
  }
  std::string text = message.str();
  if (showNames && !parts.names.empty()) {
    text += " (at ";
    for (auto [i, name] : llvm::enumerate(parts.names))
      text += (i == 0 ? "'" : ", '") + name.str() + "'";
    text += ")";
  }
  llvm::SMLoc position = showSourceLine ? findInSource(parts.file)
                                        : llvm::SMLoc();
  if (position.isValid()) {
    sourceMgr.PrintMessage(os, position, getKind(severity), text);
    return;
  }
  std::string where = (parts.file.getFilename().getValue() + ":" +
                       Twine(parts.file.getLine()) + ":" +
                       Twine(parts.file.getColumn()))
                          .str();
  llvm::SMDiagnostic(where, getKind(severity), text).print(nullptr, os);
}

llvm::SMLoc DiagnosticPrinter::findInSource(FileLineColLoc loc) {
  StringRef filename = loc.getFilename().getValue();
  unsigned bufferId = 0;
  for (unsigned id = 1, e = sourceMgr.getNumBuffers(); id <= e; ++id)
    if (sourceMgr.getMemoryBuffer(id)->getBufferIdentifier() == filename) {
      bufferId = id;
      break;
    }
  if (!bufferId) {
    llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> file =
        llvm::MemoryBuffer::getFile(filename, /*IsText=*/true);
    if (!file)
      return llvm::SMLoc();
    bufferId = sourceMgr.AddNewSourceBuffer(std::move(*file), llvm::SMLoc());
  }
  // MLIR columns start at 1 and may point one past the line's end.
  if (loc.getLine() == 0 || loc.getColumn() == 0)
    return llvm::SMLoc();
  return sourceMgr.FindLocForLineAndColumn(bufferId, loc.getLine(),
                                           loc.getColumn());
}

ScopedDiagnosticPrinter::ScopedDiagnosticPrinter(llvm::SourceMgr &sourceMgr,
                                                 MLIRContext *context,
                                                 StringRef toolName,
                                                 raw_ostream &os)
    : ScopedDiagnosticHandler(context), printer(sourceMgr, toolName, os) {
  setHandler([this](Diagnostic &diag) { printer.print(diag); });
}

namespace {

/// A printer with a source manager of its own, owned by the handler the
/// extension registers, so that it dies with its context.
struct OwnedPrinter {
  OwnedPrinter(const llvm::MemoryBuffer &input, StringRef toolName)
      : printer(sourceMgr, toolName) {
    sourceMgr.AddNewSourceBuffer(
        llvm::MemoryBuffer::getMemBuffer(input.getMemBufferRef(),
                                         /*RequiresNullTerminator=*/false),
        llvm::SMLoc());
  }
  llvm::SourceMgr sourceMgr;
  DiagnosticPrinter printer;
};

/// Registers an OwnedPrinter in a context when it loads its first dialect
/// other than builtin (DiagnosticPrinter.h says why then).
class DiagnosticPrinterExtension : public DialectExtensionBase {
public:
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(DiagnosticPrinterExtension)

  DiagnosticPrinterExtension(const llvm::MemoryBuffer &input,
                             StringRef toolName)
      : DialectExtensionBase({}), input(input), toolName(toolName) {}

  void apply(MLIRContext *context,
             MutableArrayRef<Dialect *> dialects) const override {
    if (llvm::all_of(dialects, [](Dialect *dialect) {
          return dialect->getNamespace() == BuiltinDialect::getDialectNamespace();
        }))
      return;
    // A context's printer lives as long as its handler; an expired entry is
    // a destroyed context whose address was reused.
    static std::mutex mutex;
    static llvm::DenseMap<MLIRContext *, std::weak_ptr<OwnedPrinter>>
        printers;
    std::lock_guard<std::mutex> lock(mutex);
    std::weak_ptr<OwnedPrinter> &entry = printers[context];
    if (!entry.expired())
      return;
    auto printer = std::make_shared<OwnedPrinter>(input, toolName);
    entry = printer;
    context->getDiagEngine().registerHandler(
        [printer](Diagnostic &diag) { printer->printer.print(diag); });
  }

  std::unique_ptr<DialectExtensionBase> clone() const override {
    return std::make_unique<DiagnosticPrinterExtension>(input, toolName);
  }

private:
  const llvm::MemoryBuffer &input;
  std::string toolName;
};

} // namespace

void mlir::palm::addDiagnosticPrinterExtension(DialectRegistry &registry,
                                               const llvm::MemoryBuffer &input,
                                               StringRef toolName) {
  registry.addExtension(
      TypeID::get<DiagnosticPrinterExtension>(),
      std::make_unique<DiagnosticPrinterExtension>(input, toolName));
}
