//===- PalmAttrs.cpp - palm attributes ------------------------------------===//

#include "palm/Dialect/Palm/IR/PalmAttrs.h"

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/SymbolTable.h"
#include "palm/Dialect/Palm/IR/PalmOps.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>

using namespace mlir;
using namespace mlir::palm;

#define GET_ATTRDEF_CLASSES
#include "palm/Dialect/Palm/IR/PalmAttrs.cpp.inc"

void PalmDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "palm/Dialect/Palm/IR/PalmAttrs.cpp.inc"
      >();
}

//===----------------------------------------------------------------------===//
// AxisListAttr
//===----------------------------------------------------------------------===//

/// Parses `[a, b, ...]` of axis names (bare identifiers or strings).
static ParseResult parseAxisNames(AsmParser &parser,
                                  SmallVectorImpl<StringAttr> &axes) {
  return parser.parseCommaSeparatedList(
      AsmParser::Delimiter::Square, [&]() -> ParseResult {
        std::string name;
        if (parser.parseKeywordOrString(&name))
          return failure();
        axes.push_back(parser.getBuilder().getStringAttr(name));
        return success();
      });
}

static void printAxisNames(AsmPrinter &printer, ArrayRef<StringAttr> axes) {
  printer << '[';
  llvm::interleaveComma(axes, printer, [&](StringAttr axis) {
    printer.printKeywordOrString(axis.getValue());
  });
  printer << ']';
}

Attribute AxisListAttr::parse(AsmParser &parser, Type) {
  SmallVector<StringAttr> axes;
  if (parser.parseLess() || parseAxisNames(parser, axes) ||
      parser.parseGreater())
    return {};
  return getChecked([&] { return parser.emitError(parser.getNameLoc()); },
                    parser.getContext(), axes);
}

void AxisListAttr::print(AsmPrinter &printer) const {
  printer << '<';
  printAxisNames(printer, getAxes());
  printer << '>';
}

LogicalResult
AxisListAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                     ArrayRef<StringAttr> axes) {
  llvm::StringSet<> seen;
  for (StringAttr axis : axes) {
    if (axis.getValue().empty())
      return emitError() << "mesh axis names must be non-empty";
    if (!seen.insert(axis.getValue()).second)
      return emitError() << "mesh axis '" << axis.getValue()
                         << "' appears twice in one dimension";
  }
  return success();
}

//===----------------------------------------------------------------------===//
// ShardingAttr
//===----------------------------------------------------------------------===//

Attribute ShardingAttr::parse(AsmParser &parser, Type) {
  MLIRContext *ctx = parser.getContext();
  SMLoc loc = parser.getCurrentLocation();
  FlatSymbolRefAttr mesh;
  SmallVector<AxisListAttr> dims;
  SmallVector<StringAttr> unreducedAxes;
  SmallVector<ReductionKind> unreducedKinds;
  auto emitError = [&] { return parser.emitError(loc); };

  if (parser.parseLess() || parser.parseAttribute(mesh) || parser.parseComma())
    return {};
  if (parser.parseCommaSeparatedList(
          AsmParser::Delimiter::Square, [&]() -> ParseResult {
            SmallVector<StringAttr> axes;
            if (parseAxisNames(parser, axes))
              return failure();
            AxisListAttr dim = AxisListAttr::getChecked(emitError, ctx, axes);
            if (!dim)
              return failure();
            dims.push_back(dim);
            return success();
          }))
    return {};
  if (succeeded(parser.parseOptionalComma())) {
    if (parser.parseKeyword("unreduced") || parser.parseEqual() ||
        parser.parseCommaSeparatedList(
            AsmParser::Delimiter::Square, [&]() -> ParseResult {
              std::string axis;
              StringRef kindName;
              SMLoc kindLoc;
              if (parser.parseKeywordOrString(&axis) || parser.parseColon())
                return failure();
              kindLoc = parser.getCurrentLocation();
              if (parser.parseKeyword(&kindName))
                return failure();
              std::optional<ReductionKind> kind =
                  symbolizeReductionKind(kindName);
              if (!kind)
                return parser.emitError(kindLoc)
                       << "expected reduction kind 'sum' or 'max', got '"
                       << kindName << "'";
              unreducedAxes.push_back(StringAttr::get(ctx, axis));
              unreducedKinds.push_back(*kind);
              return success();
            }))
      return {};
  }
  if (parser.parseGreater())
    return {};
  return getChecked(emitError, ctx, mesh, dims, unreducedAxes,
                    unreducedKinds);
}

void ShardingAttr::print(AsmPrinter &printer) const {
  printer << '<' << getMesh() << ", [";
  llvm::interleaveComma(getDims(), printer, [&](AxisListAttr dim) {
    printAxisNames(printer, dim.getAxes());
  });
  printer << ']';
  if (!getUnreducedAxes().empty()) {
    printer << ", unreduced = [";
    llvm::interleaveComma(
        llvm::zip(getUnreducedAxes(), getUnreducedKinds()), printer,
        [&](auto pair) {
          printer.printKeywordOrString(std::get<0>(pair).getValue());
          printer << ": " << stringifyReductionKind(std::get<1>(pair));
        });
    printer << ']';
  }
  printer << '>';
}

LogicalResult
ShardingAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                     FlatSymbolRefAttr mesh, ArrayRef<AxisListAttr> dims,
                     ArrayRef<StringAttr> unreducedAxes,
                     ArrayRef<ReductionKind> unreducedKinds) {
  if (!mesh)
    return emitError() << "a sharding needs a mesh symbol";
  if (unreducedAxes.size() != unreducedKinds.size())
    return emitError() << "every unreduced axis needs one reduction kind";
  llvm::StringSet<> seen;
  for (auto [i, dim] : llvm::enumerate(dims)) {
    if (!dim)
      return emitError() << "dimension #" << i << " has no axis list";
    for (StringAttr axis : dim.getAxes())
      if (!seen.insert(axis.getValue()).second)
        return emitError() << "mesh axis '" << axis.getValue()
                           << "' shards more than one dimension";
  }
  for (StringAttr axis : unreducedAxes) {
    if (axis.getValue().empty())
      return emitError() << "mesh axis names must be non-empty";
    if (!seen.insert(axis.getValue()).second)
      return emitError() << "mesh axis '" << axis.getValue()
                         << "' is unreduced and also "
                         << (llvm::any_of(dims,
                                          [&](AxisListAttr d) {
                                            return llvm::is_contained(
                                                d.getAxes(), axis);
                                          })
                                 ? "shards a dimension"
                                 : "unreduced twice");
  }
  return success();
}

bool ShardingAttr::isFullyReplicated() const {
  return getUnreducedAxes().empty() &&
         llvm::all_of(getDims(),
                      [](AxisListAttr d) { return d.isReplicated(); });
}

int64_t ShardingAttr::getDimOfAxis(StringRef axis) const {
  for (auto [i, dim] : llvm::enumerate(getDims()))
    if (llvm::any_of(dim.getAxes(),
                     [&](StringAttr a) { return a.getValue() == axis; }))
      return i;
  return -1;
}

std::optional<ReductionKind>
ShardingAttr::getUnreducedKind(StringRef axis) const {
  for (auto [a, kind] : llvm::zip(getUnreducedAxes(), getUnreducedKinds()))
    if (a.getValue() == axis)
      return kind;
  return std::nullopt;
}

SmallVector<StringAttr> ShardingAttr::getAllAxes() const {
  SmallVector<StringAttr> axes;
  for (AxisListAttr dim : getDims())
    llvm::append_range(axes, dim.getAxes());
  llvm::append_range(axes, getUnreducedAxes());
  return axes;
}

LogicalResult ShardingAttr::verifyFor(Operation *anchor, Location loc,
                                      Type type, const Twine &what) const {
  auto tensor = dyn_cast<RankedTensorType>(type);
  if (!tensor)
    return emitError(loc)
           << "sharding " << *this << " on " << what
           << " needs a ranked tensor, but the type is " << type;
  if (tensor.getRank() != getRank())
    return emitError(loc)
           << "sharding " << *this << " on " << what << " has " << getRank()
           << " dimensions, but " << tensor << " has rank "
           << tensor.getRank();
  auto mesh =
      SymbolTable::lookupNearestSymbolFrom<MeshOp>(anchor, getMesh());
  if (!mesh)
    return emitError(loc)
           << "sharding " << *this << " on " << what << " names "
           << getMesh() << ", which is not a palm.mesh in scope";
  for (StringAttr axis : getAllAxes())
    if (!mesh.getAxisIndex(axis.getValue()))
      return emitError(loc)
             << "sharding " << *this << " on " << what << " uses axis '"
             << axis.getValue() << "', which mesh " << getMesh()
             << " does not have";
  if (!getUnreducedAxes().empty() &&
      isa<IntegerType>(tensor.getElementType()))
    return emitError(loc)
           << "sharding " << *this << " on " << what
           << " has unreduced axes, but " << tensor
           << " holds integers, which are never partial sums or maxima";
  return success();
}

//===----------------------------------------------------------------------===//
// InitAttr
//===----------------------------------------------------------------------===//

Attribute InitAttr::parse(AsmParser &parser, Type) {
  SMLoc loc = parser.getCurrentLocation();
  StringRef kindName;
  if (parser.parseLess() || parser.parseKeyword(&kindName))
    return {};
  std::optional<InitKind> kind = symbolizeInitKind(kindName);
  if (!kind) {
    parser.emitError(loc) << "expected 'normal', 'ones' or 'zeros', got '"
                          << kindName << "'";
    return {};
  }
  double stddev = 0.0;
  if (succeeded(parser.parseOptionalLParen()))
    if (parser.parseFloat(stddev) || parser.parseRParen())
      return {};
  if (parser.parseGreater())
    return {};
  return getChecked([&] { return parser.emitError(loc); },
                    parser.getContext(), *kind, llvm::APFloat(stddev));
}

void InitAttr::print(AsmPrinter &printer) const {
  printer << '<' << stringifyInitKind(getKind());
  if (getKind() == InitKind::Normal) {
    printer << '(';
    printer.printFloat(getStddev());
    printer << ')';
  }
  printer << '>';
}

LogicalResult InitAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                               InitKind kind, llvm::APFloat stddevValue) {
  double stddev = stddevValue.convertToDouble();
  if (kind == InitKind::Normal) {
    if (!(stddev > 0.0) || !std::isfinite(stddev))
      return emitError() << "normal(stddev) needs a positive, finite stddev";
  } else if (stddev != 0.0) {
    return emitError() << "'" << stringifyInitKind(kind)
                       << "' takes no stddev";
  }
  return success();
}

//===----------------------------------------------------------------------===//
// DimShardAttr
//===----------------------------------------------------------------------===//

Attribute DimShardAttr::parse(AsmParser &parser, Type) {
  SMLoc loc = parser.getCurrentLocation();
  FlatSymbolRefAttr mesh;
  SmallVector<StringAttr> axes;
  int64_t size;
  if (parser.parseLess() || parser.parseAttribute(mesh) ||
      parser.parseComma() || parseAxisNames(parser, axes) ||
      parser.parseComma() || parser.parseInteger(size) ||
      parser.parseGreater())
    return {};
  return getChecked([&] { return parser.emitError(loc); },
                    parser.getContext(), mesh, axes, size);
}

void DimShardAttr::print(AsmPrinter &printer) const {
  printer << '<' << getMesh() << ", ";
  printAxisNames(printer, getAxes());
  printer << ", " << getSize() << '>';
}

LogicalResult
DimShardAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                     FlatSymbolRefAttr mesh, ArrayRef<StringAttr> axes,
                     int64_t size) {
  if (!mesh)
    return emitError() << "a dim_shard needs a mesh symbol";
  if (axes.empty())
    return emitError() << "a dim_shard needs at least one axis";
  if (failed(AxisListAttr::verify(emitError, axes)))
    return failure();
  if (size < 1)
    return emitError() << "a dim_shard's global size must be at least 1";
  return success();
}

LogicalResult DimShardAttr::verifyMesh(Operation *op) const {
  auto mesh = SymbolTable::lookupNearestSymbolFrom<MeshOp>(op, getMesh());
  if (!mesh)
    return op->emitOpError() << "shard " << *this << " names " << getMesh()
                             << ", which is not a palm.mesh in scope";
  for (StringAttr axis : getAxes())
    if (!mesh.getAxisIndex(axis.getValue()))
      return op->emitOpError() << "shard " << *this << " uses axis '"
                               << axis.getValue() << "', which mesh "
                               << getMesh() << " does not have";
  return success();
}
