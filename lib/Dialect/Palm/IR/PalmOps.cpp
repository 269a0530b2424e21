//===- PalmOps.cpp - palm operations --------------------------------------===//

#include "palm/Dialect/Palm/IR/PalmOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"

#include <cmath>
#include <limits>
#include <optional>
#include <tuple>

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

/// `sum` or `max`.
static ParseResult parseReduction(OpAsmParser &parser,
                                  ReductionKindAttr &kind) {
  SMLoc loc = parser.getCurrentLocation();
  StringRef keyword;
  if (parser.parseKeyword(&keyword))
    return failure();
  std::optional<ReductionKind> value = symbolizeReductionKind(keyword);
  if (!value)
    return parser.emitError(loc)
           << "expected reduction kind 'sum' or 'max', got '" << keyword
           << "'";
  kind = ReductionKindAttr::get(parser.getContext(), *value);
  return success();
}

static void printReduction(OpAsmPrinter &printer, Operation *,
                           ReductionKindAttr kind) {
  printer << stringifyReductionKind(kind.getValue());
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
  return getSharding().verifyFor(*this, getLoc(), getInput().getType(),
                                 "the operand");
}

//===----------------------------------------------------------------------===//
// Transformer ops
//===----------------------------------------------------------------------===//

// Result types are inferred by one function per op, used by the builders
// (which have nowhere to report errors but the context) and by the
// verifiers (which compare with the declared type). Each returns null after
// reporting through `emitError`.
using ErrorFn = function_ref<InFlightDiagnostic()>;

/// Checks `declared` against the type `infer` computes with `emitError`.
static LogicalResult checkInferred(Operation *op, Type declared,
                                   RankedTensorType inferred) {
  if (!inferred)
    return failure();
  if (declared != inferred)
    return op->emitOpError() << "result type should be " << inferred
                             << ", not " << declared;
  return success();
}

/// Result type of a builder whose inference failed: not a static tensor, so
/// the op fails verification instead of crashing the builder.
static Type invalidType(OpBuilder &b) {
  return UnrankedTensorType::get(b.getF32Type());
}

/// Reports a builder's errors at the location of the op being built. The
/// lambda lives until the end of the full expression that uses it.
static auto builderErrors(OperationState &state) {
  return [loc = state.location] { return mlir::emitError(loc); };
}

static RankedTensorType inferEmbedding(RankedTensorType table,
                                       RankedTensorType ids,
                                       ErrorFn emitError) {
  if (table.getRank() != 2) {
    emitError() << "table must be [vocab, d_model], got " << table;
    return {};
  }
  SmallVector<int64_t> shape(ids.getShape());
  shape.push_back(table.getDimSize(1));
  return RankedTensorType::get(shape, table.getElementType());
}

void EmbeddingOp::build(OpBuilder &b, OperationState &state, Value table,
                        Value ids) {
  RankedTensorType type = inferEmbedding(
      cast<RankedTensorType>(table.getType()),
      cast<RankedTensorType>(ids.getType()), builderErrors(state));
  build(b, state, type ? Type(type) : invalidType(b), table, ids,
        DimShardAttr());
}

LogicalResult EmbeddingOp::verify() {
  if (auto shard = getVocabShardAttr())
    if (failed(verifyLocalOnly(*this, "vocab_shard")) ||
        failed(shard.verifyMesh(*this)))
      return failure();
  return checkInferred(*this, getType(),
                       inferEmbedding(getTable().getType(), getIds().getType(),
                                      [&] { return emitOpError(); }));
}

LogicalResult EmbeddingGradOp::verify() {
  if (auto shard = getVocabShardAttr())
    if (failed(verifyLocalOnly(*this, "vocab_shard")) ||
        failed(shard.verifyMesh(*this)))
      return failure();
  RankedTensorType result = getResult().getType();
  if (result.getRank() != 2)
    return emitOpError() << "result must be [vocab, d_model], got " << result;
  RankedTensorType expected = inferEmbedding(
      result, getIds().getType(), [&] { return emitOpError(); });
  if (getGrad().getType() != expected)
    return emitOpError() << "grad should be " << expected << ", not "
                         << getGrad().getType();
  return success();
}

/// The rules `palm.layer_norm` and its backward share.
static LogicalResult verifyLayerNormOperands(Operation *op,
                                             RankedTensorType input,
                                             RankedTensorType scale,
                                             FloatAttr epsilon) {
  if (input.getRank() < 1)
    return op->emitOpError() << "needs an input of rank at least 1";
  if (scale.getRank() != 1 ||
      scale.getDimSize(0) != input.getDimSize(input.getRank() - 1))
    return op->emitOpError() << "scale " << scale
                             << " must be rank 1 with the size of the input's "
                                "last dimension ("
                             << input.getDimSize(input.getRank() - 1) << ")";
  if (scale.getElementType() != input.getElementType())
    return op->emitOpError() << "scale and input element types differ";
  if (!(epsilon.getValue().convertToFloat() > 0.0f))
    return op->emitOpError() << "epsilon must be positive";
  return success();
}

LogicalResult LayerNormOp::verify() {
  return verifyLayerNormOperands(*this, getInput().getType(),
                                 getScale().getType(), getEpsilonAttr());
}

LogicalResult LayerNormGradOp::verify() {
  if (failed(verifyLayerNormOperands(*this, getInput().getType(),
                                     getScale().getType(), getEpsilonAttr())))
    return failure();
  if (getGrad().getType() != getInput().getType() ||
      getInputGrad().getType() != getInput().getType())
    return emitOpError() << "grad and input_grad must have the input's type "
                         << getInput().getType();
  if (getScaleGrad().getType() != getScale().getType())
    return emitOpError() << "scale_grad must have the scale's type "
                         << getScale().getType();
  return success();
}

/// Checks one dimension list of dot_general: in range, no repeats.
static LogicalResult checkDims(ErrorFn emitError, ArrayRef<int64_t> dims,
                               int64_t rank, StringRef what,
                               SmallVectorImpl<bool> &used) {
  for (int64_t d : dims) {
    if (d < 0 || d >= rank)
      return emitError() << what << " dimension " << d
                         << " is out of range for rank " << rank;
    if (used[d])
      return emitError() << what << " dimension " << d
                         << " is used more than once";
    used[d] = true;
  }
  return success();
}

static RankedTensorType
inferDotGeneral(RankedTensorType lhs, RankedTensorType rhs,
                ArrayRef<int64_t> lc, ArrayRef<int64_t> rc,
                ArrayRef<int64_t> lb, ArrayRef<int64_t> rb,
                ErrorFn emitError) {
  if (lb.size() != rb.size()) {
    emitError() << "batch dimension lists differ in length";
    return {};
  }
  if (lc.size() != rc.size()) {
    emitError() << "contracting dimension lists differ in length";
    return {};
  }
  SmallVector<bool> lhsUsed(lhs.getRank(), false), rhsUsed(rhs.getRank(), false);
  if (failed(checkDims(emitError, lb, lhs.getRank(), "lhs batch", lhsUsed)) ||
      failed(checkDims(emitError, lc, lhs.getRank(), "lhs contracting",
                       lhsUsed)) ||
      failed(checkDims(emitError, rb, rhs.getRank(), "rhs batch", rhsUsed)) ||
      failed(checkDims(emitError, rc, rhs.getRank(), "rhs contracting",
                       rhsUsed)))
    return {};
  for (auto [l, r] : llvm::zip(lb, rb))
    if (lhs.getDimSize(l) != rhs.getDimSize(r)) {
      emitError() << "batch dimensions " << l << " and " << r
                  << " differ in size";
      return {};
    }
  for (auto [l, r] : llvm::zip(lc, rc))
    if (lhs.getDimSize(l) != rhs.getDimSize(r)) {
      emitError() << "contracting dimensions " << l << " and " << r
                  << " differ in size (" << lhs.getDimSize(l) << " vs "
                  << rhs.getDimSize(r) << ")";
      return {};
    }
  if (lhs.getElementType() != rhs.getElementType()) {
    emitError() << "operand element types differ";
    return {};
  }
  SmallVector<int64_t> shape;
  for (int64_t d : lb)
    shape.push_back(lhs.getDimSize(d));
  for (int64_t d = 0; d < lhs.getRank(); ++d)
    if (!lhsUsed[d])
      shape.push_back(lhs.getDimSize(d));
  for (int64_t d = 0; d < rhs.getRank(); ++d)
    if (!rhsUsed[d])
      shape.push_back(rhs.getDimSize(d));
  return RankedTensorType::get(shape, lhs.getElementType());
}

void DotGeneralOp::build(OpBuilder &b, OperationState &state, Value lhs,
                         Value rhs, ArrayRef<int64_t> lhsContractingDims,
                         ArrayRef<int64_t> rhsContractingDims,
                         ArrayRef<int64_t> lhsBatchDims,
                         ArrayRef<int64_t> rhsBatchDims) {
  RankedTensorType type = inferDotGeneral(
      cast<RankedTensorType>(lhs.getType()),
      cast<RankedTensorType>(rhs.getType()), lhsContractingDims,
      rhsContractingDims, lhsBatchDims, rhsBatchDims, builderErrors(state));
  build(b, state, type ? Type(type) : invalidType(b), lhs, rhs,
        lhsContractingDims, rhsContractingDims, lhsBatchDims, rhsBatchDims);
}

LogicalResult DotGeneralOp::verify() {
  return checkInferred(
      *this, getType(),
      inferDotGeneral(getLhs().getType(), getRhs().getType(),
                      getLhsContractingDims(), getRhsContractingDims(),
                      getLhsBatchDims(), getRhsBatchDims(),
                      [&] { return emitOpError(); }));
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
  if (auto shard = getSeqShardAttr())
    if (failed(verifyLocalOnly(*this, "seq_shard")) ||
        failed(shard.verifyMesh(*this)))
      return failure();
  return success();
}

/// Global sizes of a local attention's sharded dimensions (the local sizes
/// where there is no shard).
struct AttentionGlobals {
  int64_t heads, kvHeads, querySeq;
};

static RankedTensorType inferAttention(RankedTensorType q, RankedTensorType k,
                                       RankedTensorType v, bool causal,
                                       FloatAttr scale, ErrorFn emitError,
                                       std::optional<AttentionGlobals> globals =
                                           std::nullopt) {
  if (q.getRank() != 4 || k.getRank() != 4 || v.getRank() != 4) {
    emitError()
        << "query, key and value must be rank 4 [batch, seq, heads, dim]";
    return {};
  }
  if (q.getElementType() != k.getElementType() ||
      q.getElementType() != v.getElementType()) {
    emitError() << "query, key and value element types differ";
    return {};
  }
  if (q.getDimSize(0) != k.getDimSize(0) ||
      q.getDimSize(0) != v.getDimSize(0)) {
    emitError() << "query, key and value batch sizes differ";
    return {};
  }
  if (k.getDimSize(1) != v.getDimSize(1) ||
      k.getDimSize(2) != v.getDimSize(2)) {
    emitError() << "key and value must agree on seq and heads";
    return {};
  }
  int64_t heads = globals ? globals->heads : q.getDimSize(2);
  int64_t kvHeads = globals ? globals->kvHeads : k.getDimSize(2);
  int64_t querySeq = globals ? globals->querySeq : q.getDimSize(1);
  if (kvHeads < 1 || heads % kvHeads != 0) {
    emitError() << "query heads (" << heads
                << ") must be a multiple of key/value heads (" << kvHeads
                << ")";
    return {};
  }
  if (q.getDimSize(3) != k.getDimSize(3)) {
    emitError() << "query and key head_dim differ";
    return {};
  }
  if (causal && querySeq != k.getDimSize(1)) {
    emitError()
        << "causal attention needs equal query and key sequence lengths";
    return {};
  }
  if (scale && !(scale.getValue().convertToFloat() > 0.0f)) {
    emitError() << "scale must be positive";
    return {};
  }
  return RankedTensorType::get(
      {q.getDimSize(0), q.getDimSize(1), q.getDimSize(2), v.getDimSize(3)},
      q.getElementType());
}

void AttentionOp::build(OpBuilder &b, OperationState &state, Value query,
                        Value key, Value value, bool causal, FloatAttr scale) {
  RankedTensorType type = inferAttention(
      cast<RankedTensorType>(query.getType()),
      cast<RankedTensorType>(key.getType()),
      cast<RankedTensorType>(value.getType()), causal, scale,
      builderErrors(state));
  build(b, state, type ? Type(type) : invalidType(b), /*lse=*/Type(), query,
        key, value, causal ? b.getUnitAttr() : UnitAttr(), scale,
        DimShardAttr(), DimShardAttr(), DimShardAttr());
}

/// Verifies the shard attributes and the operands of an attention or its
/// backward, whose `out`-shaped tensors must have type `outType`; `lse`,
/// when given, must be f32 [b, s, h].
template <typename Op>
static LogicalResult verifyAttentionLike(Op op, Type outType, Value lse) {
  AttentionGlobals globals = {op.getQuery().getType().getDimSize(2),
                              op.getKey().getType().getDimSize(2),
                              op.getQuery().getType().getDimSize(1)};
  for (auto [shard, name, size] :
       {std::tuple(op.getHeadsShardAttr(), "heads_shard", &globals.heads),
        std::tuple(op.getKvHeadsShardAttr(), "kv_heads_shard",
                   &globals.kvHeads),
        std::tuple(op.getSeqShardAttr(), "seq_shard", &globals.querySeq)}) {
    if (!shard)
      continue;
    if (failed(verifyLocalOnly(op, name)) || failed(shard.verifyMesh(op)))
      return failure();
    *size = shard.getSize();
  }
  RankedTensorType inferred =
      inferAttention(op.getQuery().getType(), op.getKey().getType(),
                     op.getValue().getType(), op.getCausal(),
                     op.getScaleAttr(), [&] { return op.emitOpError(); },
                     globals);
  if (failed(checkInferred(op, outType, inferred)))
    return failure();
  if (!lse)
    return success();
  ArrayRef<int64_t> q = op.getQuery().getType().getShape();
  auto expected =
      RankedTensorType::get({q[0], q[1], q[2]}, Float32Type::get(op.getContext()));
  if (lse.getType() != expected)
    return op.emitOpError() << "lse must be " << expected << ", not "
                            << lse.getType();
  return success();
}

/// `scale` if given, else 1/sqrt(head_dim) of `query`.
static float effectiveScale(FloatAttr scale, RankedTensorType query) {
  if (scale)
    return scale.getValue().convertToFloat();
  return 1.0f / std::sqrt(static_cast<float>(query.getDimSize(3)));
}

LogicalResult AttentionOp::verify() {
  return verifyAttentionLike(*this, getResult().getType(), getLse());
}

float AttentionOp::getEffectiveScale() {
  return effectiveScale(getScaleAttr(), getQuery().getType());
}

LogicalResult AttentionGradOp::verify() {
  if (failed(verifyAttentionLike(*this, getOut().getType(), getLse())))
    return failure();
  if (getGrad().getType() != getOut().getType())
    return emitOpError() << "grad " << getGrad().getType()
                         << " must have the attention result's type "
                         << getOut().getType();
  for (auto [result, operand, name] :
       {std::tuple(getQueryGrad(), getQuery(), "query"),
        std::tuple(getKeyGrad(), getKey(), "key"),
        std::tuple(getValueGrad(), getValue(), "value")})
    if (result.getType() != operand.getType())
      return emitOpError() << name << "_grad must have the " << name
                           << "'s type " << operand.getType() << ", not "
                           << result.getType();
  return success();
}

float AttentionGradOp::getEffectiveScale() {
  return effectiveScale(getScaleAttr(), getQuery().getType());
}

LogicalResult ConvertOp::verify() {
  if (getInput().getType().getShape() != getResult().getType().getShape())
    return emitOpError() << "changes the shape from " << getInput().getType()
                         << " to " << getResult().getType();
  return success();
}

/// The rules `palm.cross_entropy` and its backward share.
static LogicalResult verifyCrossEntropyOperands(Operation *op,
                                                RankedTensorType logits,
                                                RankedTensorType targets,
                                                FloatAttr zLoss) {
  if (logits.getRank() < 2)
    return op->emitOpError() << "logits must have rank at least 2, got "
                             << logits;
  if (targets.getShape() != logits.getShape().drop_back())
    return op->emitOpError() << "targets " << targets
                             << " must have the logits' shape without the "
                                "last dimension";
  if (!(zLoss.getValue().convertToFloat() >= 0.0f))
    return op->emitOpError() << "z_loss must be non-negative";
  return success();
}

LogicalResult CrossEntropyOp::verify() {
  RankedTensorType logits = getLogits().getType();
  if (failed(verifyCrossEntropyOperands(*this, logits, getTargets().getType(),
                                        getZLossAttr())))
    return failure();
  if ((getTokenCount() || getTokenShards()) &&
      failed(verifyLocalOnly(*this, "token_count and token_shards")))
    return failure();
  return verifyTokenShards(*this, getTokenCount(), getTokenShardsAttr(),
                           logits.getRank() - 1);
}

LogicalResult CrossEntropyGradOp::verify() {
  RankedTensorType logits = getLogits().getType();
  if (failed(verifyCrossEntropyOperands(*this, logits, getTargets().getType(),
                                        getZLossAttr())))
    return failure();
  if (getResult().getType() != logits)
    return emitOpError() << "result must have the logits' type " << logits;
  if ((getTokenCount() || getTokenShards() || getVocabShard()) &&
      failed(verifyLocalOnly(*this,
                             "token_count, token_shards and vocab_shard")))
    return failure();
  if (auto shard = getVocabShardAttr())
    if (failed(shard.verifyMesh(*this)))
      return failure();
  if (static_cast<bool>(getMax()) != static_cast<bool>(getVocabShardAttr()))
    return emitOpError() << "max and sums come with vocab_shard: a split "
                            "vocabulary needs the combined statistics";
  if (getMax()) {
    auto tokens = logits.getShape().drop_back();
    if (getMax().getType().getShape() != tokens)
      return emitOpError() << "max must have the token shape";
    SmallVector<int64_t> sums = {2};
    llvm::append_range(sums, tokens);
    if (getSums().getType().getShape() != ArrayRef<int64_t>(sums))
      return emitOpError() << "sums must be [2] followed by the token shape";
  }
  return verifyTokenShards(*this, getTokenCount(), getTokenShardsAttr(),
                           logits.getRank() - 1);
}

static RankedTensorType inferTranspose(RankedTensorType input,
                                       ArrayRef<int64_t> perm,
                                       ErrorFn emitError) {
  if (static_cast<int64_t>(perm.size()) != input.getRank()) {
    emitError() << "permutation has " << perm.size() << " entries for rank "
                << input.getRank();
    return {};
  }
  SmallVector<bool> seen(perm.size(), false);
  SmallVector<int64_t> shape;
  for (int64_t p : perm) {
    if (p < 0 || p >= input.getRank() || seen[p]) {
      emitError() << "permutation is not a permutation of 0.."
                  << input.getRank() - 1;
      return {};
    }
    seen[p] = true;
    shape.push_back(input.getDimSize(p));
  }
  return RankedTensorType::get(shape, input.getElementType());
}

void TransposeOp::build(OpBuilder &b, OperationState &state, Value input,
                        ArrayRef<int64_t> permutation) {
  RankedTensorType type =
      inferTranspose(cast<RankedTensorType>(input.getType()), permutation,
                     builderErrors(state));
  build(b, state, type ? Type(type) : invalidType(b), input, permutation);
}

LogicalResult TransposeOp::verify() {
  return checkInferred(*this, getType(),
                       inferTranspose(getInput().getType(), getPermutation(),
                                      [&] { return emitOpError(); }));
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
