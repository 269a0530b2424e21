//===- OptimizeCollectives.cpp - fewer, cheaper collectives ---------------===//
//
// Local-level rewrites that keep the program's values and move fewer bytes:
//  * an all-reduce whose only use slices it over the same axes is a
//    reduce-scatter (half the bytes);
//  * an all-gather immediately sliced back over the same axes and dimension
//    is its operand, and so is an evenly divisible slice gathered back;
//  * identical collectives of one value are one collective;
//  * small all-reduces over the same axes with the same reduction, whose
//    operands are ready and whose results are not yet needed, run as one
//    all-reduce of their concatenation.
//
//===----------------------------------------------------------------------===//

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Dominance.h"
#include "palm/Dialect/Palm/IR/ShardingUtils.h"
#include "palm/Dialect/Palm/Transforms/Passes.h"
#include "llvm/ADT/MapVector.h"

#include <tuple>

namespace mlir::palm {
#define GEN_PASS_DEF_PALMOPTIMIZECOLLECTIVES
#include "palm/Dialect/Palm/Transforms/Passes.h.inc"
} // namespace mlir::palm

using namespace mlir;
using namespace mlir::palm;

/// all_reduce + all_slice over the same axes -> reduce_scatter. The two
/// replaced ops are left unused in `dead`, so that a walk over the block is
/// not disturbed.
static bool fuseReduceScatter(AllReduceOp reduce,
                              SmallVectorImpl<Operation *> &dead) {
  if (!reduce->hasOneUse())
    return false;
  auto slice = dyn_cast<AllSliceOp>(*reduce->user_begin());
  if (!slice || slice.getMesh() != reduce.getMesh() ||
      slice.getMeshAxes() != reduce.getMeshAxes())
    return false;
  int64_t dim = slice.getSliceDim();
  auto type = cast<RankedTensorType>(reduce.getType());
  int64_t n = slice.getGroupSize();
  if (type.getDimSize(dim) % n != 0)
    return false;
  OpBuilder b(slice);
  auto scatter = ReduceScatterOp::create(
      b, slice.getLoc(), slice.getType(), reduce.getMeshAttr(),
      reduce.getMeshAxes(), reduce.getInput(), reduce.getReductionAttr(),
      slice.getSliceDimAttr());
  slice.replaceAllUsesWith(scatter.getResult());
  dead.push_back(slice);
  dead.push_back(reduce);
  return true;
}

/// all_slice(all_gather(x)) and evenly divisible all_gather(all_slice(x))
/// over the same axes and dimension are x.
static bool cancelGatherSlice(Operation *op) {
  if (auto slice = dyn_cast<AllSliceOp>(op)) {
    auto gather = slice.getInput().getDefiningOp<AllGatherOp>();
    if (!gather || gather.getMeshAttr() != slice.getMeshAttr() ||
        gather.getMeshAxes() != slice.getMeshAxes() ||
        gather.getGatherDim() != slice.getSliceDim() ||
        gather.getInput().getType() != slice.getType())
      return false;
    slice.replaceAllUsesWith(gather.getInput());
    slice.erase();
    if (gather->use_empty())
      gather.erase();
    return true;
  }
  if (auto gather = dyn_cast<AllGatherOp>(op)) {
    auto slice = gather.getInput().getDefiningOp<AllSliceOp>();
    if (!slice || gather.getMeshAttr() != slice.getMeshAttr() ||
        gather.getMeshAxes() != slice.getMeshAxes() ||
        gather.getGatherDim() != slice.getSliceDim() ||
        slice.getInput().getType() != gather.getType())
      return false;
    gather.replaceAllUsesWith(slice.getInput());
    gather.erase();
    if (slice->use_empty())
      slice.erase();
    return true;
  }
  return false;
}

/// Replaces each collective identical to an earlier one in the block.
static bool mergeIdentical(Block &block) {
  bool changed = false;
  DenseMap<std::tuple<OperationName, Value, DictionaryAttr, Type>, Operation *>
      seen;
  for (Operation &op : llvm::make_early_inc_range(block)) {
    if (!isa<AllGatherOp, AllReduceOp, ReduceScatterOp, AllToAllOp,
             AllSliceOp, CollectivePermuteOp>(op))
      continue;
    auto key = std::make_tuple(op.getName(), op.getOperand(0),
                               op.getAttrDictionary(),
                               op.getResult(0).getType());
    auto [it, inserted] = seen.try_emplace(key, &op);
    if (inserted)
      continue;
    op.getResult(0).replaceAllUsesWith(it->second->getResult(0));
    op.erase();
    changed = true;
  }
  return changed;
}

/// Combines small all-reduces of a block that can run together. The
/// combined op goes where the last member was, so a group closes as soon as
/// an op uses one of its members' results.
static bool combineSmallAllReduces(Block &block, int64_t maxBytes) {
  using Key = std::tuple<Attribute, Attribute, Attribute, Type>;
  llvm::MapVector<Key, SmallVector<AllReduceOp>> open;
  SmallVector<SmallVector<AllReduceOp>> groups;
  auto close = [&](Key key) {
    auto it = open.find(key);
    if (it == open.end())
      return;
    if (it->second.size() > 1)
      groups.push_back(it->second);
    open.erase(it);
  };
  for (Operation &op : block) {
    // A use of an open group's result ends that group before this op.
    for (Value operand : op.getOperands())
      if (auto reduce = operand.getDefiningOp<AllReduceOp>())
        for (auto &[key, members] : llvm::make_early_inc_range(open))
          if (llvm::is_contained(members, reduce)) {
            close(key);
            break;
          }
    auto reduce = dyn_cast<AllReduceOp>(op);
    if (!reduce)
      continue;
    auto type = cast<RankedTensorType>(reduce.getType());
    if (tensorBytes(type.getShape(), type.getElementType()) > maxBytes)
      continue;
    Key key = {reduce.getMeshAttr(), reduce.getMeshAxes(),
               reduce.getReductionAttr(), type.getElementType()};
    open[key].push_back(reduce);
  }
  for (auto &entry : open)
    if (entry.second.size() > 1)
      groups.push_back(entry.second);

  for (ArrayRef<AllReduceOp> group : groups) {
    AllReduceOp last = group.back();
    OpBuilder b(last);
    Location loc = last.getLoc();
    Type element = cast<RankedTensorType>(last.getType()).getElementType();
    SmallVector<Value> flat;
    SmallVector<int64_t> sizes;
    for (AllReduceOp member : group) {
      auto type = cast<RankedTensorType>(member.getType());
      int64_t n = type.getNumElements();
      sizes.push_back(n);
      flat.push_back(type.getRank() == 1
                         ? member.getInput()
                         : ReshapeOp::create(
                               b, loc, RankedTensorType::get({n}, element),
                               member.getInput())
                               .getResult());
    }
    int64_t total = 0;
    for (int64_t n : sizes)
      total += n;
    auto packedType = RankedTensorType::get({total}, element);
    Value packed = tensor::ConcatOp::create(b, loc, packedType, 0, flat);
    auto combined = AllReduceOp::create(b, loc, packedType, last.getMeshAttr(),
                                        last.getMeshAxes(), packed,
                                        last.getReductionAttr());
    int64_t offset = 0;
    for (auto [i, n] : llvm::enumerate(sizes)) {
      AllReduceOp member = group[i];
      Value part = tensor::ExtractSliceOp::create(
          b, loc, RankedTensorType::get({n}, element), combined,
          ArrayRef<OpFoldResult>{b.getIndexAttr(offset)},
          ArrayRef<OpFoldResult>{b.getIndexAttr(n)},
          ArrayRef<OpFoldResult>{b.getIndexAttr(1)});
      Value shaped =
          cast<RankedTensorType>(member.getType()).getRank() == 1
              ? part
              : ReshapeOp::create(b, loc, member.getType(), part).getResult();
      member.replaceAllUsesWith(shaped);
      offset += n;
    }
    for (AllReduceOp member : group)
      member.erase();
  }
  return !groups.empty();
}

namespace {

/// Applies the rewrites above to every function until none applies.
struct OptimizeCollectivesPass
    : public palm::impl::PalmOptimizeCollectivesBase<OptimizeCollectivesPass> {
  using PalmOptimizeCollectivesBase::PalmOptimizeCollectivesBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (getLevel(module) != Level::Local) {
      module.emitError() << "palm-optimize-collectives runs on local-level "
                            "modules; run -palm-spmd-partition first";
      return signalPassFailure();
    }
    module.walk([&](func::FuncOp fn) {
      for (Block &block : fn.getBody()) {
        bool changed = true;
        while (changed) {
          changed = mergeIdentical(block);
          SmallVector<Operation *> dead;
          for (Operation &op : llvm::make_early_inc_range(block)) {
            if (llvm::is_contained(dead, &op))
              continue;
            if (auto reduce = dyn_cast<AllReduceOp>(op))
              changed |= fuseReduceScatter(reduce, dead);
            else
              changed |= cancelGatherSlice(&op);
          }
          for (Operation *op : dead)
            op->erase();
        }
        if (combineThreshold > 0)
          combineSmallAllReduces(block, combineThreshold);
      }
    });
  }
};

} // namespace
