//===- AccumulateGradients.cpp - one step over several micro-batches ------===//
//
// After -palm-autodiff a function returns the loss and the gradients of one
// batch. This pass makes it take M such batches (micro-batches) and return
// the mean loss and mean gradients, computing one micro-batch after the
// other so that only one micro-batch's activations are live at a time.
//
//===----------------------------------------------------------------------===//

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/IRMapping.h"
#include "palm/Dialect/Palm/IR/PalmOps.h"
#include "palm/Dialect/Palm/Transforms/Passes.h"
#include "palm/Dialect/Palm/Transforms/Training.h"

namespace mlir::palm {
#define GEN_PASS_DEF_PALMACCUMULATEGRADIENTS
#include "palm/Dialect/Palm/Transforms/Passes.h.inc"
} // namespace mlir::palm

using namespace mlir;
using namespace mlir::palm;

namespace {

struct AccumulateGradientsPass
    : public palm::impl::PalmAccumulateGradientsBase<AccumulateGradientsPass> {
  using PalmAccumulateGradientsBase::PalmAccumulateGradientsBase;

  LogicalResult rewrite(func::FuncOp fn);

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (microbatches < 1) {
      module.emitError() << "-palm-accumulate-gradients needs microbatches "
                            ">= 1, not "
                         << static_cast<int64_t>(microbatches);
      return signalPassFailure();
    }
    if (failed(forEachDifferentiatedFunction(
            module, getArgument(), [&](func::FuncOp fn) {
              return success(microbatches == 1 || succeeded(rewrite(fn)));
            })))
      return signalPassFailure();
  }
};

} // namespace

LogicalResult AccumulateGradientsPass::rewrite(func::FuncOp fn) {
  MLIRContext *ctx = fn.getContext();
  Block &body = fn.getBody().front();
  Operation *ret = body.getTerminator();
  FailureOr<unsigned> lossIndex = findLossResult(fn);
  if (failed(lossIndex))
    return failure();
  for (unsigned i = 0; i < fn.getNumResults(); ++i)
    if (i != *lossIndex && !fn.getResultAttr(i, PalmDialect::kGradOfAttrName))
      return fn.emitError()
             << "result #" << i
             << " is neither the loss nor a gradient: with micro-batches a "
                "step returns only those (their mean over the micro-batches)";

  // The inputs: what is neither a parameter nor optimizer state.
  SmallVector<BlockArgument> inputs;
  for (BlockArgument arg : body.getArguments())
    if (!fn.getArgAttr(arg.getArgNumber(), PalmDialect::kInitAttrName) &&
        !fn.getArgAttr(arg.getArgNumber(), PalmDialect::kRoleAttrName))
      inputs.push_back(arg);
  if (inputs.empty())
    return fn.emitError() << "has no inputs to split into micro-batches: "
                             "every argument is a parameter or state";

  auto mark = [&](BlockArgument arg, int64_t index) {
    fn.setArgAttr(arg.getArgNumber(), PalmDialect::kMicrobatchAttrName,
                  DenseI64ArrayAttr::get(ctx, {index, microbatches}));
  };
  // Micro-batch 0 reads the original arguments and is the original body;
  // micro-batch i > 0 reads new arguments (appended, so no argument number
  // a palm.grad_of names moves) and is a copy of the body.
  // Each op records its micro-batch (palm.microbatch): CSE would otherwise
  // merge what the micro-batches compute alike from the parameters (a
  // weight's all-gather), keeping it alive from the first micro-batch's
  // forward to the last one's backward.
  OpBuilder b(ret);
  auto index = [&](int64_t i) { return b.getI64IntegerAttr(i); };
  SmallVector<Operation *> original;
  for (Operation &op : body.without_terminator()) {
    op.setAttr(PalmDialect::kMicrobatchAttrName, index(0));
    original.push_back(&op);
  }
  SmallVector<Value> sums(ret->getOperands());
  for (BlockArgument arg : inputs)
    mark(arg, 0);
  for (int64_t i = 1; i < microbatches; ++i) {
    IRMapping mapping;
    for (BlockArgument arg : inputs) {
      unsigned index = fn.getNumArguments();
      if (failed(fn.insertArgument(index, arg.getType(),
                                   fn.getArgAttrDict(arg.getArgNumber()),
                                   arg.getLoc())))
        return fn.emitError() << "cannot add the inputs of micro-batch " << i;
      mark(body.getArgument(index), i);
      mapping.map(arg, body.getArgument(index));
    }
    b.setInsertionPoint(ret);
    for (Operation *op : original)
      b.clone(*op, mapping)->setAttr(PalmDialect::kMicrobatchAttrName,
                                     index(i));
    // Each gradient is added to its running sum right where it is computed,
    // so it dies there: the sums and one micro-batch's activations are live
    // at a time, not also a whole micro-batch's gradients.
    for (auto [r, sum] : llvm::enumerate(sums)) {
      Value next = mapping.lookupOrDefault(ret->getOperand(r));
      // After both operands (a gradient that does not depend on the inputs
      // is one value for every micro-batch).
      Operation *after = next.getDefiningOp();
      if (Operation *sumDef = sum.getDefiningOp();
          sumDef && (!after || after->isBeforeInBlock(sumDef)))
        after = sumDef;
      if (after)
        b.setInsertionPointAfter(after);
      else
        b.setInsertionPoint(ret);
      auto add =
          AddOp::create(b,
                        NameLoc::get(b.getStringAttr(
                            "microbatch." + std::to_string(i) + ".accumulate")),
                        sum.getType(), sum, next);
      add->setAttr(PalmDialect::kMicrobatchAttrName, index(i));
      sum = add;
    }
  }
  b.setInsertionPoint(ret);
  Location meanLoc = NameLoc::get(b.getStringAttr("microbatch.mean"));
  auto factor =
      b.getF32FloatAttr(static_cast<float>(1.0 / double(microbatches)));
  for (auto [r, sum] : llvm::enumerate(sums))
    ret->setOperand(r, ScaleOp::create(b, meanLoc, sum, factor));
  return success();
}
