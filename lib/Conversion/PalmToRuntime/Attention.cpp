//===- Attention.cpp - attention to palmrt_attention ----------------------===//
//
// Both targets call the fused attention of the runtime (the host kernel, or
// the CUDA kernels). A query-head shard passes its global head offset; a
// key/value-head shard shifts that offset by the query heads its preceding
// key/value heads serve, so that the runtime's (offset + i) / group is a
// local key/value head; a query shard passes its global position.
//
//===----------------------------------------------------------------------===//

#include "PopulatePatterns.h"

using namespace mlir;
using namespace mlir::palm;
using namespace mlir::palm::lowering;

namespace {

/// palm.attention -> palmrt_attention.
struct AttentionToCall : RuntimePattern<AttentionOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(AttentionOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    if (state.target == Target::Cpu && failed(requireF32(op)))
      return failure();
    ArrayRef<int64_t> q = op.getQuery().getType().getShape(),
                      k = op.getKey().getType().getShape(),
                      v = op.getValue().getType().getShape();
    FailureOr<Value> dtype =
        dtypeCode(e, op, op.getQuery().getType().getElementType());
    if (failed(dtype))
      return failure();
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
    Value queryOffset = e.shardOffset(op.getSeqShardAttr(), q[1]);
    e.call(RuntimeCall::palmrt_attention,
           {e.ctx(), *dtype, adaptor.getQuery(), adaptor.getKey(),
            adaptor.getValue(), resultPtr(op.getResult()), e.i64(q[0]),
            e.i64(q[1]), e.i64(k[1]), e.i64(q[2]), e.i64(k[2]), e.i64(q[3]),
            e.i64(v[3]), e.i32(op.getCausal() ? 1 : 0),
            e.f32(op.getEffectiveScale()), offset, e.i64(group), heads,
            queryOffset});
    return success();
  }
};

} // namespace

void mlir::palm::lowering::populateAttentionPatterns(
    RewritePatternSet &patterns, const TypeConverter &converter,
    LoweringState &state) {
  patterns.add<AttentionToCall>(converter, state);
}
