//===- Attention.cpp - attention to palmrt_attention ----------------------===//
//
// Both targets call the fused attention of the runtime (the host kernel, or
// the CUDA kernels); a query-head shard passes its global head offset.
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
    int64_t globalHeads = q[2];
    Value offset = e.i64(0);
    if (DimShardAttr shard = op.getHeadsShardAttr()) {
      globalHeads = shard.getSize();
      offset = e.shardExtent(shard, q[2]).first;
    }
    e.call(RuntimeCall::palmrt_attention,
           {e.ctx(), *dtype, adaptor.getQuery(), adaptor.getKey(),
            adaptor.getValue(), resultPtr(op.getResult()), e.i64(q[0]),
            e.i64(q[1]), e.i64(k[1]), e.i64(q[2]), e.i64(k[2]), e.i64(q[3]),
            e.i64(v[3]), e.i32(op.getCausal() ? 1 : 0),
            e.f32(op.getEffectiveScale()), offset,
            e.i64(globalHeads / k[2]), e.i64(globalHeads)});
    return success();
  }
};

} // namespace

void mlir::palm::lowering::populateAttentionPatterns(
    RewritePatternSet &patterns, const TypeConverter &converter,
    LoweringState &state) {
  patterns.add<AttentionToCall>(converter, state);
}
