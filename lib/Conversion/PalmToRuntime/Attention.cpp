//===- Attention.cpp - attention to palmrt_attention ----------------------===//
//
// Both targets call the fused attention of the runtime (the host kernel, or
// the CUDA kernels). A query-head shard passes its global head offset; a
// key/value-head shard shifts that offset by the query heads its preceding
// key/value heads serve, so that the runtime's (offset + i) / group is a
// local key/value head; a query shard passes its global position. The
// backward (CPU only for now) takes the same mapping.
//
//===----------------------------------------------------------------------===//

#include "PopulatePatterns.h"

using namespace mlir;
using namespace mlir::palm;
using namespace mlir::palm::lowering;

namespace {

/// The runtime's view of an attention's (or its backward's) shards: the
/// global head offset (shifted past the key/value heads of earlier shards),
/// the query heads per key/value head, the heads that are real, and the
/// global position of the first query.
struct HeadMapping {
  Value offset, group, heads, queryOffset;
};

template <typename Op> HeadMapping headMapping(Op op, Emitter &e) {
  ArrayRef<int64_t> q = op.getQuery().getType().getShape(),
                    k = op.getKey().getType().getShape();
  DimShardAttr headsShard = op.getHeadsShardAttr();
  DimShardAttr kvShard = op.getKvHeadsShardAttr();
  int64_t globalHeads = headsShard ? headsShard.getSize() : q[2];
  int64_t group = globalHeads / (kvShard ? kvShard.getSize() : k[2]);
  Value offset = e.shardOffset(headsShard, q[2]);
  Value heads = e.i64(globalHeads);
  if (kvShard) {
    OpBuilder &b = e.builder();
    Value skipped = arith::MulIOp::create(
        b, e.location(), e.shardOffset(kvShard, k[2]), e.i64(group));
    offset = arith::SubIOp::create(b, e.location(), offset, skipped);
    heads = arith::SubIOp::create(b, e.location(), heads, skipped);
  }
  return {offset, e.i64(group), heads,
          e.shardOffset(op.getSeqShardAttr(), q[1])};
}

/// The sizes both calls take after their tensors: b, s, t, h, g, dk, dv.
template <typename Op>
SmallVector<Value> attentionSizes(Op op, Emitter &e) {
  ArrayRef<int64_t> q = op.getQuery().getType().getShape(),
                    k = op.getKey().getType().getShape(),
                    v = op.getValue().getType().getShape();
  return {e.i64(q[0]), e.i64(q[1]), e.i64(k[1]), e.i64(q[2]),
          e.i64(k[2]), e.i64(q[3]), e.i64(v[3])};
}

/// palm.attention -> palmrt_attention (palmrt_attention_f32 on the CPU
/// when the log-sum-exp is kept for a backward pass).
struct AttentionToCall : RuntimePattern<AttentionOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(AttentionOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    if (state.target == Target::Cpu && failed(requireF32(op)))
      return failure();
    FailureOr<Value> dtype =
        dtypeCode(e, op, op.getQuery().getType().getElementType());
    if (failed(dtype))
      return failure();
    HeadMapping m = headMapping(op, e);
    SmallVector<Value> args = {adaptor.getQuery(), adaptor.getKey(),
                               adaptor.getValue(), resultPtr(op.getResult())};
    llvm::append_range(args, attentionSizes(op, e));
    llvm::append_range(args, ArrayRef<Value>{
                                 e.i32(op.getCausal() ? 1 : 0),
                                 e.f32(op.getEffectiveScale()), m.offset,
                                 m.group, m.heads, m.queryOffset});
    if (op.getLse()) {
      if (state.target != Target::Cpu)
        return refuse(op.emitOpError()
                      << "keeps its log-sum-exp for a backward pass, which "
                         "the cuda target does not lower yet: compile "
                         "training programs for the CPU");
      args.push_back(resultPtr(op.getLse()));
      e.call(RuntimeCall::palmrt_attention_f32, args);
      return success();
    }
    args.insert(args.begin(), {e.ctx(), *dtype});
    e.call(RuntimeCall::palmrt_attention, args);
    return success();
  }
};

/// palm.attention_grad -> palmrt_attention_grad_f32 (CPU).
struct AttentionGradToCall : RuntimePattern<AttentionGradOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(AttentionGradOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    if (state.target != Target::Cpu)
      return refuse(op.emitOpError()
                    << "has no cuda lowering yet: compile training programs "
                       "for the CPU");
    if (failed(requireF32(op)))
      return failure();
    HeadMapping m = headMapping(op, e);
    SmallVector<Value> args = {
        adaptor.getQuery(),          adaptor.getKey(),
        adaptor.getValue(),          adaptor.getOut(),
        adaptor.getLse(),            adaptor.getGrad(),
        resultPtr(op.getQueryGrad()), resultPtr(op.getKeyGrad()),
        resultPtr(op.getValueGrad())};
    llvm::append_range(args, attentionSizes(op, e));
    llvm::append_range(args, ArrayRef<Value>{
                                 e.i32(op.getCausal() ? 1 : 0),
                                 e.f32(op.getEffectiveScale()), m.offset,
                                 m.group, m.heads, m.queryOffset});
    e.call(RuntimeCall::palmrt_attention_grad_f32, args);
    return success();
  }
};

} // namespace

void mlir::palm::lowering::populateAttentionPatterns(
    RewritePatternSet &patterns, const TypeConverter &converter,
    LoweringState &state) {
  patterns.add<AttentionToCall, AttentionGradToCall>(converter, state);
}
