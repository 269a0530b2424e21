//===- Collectives.cpp - verification of the local-level collectives ------===//
//
// Shape rules of the collectives depend on the mesh, so they are checked in
// verifySymbolUses, where the mesh symbol resolves through a cached table.
//
//===----------------------------------------------------------------------===//

#include "palm/Dialect/Palm/IR/PalmOps.h"
#include "palm/Dialect/Palm/IR/ShardingUtils.h"

#include "llvm/ADT/StringSet.h"

using namespace mlir;
using namespace mlir::palm;

/// Checks what every collective needs: a local-level module and a dimension
/// attribute in range.
static LogicalResult verifyLocalAndDims(Operation *op, Type input,
                                        ArrayRef<std::pair<StringRef, int64_t>>
                                            dims) {
  if (getLevel(op) != Level::Local)
    return op->emitOpError()
           << "is a local-level collective, but the module is at the global "
              "level (mark it with palm.level = #palm.level<local>)";
  int64_t rank = cast<RankedTensorType>(input).getRank();
  for (auto [name, d] : dims)
    if (d < 0 || d >= rank)
      return op->emitOpError() << name << " " << d
                               << " is out of range for rank " << rank;
  return success();
}

/// Resolves the mesh and checks the axes; returns the group size or -1.
static int64_t resolveGroup(Operation *op, FlatSymbolRefAttr meshRef,
                            ArrayAttr axes, SymbolTableCollection &tables) {
  auto mesh = tables.lookupNearestSymbolFrom<MeshOp>(op, meshRef);
  if (!mesh) {
    op->emitOpError() << "names " << meshRef
                      << ", which is not a palm.mesh in scope";
    return -1;
  }
  llvm::StringSet<> seen;
  int64_t size = 1;
  for (Attribute a : axes) {
    StringRef axis = cast<StringAttr>(a).getValue();
    if (!mesh.getAxisIndex(axis)) {
      op->emitOpError() << "uses axis '" << axis << "', which mesh "
                        << meshRef << " does not have";
      return -1;
    }
    if (!seen.insert(axis).second) {
      op->emitOpError() << "lists axis '" << axis << "' twice";
      return -1;
    }
    size *= mesh.getAxisSize(axis);
  }
  if (axes.empty()) {
    op->emitOpError() << "needs at least one mesh axis";
    return -1;
  }
  return size;
}

/// Checks `result` equals `input` with each listed dimension replaced.
static LogicalResult
checkResultShape(Operation *op, Type input, Type result,
                 ArrayRef<std::pair<int64_t, int64_t>> newSizes) {
  auto in = cast<RankedTensorType>(input);
  auto out = cast<RankedTensorType>(result);
  SmallVector<int64_t> expected(in.getShape());
  for (auto [d, size] : newSizes)
    expected[d] = size;
  auto expectedType = RankedTensorType::get(expected, in.getElementType());
  if (expectedType != out)
    return op->emitOpError() << "result type should be " << expectedType
                             << ", not " << out;
  return success();
}

template <typename OpT>
static int64_t groupSizeOf(OpT op) {
  SymbolTableCollection tables;
  auto mesh = tables.lookupNearestSymbolFrom<MeshOp>(op, op.getMeshAttr());
  int64_t size = 1;
  for (Attribute a : op.getMeshAxes())
    size *= mesh.getAxisSize(cast<StringAttr>(a).getValue());
  return size;
}

//===----------------------------------------------------------------------===//

LogicalResult AllGatherOp::verify() {
  return verifyLocalAndDims(*this, getInput().getType(),
                            {{"gather_dim", getGatherDim()}});
}

LogicalResult AllGatherOp::verifySymbolUses(SymbolTableCollection &tables) {
  int64_t n = resolveGroup(*this, getMeshAttr(), getMeshAxes(), tables);
  if (n < 0)
    return failure();
  int64_t d = getGatherDim();
  return checkResultShape(*this, getInput().getType(), getType(),
                          {{d, getInput().getType().getDimSize(d) * n}});
}

int64_t AllGatherOp::getGroupSize() { return groupSizeOf(*this); }

LogicalResult AllReduceOp::verify() {
  return verifyLocalAndDims(*this, getInput().getType(), {});
}

LogicalResult AllReduceOp::verifySymbolUses(SymbolTableCollection &tables) {
  return failure(resolveGroup(*this, getMeshAttr(), getMeshAxes(), tables) <
                 0);
}

int64_t AllReduceOp::getGroupSize() { return groupSizeOf(*this); }

LogicalResult ReduceScatterOp::verify() {
  return verifyLocalAndDims(*this, getInput().getType(),
                            {{"scatter_dim", getScatterDim()}});
}

LogicalResult
ReduceScatterOp::verifySymbolUses(SymbolTableCollection &tables) {
  int64_t n = resolveGroup(*this, getMeshAttr(), getMeshAxes(), tables);
  if (n < 0)
    return failure();
  int64_t d = getScatterDim(), size = getInput().getType().getDimSize(d);
  if (size % n != 0)
    return emitOpError() << "scatter_dim " << d << " has size " << size
                         << ", not divisible by the group size " << n;
  return checkResultShape(*this, getInput().getType(), getType(),
                          {{d, size / n}});
}

int64_t ReduceScatterOp::getGroupSize() { return groupSizeOf(*this); }

LogicalResult AllToAllOp::verify() {
  if (failed(verifyLocalAndDims(*this, getInput().getType(),
                                {{"split_dim", getSplitDim()},
                                 {"concat_dim", getConcatDim()}})))
    return failure();
  if (getSplitDim() == getConcatDim())
    return emitOpError() << "split_dim and concat_dim must differ";
  return success();
}

LogicalResult AllToAllOp::verifySymbolUses(SymbolTableCollection &tables) {
  int64_t n = resolveGroup(*this, getMeshAttr(), getMeshAxes(), tables);
  if (n < 0)
    return failure();
  ArrayRef<int64_t> shape = getInput().getType().getShape();
  int64_t s = getSplitDim(), c = getConcatDim();
  if (shape[s] % n != 0)
    return emitOpError() << "split_dim " << s << " has size " << shape[s]
                         << ", not divisible by the group size " << n;
  return checkResultShape(*this, getInput().getType(), getType(),
                          {{s, shape[s] / n}, {c, shape[c] * n}});
}

int64_t AllToAllOp::getGroupSize() { return groupSizeOf(*this); }

LogicalResult CollectivePermuteOp::verify() {
  if (failed(verifyLocalAndDims(*this, getInput().getType(), {})))
    return failure();
  if (getSourceTargetPairs().size() % 2 != 0)
    return emitOpError() << "source_target_pairs must hold pairs";
  return success();
}

LogicalResult
CollectivePermuteOp::verifySymbolUses(SymbolTableCollection &tables) {
  int64_t n = resolveGroup(*this, getMeshAttr(), getMeshAxes(), tables);
  if (n < 0)
    return failure();
  ArrayRef<int64_t> flat = getSourceTargetPairs();
  llvm::SmallDenseSet<int64_t> sources, targets;
  for (size_t i = 0; i < flat.size(); i += 2) {
    for (int64_t index : {flat[i], flat[i + 1]})
      if (index < 0 || index >= n)
        return emitOpError() << "pair " << flat[i] << " -> " << flat[i + 1]
                             << " is outside the group of " << n << " devices";
    if (!sources.insert(flat[i]).second)
      return emitOpError() << "device " << flat[i]
                           << " is the source of two pairs";
    if (!targets.insert(flat[i + 1]).second)
      return emitOpError() << "device " << flat[i + 1]
                           << " is the target of two pairs";
  }
  return success();
}

int64_t CollectivePermuteOp::getGroupSize() { return groupSizeOf(*this); }

LogicalResult AllSliceOp::verify() {
  return verifyLocalAndDims(*this, getInput().getType(),
                            {{"slice_dim", getSliceDim()}});
}

LogicalResult AllSliceOp::verifySymbolUses(SymbolTableCollection &tables) {
  int64_t n = resolveGroup(*this, getMeshAttr(), getMeshAxes(), tables);
  if (n < 0)
    return failure();
  int64_t d = getSliceDim();
  return checkResultShape(
      *this, getInput().getType(), getType(),
      {{d, ceilDiv(getInput().getType().getDimSize(d), n)}});
}

int64_t AllSliceOp::getGroupSize() { return groupSizeOf(*this); }
