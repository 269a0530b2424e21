//===- Collectives.cpp - palm collectives to palmrt collectives -----------===//
//
// Both targets: each collective calls its palmrt function (MPI on the host,
// NCCL on CUDA) naming the communicator group of its mesh axes; the
// program description lists the groups in order of first use.
//
//===----------------------------------------------------------------------===//

#include "PopulatePatterns.h"

using namespace mlir;
using namespace mlir::palm;
using namespace mlir::palm::lowering;

static Value reductionOf(Emitter &e, ReductionKindAttr kind) {
  return e.i32(kind.getValue() == ReductionKind::Sum ? PALMRT_SUM : PALMRT_MAX);
}

// Each collective's arguments after (ctx, in, out), as palmrt.h orders them.

static SmallVector<Value> argumentsOf(Emitter &e, AllReduceOp op, Value dtype) {
  return {e.countOf(op.getInput()), dtype,
          reductionOf(e, op.getReductionAttr()), e.group(op.getMeshAxes())};
}

static SmallVector<Value> argumentsOf(Emitter &e, AllGatherOp op, Value dtype) {
  return {e.rankOf(op.getInput()), e.shapeOf(op.getInput()),
          e.i32(op.getGatherDim()), dtype, e.group(op.getMeshAxes())};
}

static SmallVector<Value> argumentsOf(Emitter &e, ReduceScatterOp op,
                                      Value dtype) {
  return {e.rankOf(op.getInput()),
          e.shapeOf(op.getInput()),
          e.i32(op.getScatterDim()),
          dtype,
          reductionOf(e, op.getReductionAttr()),
          e.group(op.getMeshAxes())};
}

static SmallVector<Value> argumentsOf(Emitter &e, AllToAllOp op, Value dtype) {
  return {e.rankOf(op.getInput()),
          e.shapeOf(op.getInput()),
          e.i32(op.getSplitDim()),
          e.i32(op.getConcatDim()),
          dtype,
          e.group(op.getMeshAxes())};
}

static SmallVector<Value> argumentsOf(Emitter &e, CollectivePermuteOp op,
                                      Value dtype) {
  ArrayRef<int64_t> pairs = op.getSourceTargetPairs();
  return {e.countOf(op.getInput()), dtype, e.group(op.getMeshAxes()),
          e.i64(pairs.size() / 2), e.constArray(pairs)};
}

static SmallVector<Value> argumentsOf(Emitter &e, AllSliceOp op, Value dtype) {
  return {e.rankOf(op.getInput()), e.shapeOf(op.getInput()),
          e.i32(op.getSliceDim()), dtype, e.group(op.getMeshAxes())};
}

namespace {

/// One collective op to its palmrt call `callee`.
template <typename OpT, RuntimeCall callee>
struct CollectiveToCall : RuntimePattern<OpT> {
  using RuntimePattern<OpT>::RuntimePattern;
  using OpAdaptor = typename OpT::Adaptor;

  LogicalResult lower(OpT op, OpAdaptor adaptor, Emitter &e) const override {
    FailureOr<Value> dtype =
        this->dtypeCode(e, op, tensorType(op.getInput()).getElementType());
    if (failed(dtype))
      return failure();
    SmallVector<Value> args = {e.ctx(), adaptor.getInput(),
                               this->resultPtr(op.getResult())};
    llvm::append_range(args, argumentsOf(e, op, *dtype));
    e.call(callee, args);
    return success();
  }
};

} // namespace

void mlir::palm::lowering::populateCollectivePatterns(
    RewritePatternSet &patterns, const TypeConverter &converter,
    LoweringState &state) {
  patterns.add<
      CollectiveToCall<AllReduceOp, RuntimeCall::palmrt_all_reduce>,
      CollectiveToCall<AllGatherOp, RuntimeCall::palmrt_all_gather>,
      CollectiveToCall<ReduceScatterOp, RuntimeCall::palmrt_reduce_scatter>,
      CollectiveToCall<AllToAllOp, RuntimeCall::palmrt_all_to_all>,
      CollectiveToCall<CollectivePermuteOp,
                       RuntimeCall::palmrt_collective_permute>,
      CollectiveToCall<AllSliceOp, RuntimeCall::palmrt_all_slice>>(converter,
                                                                   state);
}
