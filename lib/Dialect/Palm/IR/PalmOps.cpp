//===- PalmOps.cpp - palm operations --------------------------------------===//

#include "palm/Dialect/Palm/IR/PalmOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::palm;

//===----------------------------------------------------------------------===//
// Custom directives of the collectives
//===----------------------------------------------------------------------===//

/// `[data, model]`: mesh axis names, bare or quoted.
static ParseResult parseMeshAxes(OpAsmParser &parser, ArrayAttr &axes) {
  SmallVector<Attribute> names;
  if (parser.parseCommaSeparatedList(
          OpAsmParser::Delimiter::Square, [&]() -> ParseResult {
            std::string name;
            if (parser.parseKeywordOrString(&name))
              return failure();
            names.push_back(parser.getBuilder().getStringAttr(name));
            return success();
          }))
    return failure();
  axes = parser.getBuilder().getArrayAttr(names);
  return success();
}

static void printMeshAxes(OpAsmPrinter &printer, Operation *, ArrayAttr axes) {
  printer << '[';
  llvm::interleaveComma(axes, printer, [&](Attribute a) {
    printer.printKeywordOrString(cast<StringAttr>(a).getValue());
  });
  printer << ']';
}

/// `[0 -> 1, 1 -> 0]`: source/target pairs, stored flattened.
static ParseResult parsePermutePairs(OpAsmParser &parser,
                                     DenseI64ArrayAttr &pairs) {
  SmallVector<int64_t> flat;
  if (parser.parseCommaSeparatedList(
          OpAsmParser::Delimiter::Square, [&]() -> ParseResult {
            int64_t source, target;
            if (parser.parseInteger(source) || parser.parseArrow() ||
                parser.parseInteger(target))
              return failure();
            flat.append({source, target});
            return success();
          }))
    return failure();
  pairs = parser.getBuilder().getDenseI64ArrayAttr(flat);
  return success();
}

static void printPermutePairs(OpAsmPrinter &printer, Operation *,
                              DenseI64ArrayAttr pairs) {
  ArrayRef<int64_t> flat = pairs.asArrayRef();
  printer << '[';
  for (size_t i = 0; i + 1 < flat.size(); i += 2)
    printer << (i ? ", " : "") << flat[i] << " -> " << flat[i + 1];
  printer << ']';
}

#include "palm/Dialect/Palm/IR/PalmInterfaces.cpp.inc"

#define GET_OP_CLASSES
#include "palm/Dialect/Palm/IR/PalmOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

Level mlir::palm::getLevel(Operation *op) {
  auto module = dyn_cast<ModuleOp>(op);
  if (!module)
    module = op->getParentOfType<ModuleOp>();
  if (!module)
    return Level::Global;
  if (auto level = module->getAttrOfType<LevelAttr>(
          PalmDialect::kLevelAttrName))
    return level.getValue();
  return Level::Global;
}

ArrayAttr mlir::palm::getResultShardings(Operation *op) {
  if (auto shardings =
          op->getAttrOfType<ArrayAttr>(PalmDialect::kShardingsAttrName))
    return shardings;
  return ArrayAttr::get(op->getContext(), {});
}

/// Returns `type` as a ranked tensor, or null.
static RankedTensorType ranked(Type type) {
  return dyn_cast<RankedTensorType>(type);
}

//===----------------------------------------------------------------------===//
// MeshOp
//===----------------------------------------------------------------------===//

ParseResult MeshOp::parse(OpAsmParser &parser, OperationState &result) {
  StringAttr name;
  if (parser.parseSymbolName(name, getSymNameAttrName(result.name),
                             result.attributes))
    return failure();
  SmallVector<Attribute> axes;
  SmallVector<int64_t> shape;
  if (parser.parseCommaSeparatedList(
          OpAsmParser::Delimiter::Paren, [&]() -> ParseResult {
            std::string axis;
            int64_t size;
            if (parser.parseKeywordOrString(&axis) || parser.parseEqual() ||
                parser.parseInteger(size))
              return failure();
            axes.push_back(parser.getBuilder().getStringAttr(axis));
            shape.push_back(size);
            return success();
          }))
    return failure();
  Builder &b = parser.getBuilder();
  result.addAttribute(getAxisNamesAttrName(result.name), b.getArrayAttr(axes));
  result.addAttribute(getShapeAttrName(result.name),
                      b.getDenseI64ArrayAttr(shape));
  return parser.parseOptionalAttrDict(result.attributes);
}

void MeshOp::print(OpAsmPrinter &printer) {
  printer << ' ';
  printer.printSymbolName(getSymName());
  printer << '(';
  llvm::interleaveComma(llvm::zip(getAxisNames(), getShape()), printer,
                        [&](auto pair) {
                          printer.printKeywordOrString(
                              cast<StringAttr>(std::get<0>(pair)).getValue());
                          printer << " = " << std::get<1>(pair);
                        });
  printer << ')';
  printer.printOptionalAttrDict(
      (*this)->getAttrs(),
      {getSymNameAttrName(), getAxisNamesAttrName(), getShapeAttrName()});
}

/// Axis names must print as bare keywords so that collectives and shardings
/// read `[data, model]`.
static bool isIdentifier(StringRef name) {
  if (name.empty() || llvm::isDigit(name.front()))
    return false;
  return llvm::all_of(name, [](char c) {
    return llvm::isAlnum(c) || c == '_' || c == '$' || c == '.' || c == '-';
  });
}

LogicalResult MeshOp::verify() {
  if (getAxisNames().size() != getShape().size())
    return emitOpError() << "has " << getAxisNames().size() << " axis names but "
                         << getShape().size() << " sizes";
  if (getShape().empty())
    return emitOpError() << "needs at least one axis";
  llvm::StringSet<> seen;
  int64_t devices = 1;
  for (auto [attr, size] : llvm::zip(getAxisNames(), getShape())) {
    StringRef axis = cast<StringAttr>(attr).getValue();
    if (!isIdentifier(axis))
      return emitOpError() << "axis name '" << axis
                           << "' is not an identifier";
    if (!seen.insert(axis).second)
      return emitOpError() << "axis '" << axis << "' is declared twice";
    if (size < 1)
      return emitOpError() << "axis '" << axis << "' has size " << size
                           << "; sizes must be at least 1";
    if (devices > std::numeric_limits<int64_t>::max() / size)
      return emitOpError() << "has more devices than fit in 63 bits";
    devices *= size;
  }
  return success();
}

int64_t MeshOp::getNumDevices() {
  int64_t n = 1;
  for (int64_t size : getShape())
    n *= size;
  return n;
}

std::optional<unsigned> MeshOp::getAxisIndex(StringRef name) {
  for (auto [i, attr] : llvm::enumerate(getAxisNames()))
    if (cast<StringAttr>(attr).getValue() == name)
      return i;
  return std::nullopt;
}

int64_t MeshOp::getAxisSize(StringRef name) {
  return getShape()[*getAxisIndex(name)];
}

//===----------------------------------------------------------------------===//
// ShardingConstraintOp
//===----------------------------------------------------------------------===//

LogicalResult ShardingConstraintOp::verify() {
  if (getLevel(*this) != Level::Global)
    return emitOpError() << "belongs to the global level, but the module is "
                            "local";
  return success();
}

LogicalResult
ShardingConstraintOp::verifySymbolUses(SymbolTableCollection &) {
  return getSharding().verifyFor(*this, getInput().getType(), "the operand");
}

//===----------------------------------------------------------------------===//
// Transformer ops
//===----------------------------------------------------------------------===//

LogicalResult EmbeddingOp::inferReturnTypes(
    MLIRContext *, std::optional<Location> loc, Adaptor adaptor,
    SmallVectorImpl<Type> &inferred) {
  auto table = ranked(adaptor.getTable().getType());
  auto ids = ranked(adaptor.getIds().getType());
  if (!table || !ids)
    return emitOptionalError(loc, "operands must be ranked tensors");
  if (table.getRank() != 2)
    return emitOptionalError(loc, "table must be [vocab, d_model], got ",
                             table);
  SmallVector<int64_t> shape(ids.getShape());
  shape.push_back(table.getDimSize(1));
  inferred.push_back(RankedTensorType::get(shape, table.getElementType()));
  return success();
}

LogicalResult LayerNormOp::inferReturnTypes(
    MLIRContext *, std::optional<Location>, Adaptor adaptor,
    SmallVectorImpl<Type> &inferred) {
  inferred.push_back(adaptor.getInput().getType());
  return success();
}

LogicalResult LayerNormOp::verify() {
  RankedTensorType input = getInput().getType();
  RankedTensorType scale = getScale().getType();
  if (input.getRank() < 1)
    return emitOpError() << "needs an input of rank at least 1";
  if (scale.getRank() != 1 ||
      scale.getDimSize(0) != input.getDimSize(input.getRank() - 1))
    return emitOpError() << "scale " << scale
                         << " must be rank 1 with the size of the input's "
                            "last dimension ("
                         << input.getDimSize(input.getRank() - 1) << ")";
  if (scale.getElementType() != input.getElementType())
    return emitOpError() << "scale and input element types differ";
  if (!(getEpsilon().convertToFloat() > 0.0f))
    return emitOpError() << "epsilon must be positive";
  return success();
}

/// Checks one dimension list of dot_general: in range, no repeats.
static LogicalResult checkDims(std::optional<Location> loc,
                               ArrayRef<int64_t> dims, int64_t rank,
                               StringRef what, SmallVectorImpl<bool> &used) {
  for (int64_t d : dims) {
    if (d < 0 || d >= rank)
      return emitOptionalError(loc, what, " dimension ", d,
                               " is out of range for rank ", rank);
    if (used[d])
      return emitOptionalError(loc, what, " dimension ", d,
                               " is used more than once");
    used[d] = true;
  }
  return success();
}

LogicalResult DotGeneralOp::inferReturnTypes(
    MLIRContext *, std::optional<Location> loc, Adaptor adaptor,
    SmallVectorImpl<Type> &inferred) {
  auto lhs = ranked(adaptor.getLhs().getType());
  auto rhs = ranked(adaptor.getRhs().getType());
  if (!lhs || !rhs)
    return emitOptionalError(loc, "operands must be ranked tensors");
  ArrayRef<int64_t> lb = adaptor.getLhsBatchDims(),
                    rb = adaptor.getRhsBatchDims(),
                    lc = adaptor.getLhsContractingDims(),
                    rc = adaptor.getRhsContractingDims();
  if (lb.size() != rb.size())
    return emitOptionalError(loc, "batch dimension lists differ in length");
  if (lc.size() != rc.size())
    return emitOptionalError(loc,
                             "contracting dimension lists differ in length");
  SmallVector<bool> lhsUsed(lhs.getRank(), false), rhsUsed(rhs.getRank(), false);
  if (failed(checkDims(loc, lb, lhs.getRank(), "lhs batch", lhsUsed)) ||
      failed(checkDims(loc, lc, lhs.getRank(), "lhs contracting", lhsUsed)) ||
      failed(checkDims(loc, rb, rhs.getRank(), "rhs batch", rhsUsed)) ||
      failed(checkDims(loc, rc, rhs.getRank(), "rhs contracting", rhsUsed)))
    return failure();
  for (auto [l, r] : llvm::zip(lb, rb))
    if (lhs.getDimSize(l) != rhs.getDimSize(r))
      return emitOptionalError(loc, "batch dimensions ", l, " and ", r,
                               " differ in size");
  for (auto [l, r] : llvm::zip(lc, rc))
    if (lhs.getDimSize(l) != rhs.getDimSize(r))
      return emitOptionalError(loc, "contracting dimensions ", l, " and ", r,
                               " differ in size (", lhs.getDimSize(l), " vs ",
                               rhs.getDimSize(r), ")");
  if (lhs.getElementType() != rhs.getElementType())
    return emitOptionalError(loc, "operand element types differ");
  SmallVector<int64_t> shape;
  for (int64_t d : lb)
    shape.push_back(lhs.getDimSize(d));
  for (int64_t d = 0; d < lhs.getRank(); ++d)
    if (!lhsUsed[d])
      shape.push_back(lhs.getDimSize(d));
  for (int64_t d = 0; d < rhs.getRank(); ++d)
    if (!rhsUsed[d])
      shape.push_back(rhs.getDimSize(d));
  inferred.push_back(RankedTensorType::get(shape, lhs.getElementType()));
  return success();
}

LogicalResult RopeOp::verify() {
  RankedTensorType type = getInput().getType();
  if (type.getRank() != 4)
    return emitOpError() << "expects [batch, seq, heads, head_dim], got "
                         << type;
  if (type.getDimSize(3) % 2 != 0)
    return emitOpError() << "head_dim " << type.getDimSize(3)
                         << " must be even (dimension i pairs with i + "
                            "head_dim/2)";
  if (!(getBase().convertToFloat() > 0.0f))
    return emitOpError() << "base must be positive";
  return success();
}

LogicalResult AttentionOp::inferReturnTypes(
    MLIRContext *, std::optional<Location> loc, Adaptor adaptor,
    SmallVectorImpl<Type> &inferred) {
  auto q = ranked(adaptor.getQuery().getType());
  auto k = ranked(adaptor.getKey().getType());
  auto v = ranked(adaptor.getValue().getType());
  if (!q || !k || !v || q.getRank() != 4 || k.getRank() != 4 ||
      v.getRank() != 4)
    return emitOptionalError(
        loc, "query, key and value must be rank 4 [batch, seq, heads, dim]");
  if (q.getElementType() != k.getElementType() ||
      q.getElementType() != v.getElementType())
    return emitOptionalError(loc, "query, key and value element types differ");
  if (q.getDimSize(0) != k.getDimSize(0) || q.getDimSize(0) != v.getDimSize(0))
    return emitOptionalError(loc, "query, key and value batch sizes differ");
  if (k.getDimSize(1) != v.getDimSize(1) || k.getDimSize(2) != v.getDimSize(2))
    return emitOptionalError(loc,
                             "key and value must agree on seq and heads");
  int64_t heads = q.getDimSize(2), kvHeads = k.getDimSize(2);
  if (kvHeads < 1 || heads % kvHeads != 0)
    return emitOptionalError(loc, "query heads (", heads,
                             ") must be a multiple of key/value heads (",
                             kvHeads, ")");
  if (q.getDimSize(3) != k.getDimSize(3))
    return emitOptionalError(loc, "query and key head_dim differ");
  if (adaptor.getCausal() && q.getDimSize(1) != k.getDimSize(1))
    return emitOptionalError(
        loc, "causal attention needs equal query and key sequence lengths");
  if (auto scale = adaptor.getScaleAttr())
    if (!(scale.getValue().convertToFloat() > 0.0f))
      return emitOptionalError(loc, "scale must be positive");
  inferred.push_back(RankedTensorType::get(
      {q.getDimSize(0), q.getDimSize(1), heads, v.getDimSize(3)},
      q.getElementType()));
  return success();
}

float AttentionOp::getEffectiveScale() {
  if (auto scale = getScaleAttr())
    return scale.getValue().convertToFloat();
  return 1.0f / std::sqrt(static_cast<float>(getQuery().getType().getDimSize(3)));
}

LogicalResult ConvertOp::verify() {
  if (getInput().getType().getShape() != getResult().getType().getShape())
    return emitOpError() << "changes the shape from " << getInput().getType()
                         << " to " << getResult().getType();
  return success();
}

LogicalResult CrossEntropyOp::inferReturnTypes(
    MLIRContext *ctx, std::optional<Location> loc, Adaptor adaptor,
    SmallVectorImpl<Type> &inferred) {
  auto logits = ranked(adaptor.getLogits().getType());
  auto targets = ranked(adaptor.getTargets().getType());
  if (!logits || !targets)
    return emitOptionalError(loc, "operands must be ranked tensors");
  if (logits.getRank() < 2)
    return emitOptionalError(loc, "logits must have rank at least 2, got ",
                             logits);
  if (targets.getShape() != logits.getShape().drop_back())
    return emitOptionalError(loc, "targets ", targets,
                             " must have the logits' shape without the last "
                             "dimension");
  inferred.push_back(RankedTensorType::get({}, Float32Type::get(ctx)));
  return success();
}

LogicalResult CrossEntropyOp::verify() {
  if (!(getZLoss().convertToFloat() >= 0.0f))
    return emitOpError() << "z_loss must be non-negative";
  return success();
}

LogicalResult TransposeOp::inferReturnTypes(
    MLIRContext *, std::optional<Location> loc, Adaptor adaptor,
    SmallVectorImpl<Type> &inferred) {
  auto input = ranked(adaptor.getInput().getType());
  if (!input)
    return emitOptionalError(loc, "input must be a ranked tensor");
  ArrayRef<int64_t> perm = adaptor.getPermutation();
  if (static_cast<int64_t>(perm.size()) != input.getRank())
    return emitOptionalError(loc, "permutation has ", perm.size(),
                             " entries for rank ", input.getRank());
  SmallVector<bool> seen(perm.size(), false);
  SmallVector<int64_t> shape;
  for (int64_t p : perm) {
    if (p < 0 || p >= input.getRank() || seen[p])
      return emitOptionalError(loc, "permutation is not a permutation of 0..",
                               input.getRank() - 1);
    seen[p] = true;
    shape.push_back(input.getDimSize(p));
  }
  inferred.push_back(RankedTensorType::get(shape, input.getElementType()));
  return success();
}

LogicalResult ReshapeOp::verify() {
  RankedTensorType in = getInput().getType(), out = getResult().getType();
  if (!in.hasStaticShape() || !out.hasStaticShape())
    return emitOpError() << "needs static shapes";
  if (in.getNumElements() != out.getNumElements())
    return emitOpError() << "changes the element count from "
                         << in.getNumElements() << " to "
                         << out.getNumElements();
  if (in.getElementType() != out.getElementType())
    return emitOpError() << "changes the element type";
  return success();
}
