//===- Normalization.cpp - layer norm and RoPE to host kernels (CPU) ------===//
//
// A layer norm over split features is two calls: each row's moments over
// the shard's valid features, and (after their all-gather) the merge and the
// normalization.
//

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

/// palm.row_moments -> palmrt_row_moments_f32 over the shard's valid
/// features.
struct RowMomentsToCall : RuntimePattern<RowMomentsOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(RowMomentsOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    if (failed(requireF32(op)))
      return failure();
    ArrayRef<int64_t> x = op.getInput().getType().getShape();
    Value valid = e.shardExtent(op.getFeatureShard(), x.back()).second;
    e.call(RuntimeCall::palmrt_row_moments_f32,
           {adaptor.getInput(), resultPtr(op.getResult()),
            e.i64(product(x.drop_back())), e.i64(x.back()), valid});
    return success();
  }
};

/// palm.layer_norm_merged -> palmrt_layer_norm_merged_f32.
struct LayerNormMergedToCall : RuntimePattern<LayerNormMergedOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(LayerNormMergedOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    if (failed(requireF32(op)))
      return failure();
    ArrayRef<int64_t> x = op.getInput().getType().getShape();
    e.call(RuntimeCall::palmrt_layer_norm_merged_f32,
           {adaptor.getInput(), adaptor.getScale(), adaptor.getMoments(),
            resultPtr(op.getResult()), e.i64(product(x.drop_back())),
            e.i64(x.back()),
            e.i64(op.getMoments().getType().getDimSize(0)),
            e.f32(op.getEpsilon().convertToFloat())});
    return success();
  }
};

/// palm.layer_norm_grad -> palmrt_layer_norm_grad_f32.
struct LayerNormGradToCall : RuntimePattern<LayerNormGradOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(LayerNormGradOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    if (failed(requireF32(op)))
      return failure();
    ArrayRef<int64_t> x = op.getInput().getType().getShape();
    e.call(RuntimeCall::palmrt_layer_norm_grad_f32,
           {adaptor.getInput(), adaptor.getScale(), adaptor.getGrad(),
            resultPtr(op.getInputGrad()), resultPtr(op.getScaleGrad()),
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
            e.f32(op.getBase().convertToFloat()),
            e.shardOffset(op.getSeqShardAttr(), x[1]),
            e.i32(op.getInverse() ? 1 : 0)});
    return success();
  }
};

} // namespace

void mlir::palm::lowering::populateCpuNormalizationPatterns(
    RewritePatternSet &patterns, const TypeConverter &converter,
    LoweringState &state) {
  patterns.add<LayerNormToCall, RowMomentsToCall, LayerNormMergedToCall,
               LayerNormGradToCall, RopeToCall>(converter, state);
}
