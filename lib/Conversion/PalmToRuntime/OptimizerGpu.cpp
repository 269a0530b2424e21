//===- OptimizerGpu.cpp - the optimizer's ops as generated kernels (CUDA) -===//
//
// The same arithmetic as the host kernels (runtime/src/host/
// kernels_optim.cc), one tensor shard per launch; the 0-d operands (the
// global gradient norm's square, the step, the learning rate, whole sums of
// squares) are device pointers to one float, read by every thread.
//
// A sum over a shard (palm.sum_squares, the update's sum of squares of
// palm.adafactor_moments) is deterministic: a warp per chunk of
// kReduceChunk elements sums its chunk in a fixed order into arena scratch,
// then one warp adds the chunks in order (sumKernel); a shard of one chunk
// is summed straight into the result. The sums are f32 (the host's are
// double): they differ from the host's by rounding only.
//
//===----------------------------------------------------------------------===//

#include "LossKernels.h"
#include "PopulatePatterns.h"

#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <cmath>

using namespace mlir;
using namespace mlir::palm;
using namespace mlir::palm::lowering;

using K = GpuKernels;

/// Elements a warp sums into one partial sum.
static constexpr int64_t kReduceChunk = 32 * 256;

static int64_t chunksOf(int64_t n) {
  return std::max<int64_t>(1, (n + kReduceChunk - 1) / kReduceChunk);
}

int64_t mlir::palm::lowering::gpuOptimizerScratchBytes(Operation *op) {
  int64_t n = 0;
  if (auto s = dyn_cast<SumSquaresOp>(op))
    n = s.getInput().getType().getNumElements();
  else if (auto m = dyn_cast<AdafactorMomentsOp>(op))
    n = m.getGrad().getType().getNumElements();
  int64_t chunks = chunksOf(n);
  return chunks > 1 ? 4 * chunks : 0;
}

/// An f32 attribute as a kernel argument.
static Value f32Attr(Emitter &e, FloatAttr attr) {
  return e.f32(attr.getValue().convertToFloat());
}

static Value f32Of(OpBuilder &b, Location l, Value ptr) {
  return K::load(b, l, b.getF32Type(), ptr, K::i64(b, l, 0));
}

static Value mulF(OpBuilder &b, Location l, Value x, Value y) {
  return arith::MulFOp::create(b, l, x, y);
}
static Value addF(OpBuilder &b, Location l, Value x, Value y) {
  return arith::AddFOp::create(b, l, x, y);
}
static Value subF(OpBuilder &b, Location l, Value x, Value y) {
  return arith::SubFOp::create(b, l, x, y);
}
static Value divF(OpBuilder &b, Location l, Value x, Value y) {
  return arith::DivFOp::create(b, l, x, y);
}
static Value sqrtF(OpBuilder &b, Location l, Value x) {
  return math::SqrtOp::create(b, l, x);
}

/// optax's clip_by_global_norm as the host's GlobalClip: g unchanged while
/// the norm is below maxNorm, else g / norm * maxNorm (a NaN norm clips).
struct Clip {
  Value norm, maxNorm, clips;

  Clip(OpBuilder &b, Location l, Value sumSquares, Value maxNorm)
      : norm(sqrtF(b, l, f32Of(b, l, sumSquares))), maxNorm(maxNorm) {
    clips =
        arith::CmpFOp::create(b, l, arith::CmpFPredicate::UGE, norm, maxNorm);
  }
  Value operator()(OpBuilder &b, Location l, Value g) const {
    Value clipped = mulF(b, l, divF(b, l, g, norm), maxNorm);
    return arith::SelectOp::create(b, l, clips, clipped, g);
  }
};

/// A warp per chunk of [0, n): partial[chunk] = the sum of term(i) over the
/// chunk's elements, each lane over every 32nd, then the lanes.
static void chunkSums(OpBuilder &b, Location l, Value n, Value partial,
                      const std::function<Value(Value)> &term) {
  Value chunk = K::i64(b, l, kReduceChunk);
  Value chunks = arith::DivSIOp::create(
      b, l, arith::AddIOp::create(b, l, n, K::i64(b, l, kReduceChunk - 1)),
      chunk);
  K::warpRows(b, l, chunks, [&](Value c, Value lane) {
    Value first = arith::MulIOp::create(b, l, c, chunk);
    Value count = arith::MinSIOp::create(
        b, l, chunk, arith::SubIOp::create(b, l, n, first));
    Value sum = K::laneLoop(b, l, lane, count, {K::f32(b, l, 0)},
                            [&](Value j, ValueRange acc) -> SmallVector<Value> {
                              Value i = arith::AddIOp::create(b, l, first, j);
                              return {addF(b, l, acc[0], term(i))};
                            })[0];
    sum = K::warpReduce(b, l, sum, /*max=*/false);
    K::inLaneZero(b, l, lane, [&] { K::store(b, l, sum, partial, c); });
  });
}

/// Where a chunked sum of `n` elements goes first: the result itself when
/// there is one chunk, else the op's scratch.
static Value partialsOf(LoweringState &state, Operation *op, int64_t n,
                        Value result) {
  return chunksOf(n) > 1 ? state.scratch.lookup(op) : result;
}

/// Adds the chunks' partial sums into `result` when there are several.
static void finishSum(LoweringState &state, Emitter &e, int64_t n,
                      Value partial, Value result) {
  int64_t chunks = chunksOf(n);
  if (chunks > 1)
    e.launch(sumKernel(*state.gpu, e.builder().getContext()), 1, true,
             {partial, result, e.i64(chunks)});
}

/// cos(pi p) for p in [0, 1], in f64 from + and * only: -sin(y) with
/// y = pi (p - 1/2) in [-pi/2, pi/2], by its Taylor series to y^17 (error
/// below 1e-13), so no libm is needed on the GPU.
static Value cosPi(OpBuilder &b, Location l, Value p) {
  auto c = [&](double v) {
    return arith::ConstantFloatOp::create(b, l, b.getF64Type(),
                                          llvm::APFloat(v))
        .getResult();
  };
  Value y = mulF(b, l, subF(b, l, p, c(0.5)), c(M_PI));
  Value y2 = mulF(b, l, y, y);
  // sin y = y (1 - y^2/(2*3) (1 - y^2/(4*5) (1 - ...))), inside out.
  Value s = c(1.0);
  for (int k = 8; k >= 1; --k)
    s = subF(b, l, c(1.0),
             mulF(b, l, divF(b, l, y2, c(double(2 * k) * (2 * k + 1))), s));
  return arith::NegFOp::create(b, l, mulF(b, l, y, s));
}

namespace {

/// palm.sum_squares -> chunk sums of x^2.
struct SumSquaresToKernels : RuntimePattern<SumSquaresOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(SumSquaresOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    Type t = op.getInput().getType().getElementType();
    int64_t n = op.getInput().getType().getNumElements();
    StringRef kernel = state.gpu->get(
        "sum_squares:" + typeName(t),
        GpuKernels::argTypes(e.builder().getContext(), 2, 1, 0),
        [&](OpBuilder &b, Location l, ArrayRef<Value> a) {
          chunkSums(b, l, a[2], a[1], [&](Value i) {
            Value x = K::loadF32(b, l, t, a[0], i);
            return mulF(b, l, x, x);
          });
        });
    Value result = resultPtr(op.getResult());
    Value partial = partialsOf(state, op, n, result);
    e.launch(kernel, chunksOf(n), true, {adaptor.getInput(), partial, e.i64(n)});
    finishSum(state, e, n, partial, result);
    return success();
  }
};

/// palm.learning_rate -> one thread, in f64 as the host computes it.
struct LearningRateToKernel : RuntimePattern<LearningRateOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(LearningRateOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    bool inverseSqrt = op.getSchedule() == "inverse_sqrt";
    // a = (step, out, warmup, total, peak, final)
    StringRef kernel = state.gpu->get(
        inverseSqrt ? "lr:inverse_sqrt" : "lr:warmup_cosine",
        GpuKernels::argTypes(e.builder().getContext(), 2, 2, 2),
        [&](OpBuilder &b, Location l, ArrayRef<Value> a) {
          K::gridStride(b, l, K::i64(b, l, 1), [&](Value) {
            FloatType f64 = b.getF64Type();
            auto wide = [&](Value v) -> Value {
              if (v.getType().isInteger(64))
                return arith::SIToFPOp::create(b, l, f64, v);
              return arith::ExtFOp::create(b, l, f64, v);
            };
            Value k = wide(f32Of(b, l, a[0]));
            Value warmup = wide(a[2]), peak = wide(a[4]);
            Value lr;
            if (inverseSqrt) {
              lr = divF(b, l, peak,
                        sqrtF(b, l, arith::MaximumFOp::create(b, l, k, warmup)));
            } else {
              Value one = arith::ConstantFloatOp::create(b, l, f64,
                                                         llvm::APFloat(1.0));
              Value t = subF(b, l, k, one);
              Value rising = divF(b, l, mulF(b, l, peak, t), warmup);
              Value final = wide(a[5]);
              Value p = arith::MinimumFOp::create(
                  b, l, one,
                  divF(b, l, subF(b, l, t, warmup),
                       subF(b, l, wide(a[3]), warmup)));
              Value half = arith::ConstantFloatOp::create(b, l, f64,
                                                          llvm::APFloat(0.5));
              Value decayed = addF(
                  b, l, final,
                  mulF(b, l,
                       mulF(b, l, subF(b, l, peak, final),
                            addF(b, l, one, cosPi(b, l, p))),
                       half));
              Value warming = arith::CmpFOp::create(
                  b, l, arith::CmpFPredicate::OLT, t, warmup);
              lr = arith::SelectOp::create(b, l, warming, rising, decayed);
            }
            K::store(b, l, arith::TruncFOp::create(b, l, b.getF32Type(), lr),
                     a[1], K::i64(b, l, 0));
          });
        });
    e.launch(kernel, 1, false,
             {adaptor.getStep(), resultPtr(op.getResult()),
              e.i64(op.getWarmupSteps()), e.i64(op.getTotalSteps()),
              f32Attr(e, op.getPeakAttr()),
              f32Attr(e, op.getFinalAttr())});
    return success();
  }
};

/// palm.adafactor_moments -> the new second moments, and chunk sums of the
/// squared update g / sqrt(v).
struct AdafactorMomentsToKernels : RuntimePattern<AdafactorMomentsOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(AdafactorMomentsOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    Type tg = op.getGrad().getType().getElementType();
    Type tv = op.getV().getType().getElementType();
    int64_t n = op.getGrad().getType().getNumElements();
    // a = (grad, v, grad_sum_squares, step, new_v, partial, n, decay_rate,
    //      epsilon, max_norm)
    StringRef kernel = state.gpu->get(
        "adafactor_moments:" + typeName(tg) + ":" + typeName(tv),
        GpuKernels::argTypes(e.builder().getContext(), 6, 1, 3),
        [&](OpBuilder &b, Location l, ArrayRef<Value> a) {
          Clip clip(b, l, a[2], a[9]);
          Value one = K::f32(b, l, 1);
          Value beta2 = subF(
              b, l, one,
              math::PowFOp::create(b, l, f32Of(b, l, a[3]),
                                   arith::NegFOp::create(b, l, a[7])));
          Value rest = subF(b, l, one, beta2);
          chunkSums(b, l, a[6], a[5], [&](Value i) {
            Value g = clip(b, l, K::loadF32(b, l, tg, a[0], i));
            Value v = K::loadF32(b, l, tv, a[1], i);
            Value nv = addF(b, l, mulF(b, l, beta2, v),
                            mulF(b, l, rest, addF(b, l, mulF(b, l, g, g), a[8])));
            K::storeF32(b, l, tv, a[4], i, nv);
            Value u = divF(b, l, g, sqrtF(b, l, nv));
            return mulF(b, l, u, u);
          });
        });
    Value result = resultPtr(op.getUpdateSumSquares());
    Value partial = partialsOf(state, op, n, result);
    e.launch(kernel, chunksOf(n), true,
             {adaptor.getGrad(), adaptor.getV(), adaptor.getGradSumSquares(),
              adaptor.getStep(), resultPtr(op.getNewV()), partial, e.i64(n),
              f32Attr(e, op.getDecayRateAttr()), f32Attr(e, op.getEpsilonAttr()),
              f32Attr(e, op.getMaxNormAttr())});
    finishSum(state, e, n, partial, result);
    return success();
  }
};

/// palm.adafactor_apply -> a thread per element.
struct AdafactorApplyToKernel : RuntimePattern<AdafactorApplyOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(AdafactorApplyOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    Type tp = op.getParam().getType().getElementType();
    Type tg = op.getGrad().getType().getElementType();
    Type ts = op.getM().getType().getElementType();
    Type tv = op.getNewV().getType().getElementType();
    // a = (param, grad, new_v, m, grad_ss, update_ss, param_ss, lr,
    //      new_param, new_m, n, count, beta1, clipping_threshold,
    //      scale_floor, max_norm, weight_decay)
    StringRef kernel = state.gpu->get(
        "adafactor_apply:" + typeName(tp) + ":" + typeName(tg) + ":" +
            typeName(ts) + ":" + typeName(tv),
        GpuKernels::argTypes(e.builder().getContext(), 10, 2, 5),
        [&](OpBuilder &b, Location l, ArrayRef<Value> a) {
          Clip clip(b, l, a[4], a[15]);
          Value one = K::f32(b, l, 1);
          Value count = arith::SIToFPOp::create(b, l, b.getF32Type(), a[11]);
          Value updateRms = sqrtF(b, l, divF(b, l, f32Of(b, l, a[5]), count));
          Value divisor = arith::MaximumFOp::create(
              b, l, one, divF(b, l, updateRms, a[13]));
          Value paramScale = arith::MaximumFOp::create(
              b, l, a[14], sqrtF(b, l, divF(b, l, f32Of(b, l, a[6]), count)));
          Value rate = f32Of(b, l, a[7]);
          Value decay = mulF(b, l, mulF(b, l, a[16], rate), rate);
          Value beta1 = a[12], rest = subF(b, l, one, a[12]);
          K::gridStride(b, l, a[10], [&](Value i) {
            Value p = K::loadF32(b, l, tp, a[0], i);
            Value g = clip(b, l, K::loadF32(b, l, tg, a[1], i));
            Value v = K::loadF32(b, l, tv, a[2], i);
            Value m = K::loadF32(b, l, ts, a[3], i);
            Value u = divF(b, l, divF(b, l, g, sqrtF(b, l, v)), divisor);
            u = mulF(b, l, mulF(b, l, u, rate), paramScale);
            Value nm = addF(b, l, mulF(b, l, beta1, m), mulF(b, l, rest, u));
            K::storeF32(b, l, ts, a[9], i, nm);
            K::storeF32(b, l, tp, a[8], i,
                        subF(b, l, p, addF(b, l, nm, mulF(b, l, decay, p))));
          });
        });
    int64_t n = op.getParam().getType().getNumElements();
    e.launch(kernel, n, false,
             {adaptor.getParam(), adaptor.getGrad(), adaptor.getNewV(),
              adaptor.getM(), adaptor.getGradSumSquares(),
              adaptor.getUpdateSumSquares(), adaptor.getParamSumSquares(),
              adaptor.getLr(), resultPtr(op.getNewParam()),
              resultPtr(op.getNewM()), e.i64(n), e.i64(op.getCount()),
              f32Attr(e, op.getBeta1Attr()), f32Attr(e, op.getClippingThresholdAttr()),
              f32Attr(e, op.getScaleFloorAttr()), f32Attr(e, op.getMaxNormAttr()),
              f32Attr(e, op.getWeightDecayAttr())});
    return success();
  }
};

/// palm.adamw_apply -> a thread per element.
struct AdamWApplyToKernel : RuntimePattern<AdamWApplyOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(AdamWApplyOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    Type tp = op.getParam().getType().getElementType();
    Type tg = op.getGrad().getType().getElementType();
    Type ts = op.getM().getType().getElementType();
    // a = (param, grad, m, v, grad_ss, lr, step, new_param, new_m, new_v,
    //      n, beta1, beta2, epsilon, max_norm, weight_decay)
    StringRef kernel = state.gpu->get(
        "adamw_apply:" + typeName(tp) + ":" + typeName(tg) + ":" +
            typeName(ts),
        GpuKernels::argTypes(e.builder().getContext(), 10, 1, 5),
        [&](OpBuilder &b, Location l, ArrayRef<Value> a) {
          Clip clip(b, l, a[4], a[14]);
          Value one = K::f32(b, l, 1);
          Value k = f32Of(b, l, a[6]);
          Value mCorrection =
              subF(b, l, one, math::PowFOp::create(b, l, a[11], k));
          Value vCorrection =
              subF(b, l, one, math::PowFOp::create(b, l, a[12], k));
          Value rate = f32Of(b, l, a[5]);
          Value mRest = subF(b, l, one, a[11]), vRest = subF(b, l, one, a[12]);
          K::gridStride(b, l, a[10], [&](Value i) {
            Value p = K::loadF32(b, l, tp, a[0], i);
            Value g = clip(b, l, K::loadF32(b, l, tg, a[1], i));
            Value m = K::loadF32(b, l, ts, a[2], i);
            Value v = K::loadF32(b, l, ts, a[3], i);
            Value nm = addF(b, l, mulF(b, l, a[11], m), mulF(b, l, mRest, g));
            Value nv = addF(b, l, mulF(b, l, a[12], v),
                            mulF(b, l, mulF(b, l, vRest, g), g));
            K::storeF32(b, l, ts, a[8], i, nm);
            K::storeF32(b, l, ts, a[9], i, nv);
            Value update =
                divF(b, l, divF(b, l, nm, mCorrection),
                     addF(b, l, sqrtF(b, l, divF(b, l, nv, vCorrection)),
                          a[13]));
            Value step = mulF(b, l, rate, addF(b, l, update, mulF(b, l, a[15], p)));
            K::storeF32(b, l, tp, a[7], i, subF(b, l, p, step));
          });
        });
    int64_t n = op.getParam().getType().getNumElements();
    e.launch(kernel, n, false,
             {adaptor.getParam(), adaptor.getGrad(), adaptor.getM(),
              adaptor.getV(), adaptor.getGradSumSquares(), adaptor.getLr(),
              adaptor.getStep(), resultPtr(op.getNewParam()),
              resultPtr(op.getNewM()), resultPtr(op.getNewV()), e.i64(n),
              f32Attr(e, op.getBeta1Attr()), f32Attr(e, op.getBeta2Attr()),
              f32Attr(e, op.getEpsilonAttr()), f32Attr(e, op.getMaxNormAttr()),
              f32Attr(e, op.getWeightDecayAttr())});
    return success();
  }
};

} // namespace

void mlir::palm::lowering::populateGpuOptimizerPatterns(
    RewritePatternSet &patterns, const TypeConverter &converter,
    LoweringState &state) {
  patterns.add<SumSquaresToKernels, LearningRateToKernel,
               AdafactorMomentsToKernels, AdafactorApplyToKernel,
               AdamWApplyToKernel>(converter, state);
}
