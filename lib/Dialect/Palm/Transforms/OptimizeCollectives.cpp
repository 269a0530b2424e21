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

/// Combines small all-reduces of a block that can run together: each may
/// run anywhere after its operand is computed and before its result is
/// first used, so a group is a set whose ranges overlap (a data-parallel
/// backward pass's gradient reductions, ready layer by layer and used by the
/// optimizer at the end, become buckets). The combined op goes right after
/// the last member's operand is computed.
static bool combineSmallAllReduces(Block &block, int64_t maxBytes) {
  using Key = std::tuple<Attribute, Attribute, Attribute, Type, int64_t>;
  DenseMap<Operation *, int64_t> position;
  int64_t index = 0;
  for (Operation &op : block)
    position[&op] = index++;
  // Where a value is ready: after its defining op (block arguments and
  // values from outside are ready at the start).
  auto ready = [&](Value v) -> int64_t {
    Operation *def = v.getDefiningOp();
    return def && def->getBlock() == &block ? position[def] : -1;
  };
  auto firstUse = [&](Operation *op) {
    int64_t first = index;
    for (Operation *user : op->getUsers()) {
      Operation *inBlock = block.findAncestorOpInBlock(*user);
      if (inBlock)
        first = std::min(first, position[inBlock]);
    }
    return first;
  };
  struct Group {
    SmallVector<AllReduceOp> members;
    int64_t latestReady = -1, earliestUse = 0;
  };
  llvm::MapVector<Key, SmallVector<Group>> open;
  for (Operation &op : block) {
    auto reduce = dyn_cast<AllReduceOp>(op);
    if (!reduce)
      continue;
    auto type = cast<RankedTensorType>(reduce.getType());
    if (tensorBytes(type.getShape(), type.getElementType()) > maxBytes)
      continue;
    // An all-reduce of another's result stays where it is: that one may be
    // combined (and erased) itself.
    if (reduce.getInput().getDefiningOp<AllReduceOp>())
      continue;
    // Tensors are bucketed within their layer (gradients ready together,
    // and the report keeps attributing bytes to layers); scalars (norms,
    // RMS pieces) across the whole step.
    std::optional<int64_t> layer =
        type.getNumElements() > 1 ? layerOf(reduce.getLoc()) : std::nullopt;
    Key key = {reduce.getMeshAttr(), reduce.getMeshAxes(),
               reduce.getReductionAttr(), type.getElementType(),
               layer.value_or(-1)};
    int64_t r = ready(reduce.getInput()), u = firstUse(reduce);
    SmallVector<Group> &groups = open[key];
    Group *fit = nullptr;
    for (Group &g : groups)
      if (r < g.earliestUse && g.latestReady < u) {
        fit = &g;
        break;
      }
    if (!fit) {
      groups.push_back(Group{{}, r, u});
      fit = &groups.back();
    }
    fit->members.push_back(reduce);
    fit->latestReady = std::max(fit->latestReady, r);
    fit->earliestUse = std::min(fit->earliestUse, u);
  }
  SmallVector<std::pair<SmallVector<AllReduceOp>, int64_t>> groups;
  for (auto &entry : open)
    for (Group &g : entry.second)
      if (g.members.size() > 1)
        groups.push_back({g.members, g.latestReady});

  SmallVector<Operation *> byPosition(block.getOperations().size());
  for (auto [op, at] : position)
    byPosition[at] = op;
  for (auto &[group, latestReady] : groups) {
    AllReduceOp last = group.back();
    // Right after the last operand is computed (at the start without one).
    OpBuilder b(last.getContext());
    if (latestReady >= 0)
      b.setInsertionPointAfter(byPosition[latestReady]);
    else
      b.setInsertionPointToStart(&block);
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
