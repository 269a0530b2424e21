//===- Attention.cpp - attention to palmrt_attention ----------------------===//
//
// Both targets call the fused attention of the runtime (the host kernel, or
// the CUDA kernels). A query-head shard passes its global head offset; a
// key/value-head shard shifts that offset by the query heads its preceding
// key/value heads serve, so that the runtime's (offset + i) / group is a
// local key/value head; a query shard passes its global position. The
// backward takes the same mapping: palmrt_attention_grad_f32 on the CPU,
// palmrt_attention_grad (the CUDA kernels) on cuda.
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

/// palm.attention -> palmrt_attention, with the log-sum-exp's buffer when it
/// is kept for a backward pass (palmrt_attention_f32 on the CPU then).
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
    if (op.getLse() && state.target == Target::Cpu) {
      args.push_back(resultPtr(op.getLse()));
      e.call(RuntimeCall::palmrt_attention_f32, args);
      return success();
    }
    args.push_back(op.getLse() ? resultPtr(op.getLse())
                               : LLVM::ZeroOp::create(e.builder(), e.location(),
                                                      e.ptrType()));
    args.insert(args.begin(), {e.ctx(), *dtype});
    e.call(RuntimeCall::palmrt_attention, args);
    return success();
  }
};

/// palm.attention_grad -> palmrt_attention_grad_f32 on the CPU,
/// palmrt_attention_grad on cuda (f32 or bf16 tensors, f32 lse).
struct AttentionGradToCall : RuntimePattern<AttentionGradOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(AttentionGradOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    bool cpu = state.target == Target::Cpu;
    if (cpu && failed(requireF32(op)))
      return failure();
    FailureOr<Value> dtype =
        dtypeCode(e, op, op.getQuery().getType().getElementType());
    if (failed(dtype))
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
    if (cpu) {
      e.call(RuntimeCall::palmrt_attention_grad_f32, args);
      return success();
    }
    args.insert(args.begin(), {e.ctx(), *dtype});
    e.call(RuntimeCall::palmrt_attention_grad, args);
    return success();
  }
};

} // namespace

void mlir::palm::lowering::populateAttentionPatterns(
    RewritePatternSet &patterns, const TypeConverter &converter,
    LoweringState &state) {
  patterns.add<AttentionToCall, AttentionGradToCall>(converter, state);
}
