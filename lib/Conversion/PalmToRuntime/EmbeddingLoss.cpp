//===- EmbeddingLoss.cpp - embedding and losses to host kernels (CPU) -----===//
//
// The embedding lookup of a vocabulary shard passes its first row's global
// index; the loss pieces pass the valid extents of their token shards, so
// padding tokens count nothing.
//
//===----------------------------------------------------------------------===//

#include "PopulatePatterns.h"

using namespace mlir;
using namespace mlir::palm;
using namespace mlir::palm::lowering;

namespace {

/// palm.embedding -> palmrt_embedding_f32.
struct EmbeddingToCall : RuntimePattern<EmbeddingOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(EmbeddingOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    if (failed(requireF32(op)) || failed(requireI32Ids(op)))
      return failure();
    ArrayRef<int64_t> table = op.getTable().getType().getShape();
    Value offset = op.getVocabShardAttr()
                       ? e.shardExtent(op.getVocabShardAttr(), table[0]).first
                       : e.i64(0);
    e.call(RuntimeCall::palmrt_embedding_f32,
           {adaptor.getTable(), adaptor.getIds(), resultPtr(op.getResult()),
            e.i64(product(op.getIds().getType().getShape())), e.i64(table[0]),
            e.i64(table[1]), offset});
    return success();
  }
};

/// The token grid of a loss or its backward as the runtime takes it: the
/// rank, the local shape, each dimension's real extent and the global token
/// count (the mean's divisor).
struct TokenGrid {
  Value rank, shape, extents, count;
};

template <typename Op> TokenGrid tokenGrid(Op op, Emitter &e) {
  ArrayRef<int64_t> tokens = op.getLogits().getType().getShape().drop_back();
  int64_t count = op.getTokenCount() ? *op.getTokenCount() : product(tokens);
  return {e.i32(tokens.size()), e.constArray(tokens),
          e.stackArray(e.tokenExtents(tokens, op.getTokenShardsAttr())),
          e.i64(count)};
}

/// palm.cross_entropy -> palmrt_cross_entropy_f32.
struct CrossEntropyToCall : RuntimePattern<CrossEntropyOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(CrossEntropyOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    if (failed(requireF32(op)) || failed(requireI32Ids(op)))
      return failure();
    ArrayRef<int64_t> logits = op.getLogits().getType().getShape();
    TokenGrid grid = tokenGrid(op, e);
    e.call(RuntimeCall::palmrt_cross_entropy_f32,
           {adaptor.getLogits(), adaptor.getTargets(),
            resultPtr(op.getResult()), grid.rank, grid.shape, grid.extents,
            e.i64(logits.back()), e.f32(op.getZLoss().convertToFloat()),
            grid.count});
    return success();
  }
};

/// palm.cross_entropy_grad -> palmrt_cross_entropy_grad_f32.
struct CrossEntropyGradToCall : RuntimePattern<CrossEntropyGradOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(CrossEntropyGradOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    if (failed(requireF32(op)) || failed(requireI32Ids(op)))
      return failure();
    ArrayRef<int64_t> logits = op.getLogits().getType().getShape();
    TokenGrid grid = tokenGrid(op, e);
    auto [offset, valid] =
        op.getVocabShardAttr()
            ? e.shardExtent(op.getVocabShardAttr(), logits.back())
            : std::pair(e.i64(0), e.i64(logits.back()));
    Value null = LLVM::ZeroOp::create(e.builder(), e.location(), e.ptrType());
    auto orNull = [&](Value v) { return v ? v : null; };
    e.call(RuntimeCall::palmrt_cross_entropy_grad_f32,
           {adaptor.getLogits(), adaptor.getTargets(),
            orNull(adaptor.getGrad()), orNull(adaptor.getMax()),
            orNull(adaptor.getSums()), resultPtr(op.getResult()), grid.rank,
            grid.shape, grid.extents, e.i64(logits.back()), valid, offset,
            e.f32(op.getZLoss().convertToFloat()), grid.count});
    return success();
  }
};

/// palm.embedding_grad -> palmrt_embedding_grad_f32.
struct EmbeddingGradToCall : RuntimePattern<EmbeddingGradOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(EmbeddingGradOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    if (failed(requireF32(op)) || failed(requireI32Ids(op)))
      return failure();
    ArrayRef<int64_t> table = op.getResult().getType().getShape();
    e.call(RuntimeCall::palmrt_embedding_grad_f32,
           {adaptor.getIds(), adaptor.getGrad(), resultPtr(op.getResult()),
            e.countOf(op.getIds()), e.i64(table[0]), e.i64(table[1]),
            e.shardOffset(op.getVocabShardAttr(), table[0])});
    return success();
  }
};

/// palm.softmax_max -> palmrt_softmax_max_f32.
struct SoftmaxMaxToCall : RuntimePattern<SoftmaxMaxOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(SoftmaxMaxOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    if (failed(requireF32(op)))
      return failure();
    ArrayRef<int64_t> logits = op.getLogits().getType().getShape();
    Value valid = e.shardExtent(op.getVocabShard(), logits.back()).second;
    e.call(RuntimeCall::palmrt_softmax_max_f32,
           {adaptor.getLogits(), resultPtr(op.getResult()),
            e.i64(product(logits.drop_back())), e.i64(logits.back()), valid});
    return success();
  }
};

/// palm.softmax_sums -> palmrt_softmax_sums_f32.
struct SoftmaxSumsToCall : RuntimePattern<SoftmaxSumsOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(SoftmaxSumsOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    if (failed(requireF32(op)) || failed(requireI32Ids(op)))
      return failure();
    ArrayRef<int64_t> logits = op.getLogits().getType().getShape();
    auto [offset, valid] = e.shardExtent(op.getVocabShard(), logits.back());
    e.call(RuntimeCall::palmrt_softmax_sums_f32,
           {adaptor.getLogits(), adaptor.getMax(), adaptor.getTargets(),
            resultPtr(op.getResult()), e.i64(product(logits.drop_back())),
            e.i64(logits.back()), valid, offset});
    return success();
  }
};

/// palm.cross_entropy_loss -> palmrt_cross_entropy_loss_f32.
struct CrossEntropyLossToCall : RuntimePattern<CrossEntropyLossOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(CrossEntropyLossOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    ArrayRef<int64_t> tokens = op.getMax().getType().getShape();
    e.call(RuntimeCall::palmrt_cross_entropy_loss_f32,
           {adaptor.getMax(), adaptor.getSums(), resultPtr(op.getResult()),
            e.i32(tokens.size()), e.constArray(tokens),
            e.stackArray(e.tokenExtents(tokens, op.getTokenShardsAttr())),
            e.f32(op.getZLoss().convertToFloat()),
            e.i64(op.getTokenCount())});
    return success();
  }
};

} // namespace

void mlir::palm::lowering::populateCpuEmbeddingLossPatterns(
    RewritePatternSet &patterns, const TypeConverter &converter,
    LoweringState &state) {
  patterns.add<EmbeddingToCall, CrossEntropyToCall, SoftmaxMaxToCall,
               SoftmaxSumsToCall, CrossEntropyLossToCall,
               CrossEntropyGradToCall, EmbeddingGradToCall>(converter, state);
}
