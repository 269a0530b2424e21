//===- Optimizer.cpp - the optimizer's ops to host kernels (CPU) ----------===//
//
// Each op is one call over the local shard; its 0-d operands (the global
// gradient norm's square, the learning rate, the step, whole sums of
// squares) are pointers to one float, reduced by the partitioner's
// collectives before the call.
//
//===----------------------------------------------------------------------===//

#include "PopulatePatterns.h"

using namespace mlir;
using namespace mlir::palm;
using namespace mlir::palm::lowering;

namespace {

float f32Of(FloatAttr attr) { return attr.getValue().convertToFloat(); }

/// palm.sum_squares -> palmrt_sum_squares_f32.
struct SumSquaresToCall : RuntimePattern<SumSquaresOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(SumSquaresOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    if (failed(requireF32(op)))
      return failure();
    e.call(RuntimeCall::palmrt_sum_squares_f32,
           {adaptor.getInput(), resultPtr(op.getResult()),
            e.countOf(op.getInput())});
    return success();
  }
};

/// palm.learning_rate -> palmrt_learning_rate_f32.
struct LearningRateToCall : RuntimePattern<LearningRateOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(LearningRateOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    int32_t schedule = op.getSchedule() == "inverse_sqrt" ? 0 : 1;
    e.call(RuntimeCall::palmrt_learning_rate_f32,
           {adaptor.getStep(), resultPtr(op.getResult()), e.i32(schedule),
            e.f32(f32Of(op.getPeakAttr())), e.i64(op.getWarmupSteps()),
            e.i64(op.getTotalSteps()), e.f32(f32Of(op.getFinalAttr()))});
    return success();
  }
};

/// palm.adafactor_moments -> palmrt_adafactor_moments_f32.
struct AdafactorMomentsToCall : RuntimePattern<AdafactorMomentsOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(AdafactorMomentsOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    if (failed(requireF32(op)))
      return failure();
    e.call(RuntimeCall::palmrt_adafactor_moments_f32,
           {adaptor.getGrad(), adaptor.getV(), adaptor.getGradSumSquares(),
            adaptor.getStep(), resultPtr(op.getNewV()),
            resultPtr(op.getUpdateSumSquares()), e.countOf(op.getGrad()),
            e.f32(f32Of(op.getDecayRateAttr())),
            e.f32(f32Of(op.getEpsilonAttr())),
            e.f32(f32Of(op.getMaxNormAttr()))});
    return success();
  }
};

/// palm.adafactor_apply -> palmrt_adafactor_apply_f32.
struct AdafactorApplyToCall : RuntimePattern<AdafactorApplyOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(AdafactorApplyOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    if (failed(requireF32(op)))
      return failure();
    e.call(RuntimeCall::palmrt_adafactor_apply_f32,
           {adaptor.getParam(), adaptor.getGrad(), adaptor.getNewV(),
            adaptor.getM(), adaptor.getGradSumSquares(),
            adaptor.getUpdateSumSquares(), adaptor.getParamSumSquares(),
            adaptor.getLr(), resultPtr(op.getNewParam()),
            resultPtr(op.getNewM()), e.countOf(op.getParam()),
            e.i64(op.getCount()), e.f32(f32Of(op.getBeta1Attr())),
            e.f32(f32Of(op.getClippingThresholdAttr())),
            e.f32(f32Of(op.getScaleFloorAttr())),
            e.f32(f32Of(op.getMaxNormAttr())),
            e.f32(f32Of(op.getWeightDecayAttr()))});
    return success();
  }
};

/// palm.adamw_apply -> palmrt_adamw_apply_f32.
struct AdamWApplyToCall : RuntimePattern<AdamWApplyOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(AdamWApplyOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    if (failed(requireF32(op)))
      return failure();
    e.call(RuntimeCall::palmrt_adamw_apply_f32,
           {adaptor.getParam(), adaptor.getGrad(), adaptor.getM(),
            adaptor.getV(), adaptor.getGradSumSquares(), adaptor.getLr(),
            adaptor.getStep(), resultPtr(op.getNewParam()),
            resultPtr(op.getNewM()), resultPtr(op.getNewV()),
            e.countOf(op.getParam()), e.f32(f32Of(op.getBeta1Attr())),
            e.f32(f32Of(op.getBeta2Attr())),
            e.f32(f32Of(op.getEpsilonAttr())),
            e.f32(f32Of(op.getMaxNormAttr())),
            e.f32(f32Of(op.getWeightDecayAttr()))});
    return success();
  }
};

} // namespace

void mlir::palm::lowering::populateCpuOptimizerPatterns(
    RewritePatternSet &patterns, const TypeConverter &converter,
    LoweringState &state) {
  patterns.add<SumSquaresToCall, LearningRateToCall, AdafactorMomentsToCall,
               AdafactorApplyToCall, AdamWApplyToCall>(converter, state);
}
