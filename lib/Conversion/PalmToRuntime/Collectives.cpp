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

namespace {

/// One collective op to its palmrt call; subclasses give the call's
/// arguments after the context, the input and the result.
template <typename OpT>
struct CollectivePattern : RuntimePattern<OpT> {
  using RuntimePattern<OpT>::RuntimePattern;
  using Adaptor = typename OpT::Adaptor;

  LogicalResult
  matchAndRewrite(OpT op, Adaptor adaptor,
                  ConversionPatternRewriter &r) const override {
    Emitter e = this->emitter(r, op);
    FailureOr<Value> dtype =
        this->dtypeCode(e, op, tensorType(op.getInput()).getElementType());
    if (failed(dtype))
      return failure();
    SmallVector<Value> args = {e.ctx(), adaptor.getInput(),
                               this->resultPtr(op.getResult())};
    llvm::append_range(args, arguments(e, op, *dtype));
    e.call(callee(), args);
    return this->replaceByResults(r, op);
  }

  virtual RuntimeCall callee() const = 0;
  virtual SmallVector<Value> arguments(Emitter &e, OpT op,
                                       Value dtype) const = 0;

  static Value rank(Emitter &e, Value v) {
    return e.i32(tensorType(v).getRank());
  }
  static Value shape(Emitter &e, Value v) {
    return e.constArray(tensorType(v).getShape());
  }
  static Value count(Emitter &e, Value v) {
    return e.i64(tensorType(v).getNumElements());
  }
  static Value reduction(Emitter &e, ReductionKindAttr kind) {
    return e.i32(kind.getValue() == ReductionKind::Sum ? PALMRT_SUM
                                                       : PALMRT_MAX);
  }
};

/// palm.all_reduce -> palmrt_all_reduce.
struct AllReduceToCall : CollectivePattern<AllReduceOp> {
  using CollectivePattern::CollectivePattern;
  RuntimeCall callee() const override {
    return RuntimeCall::palmrt_all_reduce;
  }
  SmallVector<Value> arguments(Emitter &e, AllReduceOp op,
                               Value dtype) const override {
    return {count(e, op.getInput()), dtype,
            reduction(e, op.getReductionAttr()), e.group(op.getMeshAxes())};
  }
};

/// palm.all_gather -> palmrt_all_gather.
struct AllGatherToCall : CollectivePattern<AllGatherOp> {
  using CollectivePattern::CollectivePattern;
  RuntimeCall callee() const override {
    return RuntimeCall::palmrt_all_gather;
  }
  SmallVector<Value> arguments(Emitter &e, AllGatherOp op,
                               Value dtype) const override {
    return {rank(e, op.getInput()), shape(e, op.getInput()),
            e.i32(op.getGatherDim()), dtype, e.group(op.getMeshAxes())};
  }
};

/// palm.reduce_scatter -> palmrt_reduce_scatter.
struct ReduceScatterToCall : CollectivePattern<ReduceScatterOp> {
  using CollectivePattern::CollectivePattern;
  RuntimeCall callee() const override {
    return RuntimeCall::palmrt_reduce_scatter;
  }
  SmallVector<Value> arguments(Emitter &e, ReduceScatterOp op,
                               Value dtype) const override {
    return {rank(e, op.getInput()),
            shape(e, op.getInput()),
            e.i32(op.getScatterDim()),
            dtype,
            reduction(e, op.getReductionAttr()),
            e.group(op.getMeshAxes())};
  }
};

/// palm.all_to_all -> palmrt_all_to_all.
struct AllToAllToCall : CollectivePattern<AllToAllOp> {
  using CollectivePattern::CollectivePattern;
  RuntimeCall callee() const override {
    return RuntimeCall::palmrt_all_to_all;
  }
  SmallVector<Value> arguments(Emitter &e, AllToAllOp op,
                               Value dtype) const override {
    return {rank(e, op.getInput()),     shape(e, op.getInput()),
            e.i32(op.getSplitDim()),    e.i32(op.getConcatDim()),
            dtype,                      e.group(op.getMeshAxes())};
  }
};

/// palm.collective_permute -> palmrt_collective_permute.
struct PermuteToCall : CollectivePattern<CollectivePermuteOp> {
  using CollectivePattern::CollectivePattern;
  RuntimeCall callee() const override {
    return RuntimeCall::palmrt_collective_permute;
  }
  SmallVector<Value> arguments(Emitter &e, CollectivePermuteOp op,
                               Value dtype) const override {
    ArrayRef<int64_t> pairs = op.getSourceTargetPairs();
    return {count(e, op.getInput()), dtype, e.group(op.getMeshAxes()),
            e.i64(pairs.size() / 2), e.constArray(pairs)};
  }
};

/// palm.all_slice -> palmrt_all_slice.
struct AllSliceToCall : CollectivePattern<AllSliceOp> {
  using CollectivePattern::CollectivePattern;
  RuntimeCall callee() const override {
    return RuntimeCall::palmrt_all_slice;
  }
  SmallVector<Value> arguments(Emitter &e, AllSliceOp op,
                               Value dtype) const override {
    return {rank(e, op.getInput()), shape(e, op.getInput()),
            e.i32(op.getSliceDim()), dtype, e.group(op.getMeshAxes())};
  }
};

} // namespace

void mlir::palm::lowering::populateCollectivePatterns(
    RewritePatternSet &patterns, const TypeConverter &converter,
    LoweringState &state) {
  patterns.add<AllReduceToCall, AllGatherToCall, ReduceScatterToCall,
               AllToAllToCall, PermuteToCall, AllSliceToCall>(converter,
                                                              state);
}
