//===- Normalization.cpp - layer norm and RoPE to host kernels (CPU) ------===//

#include "PopulatePatterns.h"

using namespace mlir;
using namespace mlir::palm;
using namespace mlir::palm::lowering;

namespace {

/// palm.layer_norm -> palmrt_layer_norm_f32.
struct LayerNormToCall : RuntimePattern<LayerNormOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(LayerNormOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    if (failed(requireF32(op)))
      return failure();
    ArrayRef<int64_t> x = op.getInput().getType().getShape();
    e.call(RuntimeCall::palmrt_layer_norm_f32,
           {adaptor.getInput(), adaptor.getScale(), resultPtr(op.getResult()),
            e.i64(product(x.drop_back())), e.i64(x.back()),
            e.f32(op.getEpsilon().convertToFloat())});
    return success();
  }
};

/// palm.rope -> palmrt_rope_f32.
struct RopeToCall : RuntimePattern<RopeOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(RopeOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    if (failed(requireF32(op)))
      return failure();
    ArrayRef<int64_t> x = op.getInput().getType().getShape();
    e.call(RuntimeCall::palmrt_rope_f32,
           {adaptor.getInput(), resultPtr(op.getResult()), e.i64(x[0]),
            e.i64(x[1]), e.i64(x[2]), e.i64(x[3]),
            e.f32(op.getBase().convertToFloat()), e.shardOffset(op.getSeqShardAttr(), x[1])});
    return success();
  }
};

} // namespace

void mlir::palm::lowering::populateCpuNormalizationPatterns(
    RewritePatternSet &patterns, const TypeConverter &converter,
    LoweringState &state) {
  patterns.add<LayerNormToCall, RopeToCall>(converter, state);
}
