//===- NormalizationGpu.cpp - layer norm and RoPE kernels (CUDA) ----------===//
//
// Layer norm: one warp per row, mean then the sum of squared deviations
// (two passes over the row, no cancellation), 16-byte vector accesses when
// the row length and the pointers allow. A layer norm over split features
// is two such kernels: the moments of each row's shard, then (after their
// all-gather) every lane merging them and normalizing the shard. RoPE: one
// thread per (batch, position, pair), whose sine and cosine serve every
// head; its inverse (the backward) rotates by the negative angle.
//
// Layer norm's backward: a warp per row recomputes the row's statistics as
// the forward does, writes dx and keeps (mean, 1/std) in scratch; dscale,
// a sum over every row, is a sum per chunk of kGradRowChunk rows and
// column (a thread each), then a thread per column adding the chunks in
// order, so it does not depend on the launch.
//
//===----------------------------------------------------------------------===//

#include "PopulatePatterns.h"

#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <cmath>

using namespace mlir;
using namespace mlir::palm;
using namespace mlir::palm::lowering;

using K = GpuKernels;

/// The sum over this warp's row of term(x[base + j]) for j < count, in
/// every lane, each lane taking `width` consecutive elements per step.
static Value rowSum(OpBuilder &b, Location l, Type t, Value x, Value base,
                    Value lane, Value count, int64_t width,
                    const std::function<Value(Value)> &term) {
  Value partial =
      K::laneChunks(b, l, lane, Value(), count, width, {K::f32(b, l, 0)},
                    [&](Value j, ValueRange acc) -> SmallVector<Value> {
                      Value s = acc[0];
                      Value at = arith::AddIOp::create(b, l, base, j);
                      for (Value v : K::loadF32s(b, l, t, x, at, width))
                        s = arith::AddFOp::create(b, l, s, term(v));
                      return {s};
                    })[0];
  return K::warpReduce(b, l, partial, false);
}

/// The mean of the row's first `count` elements and the sum of squared
/// deviations from it (two passes, no cancellation). `countF` is count as
/// f32, at least 1.
static std::pair<Value, Value> rowMoments(OpBuilder &b, Location l, Type t,
                                          Value x, Value base, Value lane,
                                          Value count, Value countF,
                                          int64_t width) {
  Value mean = arith::DivFOp::create(
      b, l, rowSum(b, l, t, x, base, lane, count, width, [](Value v) { return v; }),
      countF);
  Value m2 = rowSum(b, l, t, x, base, lane, count, width, [&](Value v) {
    Value dx = arith::SubFOp::create(b, l, v, mean);
    return arith::MulFOp::create(b, l, dx, dx).getResult();
  });
  return {mean, m2};
}

/// y[base + j] = (x[base + j] - mean) * rstd * scale[j] for j < cols.
static void normalizeRow(OpBuilder &b, Location l, Type t, Value x,
                         Value scale, Value y, Value base, Value lane,
                         Value cols, int64_t width, Value mean, Value rstd) {
  K::laneChunks(b, l, lane, Value(), cols, width, {},
                [&](Value j, ValueRange) -> SmallVector<Value> {
                  Value at = arith::AddIOp::create(b, l, base, j);
                  SmallVector<Value> xs = K::loadF32s(b, l, t, x, at, width);
                  SmallVector<Value> scales =
                      K::loadF32s(b, l, t, scale, j, width);
                  SmallVector<Value> ys;
                  for (auto [xv, sv] : llvm::zip(xs, scales)) {
                    Value dx = arith::SubFOp::create(b, l, xv, mean);
                    ys.push_back(arith::MulFOp::create(
                        b, l, arith::MulFOp::create(b, l, dx, rstd), sv));
                  }
                  K::storeF32s(b, l, t, y, at, ys);
                  return {};
                });
}

/// 1 / sqrt(m2 / n + eps).
static Value reciprocalStd(OpBuilder &b, Location l, Value m2, Value n,
                           Value eps) {
  Value var = arith::DivFOp::create(b, l, m2, n);
  return arith::DivFOp::create(
      b, l, K::f32(b, l, 1),
      math::SqrtOp::create(b, l, arith::AddFOp::create(b, l, var, eps)));
}

/// body(width) where every pointer is 16-byte aligned and `count` a multiple
/// of the type's vector width, body(1) otherwise (checked at run time).
static void byVectorWidth(OpBuilder &b, Location l, Type t,
                          ArrayRef<Value> pointers, Value count,
                          const std::function<void(int64_t)> &body) {
  int64_t width = K::vectorWidth(t);
  auto branch = scf::IfOp::create(
      b, l, K::vectorizable(b, l, pointers, count, width),
      /*withElseRegion=*/true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(branch.thenBlock()->getTerminator());
  body(width);
  b.setInsertionPoint(branch.elseBlock()->getTerminator());
  body(1);
}

/// The rows of a layer-norm kernel, each lane taking `width` consecutive
/// elements per step. a = (x, scale, y, rows, cols, eps); `colsF` is cols
/// as f32.
static void layerNormRows(OpBuilder &b, Location l, ArrayRef<Value> a, Type t,
                          Value colsF, int64_t width) {
  Value cols = a[4];
  K::warpRows(b, l, a[3], [&](Value row, Value lane) {
    Value base = arith::MulIOp::create(b, l, row, cols);
    auto [mean, m2] =
        rowMoments(b, l, t, a[0], base, lane, cols, colsF, width);
    Value rstd = reciprocalStd(b, l, m2, colsF, a[5]);
    normalizeRow(b, l, t, a[0], a[1], a[2], base, lane, cols, width, mean,
                 rstd);
  });
}

/// for (i = from; i < to; ++i) acc = step(i, acc), over one f32 (i64 i).
static Value serialSum(OpBuilder &b, Location l, Value from, Value to,
                       const std::function<Value(Value, Value)> &step) {
  auto loop = scf::ForOp::create(
      b, l, from, to, K::i64(b, l, 1), ValueRange{K::f32(b, l, 0)},
      [&](OpBuilder &nb, Location ll, Value i, ValueRange acc) {
        scf::YieldOp::create(nb, ll, step(i, acc[0]));
      });
  return loop.getResult(0);
}

/// Rows of layer norm's backward whose dscale terms one thread sums.
static constexpr int64_t kGradRowChunk = 32;

int64_t mlir::palm::lowering::gpuNormalizationScratchBytes(Operation *op) {
  auto grad = dyn_cast<LayerNormGradOp>(op);
  if (!grad)
    return 0;
  ArrayRef<int64_t> x = grad.getInput().getType().getShape();
  int64_t rows = product(x.drop_back());
  int64_t chunks = (rows + kGradRowChunk - 1) / kGradRowChunk;
  return 4 * (2 * rows + chunks * x.back());
}

/// Layer norm's dx, a warp per row; (mean, rstd) of row r to stats[r] and
/// stats[rows + r]. a = (x, scale, dy, dx, stats, rows, cols, eps).
static void layerNormGradRows(OpBuilder &b, Location l, ArrayRef<Value> a,
                              Type t, Type ts) {
  Value rows = a[5], cols = a[6];
  Value colsF = arith::SIToFPOp::create(b, l, b.getF32Type(), cols);
  Value inv = arith::DivFOp::create(b, l, K::f32(b, l, 1), colsF);
  K::warpRows(b, l, rows, [&](Value row, Value lane) {
    Value base = arith::MulIOp::create(b, l, row, cols);
    std::pair<Value, Value> moments =
        rowMoments(b, l, t, a[0], base, lane, cols, colsF, 1);
    Value mean = moments.first;
    Value rstd = reciprocalStd(b, l, moments.second, colsF, a[7]);
    // x-hat and dy * scale of column j.
    auto terms = [&](Value j) {
      Value at = arith::AddIOp::create(b, l, base, j);
      Value xh = arith::MulFOp::create(
          b, l,
          arith::SubFOp::create(b, l, K::loadF32(b, l, t, a[0], at), mean),
          rstd);
      Value g = arith::MulFOp::create(b, l, K::loadF32(b, l, t, a[2], at),
                                      K::loadF32(b, l, ts, a[1], j));
      return std::pair(xh, g);
    };
    SmallVector<Value> sums = K::laneLoop(
        b, l, lane, cols, {K::f32(b, l, 0), K::f32(b, l, 0)},
        [&](Value j, ValueRange acc) -> SmallVector<Value> {
          auto [xh, g] = terms(j);
          return {arith::AddFOp::create(b, l, acc[0], g),
                  arith::AddFOp::create(
                      b, l, acc[1], arith::MulFOp::create(b, l, g, xh))};
        });
    Value meanG = arith::MulFOp::create(
        b, l, K::warpReduce(b, l, sums[0], false), inv);
    Value meanGx = arith::MulFOp::create(
        b, l, K::warpReduce(b, l, sums[1], false), inv);
    K::laneLoop(b, l, lane, cols, {},
                [&](Value j, ValueRange) -> SmallVector<Value> {
                  auto [xh, g] = terms(j);
                  Value d = arith::SubFOp::create(
                      b, l, arith::SubFOp::create(b, l, g, meanG),
                      arith::MulFOp::create(b, l, xh, meanGx));
                  K::storeF32(b, l, t, a[3],
                              arith::AddIOp::create(b, l, base, j),
                              arith::MulFOp::create(b, l, rstd, d));
                  return {};
                });
    K::inLaneZero(b, l, lane, [&] {
      K::store(b, l, mean, a[4], row);
      K::store(b, l, rstd, a[4], arith::AddIOp::create(b, l, rows, row));
    });
  });
}

/// Rotates one (batch, position, pair) of rope input `x` for every head.
/// a = (input, output, log2(base), position offset).
static void ropePair(OpBuilder &b, Location l, ArrayRef<Value> a, Type t,
                     ArrayRef<int64_t> x, Value i, bool inverse) {
  int64_t half = x[3] / 2;
  SmallVector<Value> c = K::coordinates(b, l, i, {x[0], x[1], half});
  Type f = b.getF32Type();
  // angle = p * base^(-2i/d); reduced to [0, 2 pi) before the hardware
  // sin/cos, which are accurate only there.
  Value iF = arith::SIToFPOp::create(b, l, f, c[2]);
  Value expo =
      arith::MulFOp::create(b, l, iF, K::f32(b, l, -2.0 / double(x[3])));
  Value freq =
      math::Exp2Op::create(b, l, arith::MulFOp::create(b, l, expo, a[2]));
  Value pos = arith::SIToFPOp::create(
      b, l, f, arith::AddIOp::create(b, l, c[1], a[3]));
  Value angle = arith::MulFOp::create(b, l, pos, freq);
  Value turns = math::FloorOp::create(
      b, l, arith::MulFOp::create(b, l, angle, K::f32(b, l, 0.5 / M_PI)));
  angle = arith::SubFOp::create(
      b, l, angle, arith::MulFOp::create(b, l, turns, K::f32(b, l, 2 * M_PI)));
  Value cs = math::CosOp::create(b, l, angle);
  Value sn = math::SinOp::create(b, l, angle);
  // cos is even: the inverse only negates the sine.
  if (inverse)
    sn = arith::NegFOp::create(b, l, sn);
  Value row = K::flatIndex(b, l, {c[0], c[1]}, {x[0], x[1]});
  scf::ForOp::create(
      b, l, K::i64(b, l, 0), K::i64(b, l, x[2]), K::i64(b, l, 1),
      ValueRange{}, [&](OpBuilder &nb, Location hl, Value head, ValueRange) {
        Value base = arith::MulIOp::create(
            b, hl,
            arith::AddIOp::create(
                b, hl,
                arith::MulIOp::create(b, hl, row, K::i64(b, hl, x[2])), head),
            K::i64(b, hl, x[3]));
        Value i1 = arith::AddIOp::create(b, hl, base, c[2]);
        Value i2 = arith::AddIOp::create(b, hl, i1, K::i64(b, hl, half));
        Value x1 = K::loadF32(b, hl, t, a[0], i1);
        Value x2 = K::loadF32(b, hl, t, a[0], i2);
        Value y1 = arith::SubFOp::create(
            b, hl, arith::MulFOp::create(b, hl, x1, cs),
            arith::MulFOp::create(b, hl, x2, sn));
        Value y2 = arith::AddFOp::create(
            b, hl, arith::MulFOp::create(b, hl, x2, cs),
            arith::MulFOp::create(b, hl, x1, sn));
        K::storeF32(b, hl, t, a[1], i1, y1);
        K::storeF32(b, hl, t, a[1], i2, y2);
        scf::YieldOp::create(nb, hl);
      });
}

namespace {

/// palm.layer_norm_grad -> dx (a warp per row), then dscale (chunk sums,
/// then their sum per column).
struct LayerNormGradToKernels : RuntimePattern<LayerNormGradOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(LayerNormGradOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    ArrayRef<int64_t> x = op.getInput().getType().getShape();
    Type t = op.getInput().getType().getElementType();
    Type ts = op.getScale().getType().getElementType();
    if (op.getGrad().getType().getElementType() != t)
      return refuse(op.emitOpError()
                    << "has a gradient of another element type than its "
                       "input; the cuda kernels take one");
    MLIRContext *ctx = e.builder().getContext();
    Type ptr = LLVM::LLVMPointerType::get(ctx);
    Type i64 = e.builder().getI64Type();
    int64_t rows = product(x.drop_back()), cols = x.back();
    int64_t chunks = (rows + kGradRowChunk - 1) / kGradRowChunk;
    if (cols == 0)
      return success();
    // Without rows there is no scratch, and dscale is a sum of nothing.
    Value stats = state.scratch.lookup(op);
    if (!stats)
      stats = LLVM::ZeroOp::create(e.builder(), e.location(), ptr);
    Value partial = LLVM::GEPOp::create(e.builder(), e.location(), ptr,
                                        e.builder().getF32Type(), stats,
                                        ValueRange{e.i64(2 * rows)});
    StringRef rowsKernel = state.gpu->get(
        "layer_norm_grad:" + typeName(t) + ":" + typeName(ts),
        {ptr, ptr, ptr, ptr, ptr, i64, i64, e.builder().getF32Type()},
        [&](OpBuilder &b, Location l, ArrayRef<Value> a) {
          layerNormGradRows(b, l, a, t, ts);
        });
    if (rows > 0)
      e.launch(rowsKernel, rows, true,
               {adaptor.getInput(), adaptor.getScale(), adaptor.getGrad(),
                resultPtr(op.getInputGrad()), stats, e.i64(rows),
                e.i64(cols), e.f32(op.getEpsilon().convertToFloat())});
    // a = (x, dy, stats, partial, rows, cols)
    StringRef chunkKernel = state.gpu->get(
        "layer_norm_grad_scale:" + typeName(t),
        {ptr, ptr, ptr, ptr, i64, i64},
        [&](OpBuilder &b, Location l, ArrayRef<Value> a) {
          Value rowsV = a[4], colsV = a[5];
          Value chunksV = arith::DivSIOp::create(
              b, l,
              arith::AddIOp::create(b, l, rowsV,
                                    K::i64(b, l, kGradRowChunk - 1)),
              K::i64(b, l, kGradRowChunk));
          K::gridStride(
              b, l, arith::MulIOp::create(b, l, chunksV, colsV), [&](Value i) {
                Value chunk = arith::DivSIOp::create(b, l, i, colsV);
                Value c = arith::RemSIOp::create(b, l, i, colsV);
                Value r0 = arith::MulIOp::create(
                    b, l, chunk, K::i64(b, l, kGradRowChunk));
                Value r1 = arith::MinSIOp::create(
                    b, l, rowsV,
                    arith::AddIOp::create(b, l, r0,
                                          K::i64(b, l, kGradRowChunk)));
                Value sum = serialSum(b, l, r0, r1, [&](Value r, Value acc) {
                  Value at = arith::AddIOp::create(
                      b, l, arith::MulIOp::create(b, l, r, colsV), c);
                  Value mean = K::load(b, l, b.getF32Type(), a[2], r);
                  Value rstd = K::load(b, l, b.getF32Type(), a[2],
                                       arith::AddIOp::create(b, l, rowsV, r));
                  Value xh = arith::MulFOp::create(
                      b, l,
                      arith::SubFOp::create(b, l,
                                            K::loadF32(b, l, t, a[0], at),
                                            mean),
                      rstd);
                  return arith::AddFOp::create(
                             b, l, acc,
                             arith::MulFOp::create(
                                 b, l, K::loadF32(b, l, t, a[1], at), xh))
                      .getResult();
                });
                K::store(b, l, sum, a[3], i);
              });
        });
    if (rows > 0)
      e.launch(chunkKernel, chunks * cols, false,
               {adaptor.getInput(), adaptor.getGrad(), stats, partial,
                e.i64(rows), e.i64(cols)});
    // a = (partial, dscale, chunks, cols)
    StringRef sumKernel = state.gpu->get(
        "layer_norm_grad_scale_sum:" + typeName(ts), {ptr, ptr, i64, i64},
        [&](OpBuilder &b, Location l, ArrayRef<Value> a) {
          K::gridStride(b, l, a[3], [&](Value c) {
            Value sum = serialSum(
                b, l, K::i64(b, l, 0), a[2], [&](Value k, Value acc) {
                  Value at = arith::AddIOp::create(
                      b, l, arith::MulIOp::create(b, l, k, a[3]), c);
                  return arith::AddFOp::create(
                             b, l, acc,
                             K::load(b, l, b.getF32Type(), a[0], at))
                      .getResult();
                });
            K::storeF32(b, l, ts, a[1], c, sum);
          });
        });
    e.launch(sumKernel, cols, false,
             {partial, resultPtr(op.getScaleGrad()), e.i64(chunks),
              e.i64(cols)});
    return success();
  }
};

/// palm.layer_norm -> a warp-per-row kernel.
struct LayerNormToKernel : RuntimePattern<LayerNormOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(LayerNormOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    ArrayRef<int64_t> x = op.getInput().getType().getShape();
    Type t = op.getInput().getType().getElementType();
    Type ptr = LLVM::LLVMPointerType::get(e.builder().getContext());
    Type i64 = e.builder().getI64Type();
    StringRef kernel = state.gpu->get(
        "layer_norm:" + typeName(t), {ptr, ptr, ptr, i64, i64, e.builder().getF32Type()},
        [&](OpBuilder &b, Location l, ArrayRef<Value> a) {
          Value colsF = arith::SIToFPOp::create(b, l, b.getF32Type(), a[4]);
          byVectorWidth(b, l, t, a.take_front(3), a[4], [&](int64_t width) {
            layerNormRows(b, l, a, t, colsF, width);
          });
        });
    int64_t rows = product(x.drop_back());
    e.launch(kernel, rows, true,
             {adaptor.getInput(), adaptor.getScale(), resultPtr(op.getResult()),
              e.i64(rows), e.i64(x.back()),
              e.f32(op.getEpsilon().convertToFloat())});
    return success();
  }
};

/// palm.row_moments -> a warp per row: (count, mean, squared deviations)
/// of the row's valid features.
struct RowMomentsToKernel : RuntimePattern<RowMomentsOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(RowMomentsOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    ArrayRef<int64_t> x = op.getInput().getType().getShape();
    Type t = op.getInput().getType().getElementType();
    Type ptr = LLVM::LLVMPointerType::get(e.builder().getContext());
    Type i64 = e.builder().getI64Type();
    // a = (x, moments, rows, cols, valid)
    StringRef kernel = state.gpu->get(
        "row_moments:" + typeName(t), {ptr, ptr, i64, i64, i64},
        [&](OpBuilder &b, Location l, ArrayRef<Value> a) {
          Type f32 = b.getF32Type();
          Value count = arith::SIToFPOp::create(b, l, f32, a[4]);
          Value divisor = arith::SIToFPOp::create(
              b, l, f32, arith::MaxSIOp::create(b, l, a[4], K::i64(b, l, 1)));
          K::warpRows(b, l, a[2], [&](Value row, Value lane) {
            Value base = arith::MulIOp::create(b, l, row, a[3]);
            std::pair<Value, Value> moments =
                rowMoments(b, l, t, a[0], base, lane, a[4], divisor, 1);
            K::inLaneZero(b, l, lane, [&] {
              Value at = row;
              for (Value v : {count, moments.first, moments.second}) {
                K::storeF32(b, l, f32, a[1], at, v);
                at = arith::AddIOp::create(b, l, at, a[2]);
              }
            });
          });
        });
    int64_t rows = product(x.drop_back());
    e.launch(kernel, rows, true,
             {adaptor.getInput(), resultPtr(op.getResult()), e.i64(rows),
              e.i64(x.back()),
              e.shardExtent(op.getFeatureShard(), x.back()).second});
    return success();
  }
};

/// Merges every shard's moments of one row in shard order (parallel
/// variance); returns (count, mean, squared deviations) as f32.
/// a = (x, scale, moments, y, rows, cols, shards, eps).
static SmallVector<Value> mergeMoments(OpBuilder &b, Location l,
                                       ArrayRef<Value> a, Value row) {
  Type f32 = b.getF32Type();
  Value zero = K::f32(b, l, 0);
  auto loop = scf::ForOp::create(
      b, l, K::i64(b, l, 0), a[6], K::i64(b, l, 1),
      ValueRange{zero, zero, zero},
      [&](OpBuilder &nb, Location ll, Value s, ValueRange acc) {
        Value n = acc[0], mean = acc[1], m2 = acc[2];
        Value at = arith::AddIOp::create(
            nb, ll,
            arith::MulIOp::create(
                nb, ll, arith::MulIOp::create(nb, ll, s, K::i64(nb, ll, 3)),
                a[4]),
            row);
        Value nB = K::loadF32(nb, ll, f32, a[2], at);
        at = arith::AddIOp::create(nb, ll, at, a[4]);
        Value meanB = K::loadF32(nb, ll, f32, a[2], at);
        at = arith::AddIOp::create(nb, ll, at, a[4]);
        Value m2B = K::loadF32(nb, ll, f32, a[2], at);
        Value total = arith::AddFOp::create(nb, ll, n, nB);
        Value delta = arith::SubFOp::create(nb, ll, meanB, mean);
        Value share = arith::DivFOp::create(nb, ll, nB, total);
        Value newMean = arith::AddFOp::create(
            nb, ll, mean, arith::MulFOp::create(nb, ll, delta, share));
        Value newM2 = arith::AddFOp::create(
            nb, ll, arith::AddFOp::create(nb, ll, m2, m2B),
            arith::MulFOp::create(
                nb, ll, arith::MulFOp::create(nb, ll, delta, delta),
                arith::MulFOp::create(nb, ll, n, share)));
        // A shard with no real features adds nothing.
        Value has = arith::CmpFOp::create(nb, ll, arith::CmpFPredicate::OGT,
                                          nB, K::f32(nb, ll, 0));
        scf::YieldOp::create(
            nb, ll,
            ValueRange{arith::SelectOp::create(nb, ll, has, total, n),
                       arith::SelectOp::create(nb, ll, has, newMean, mean),
                       arith::SelectOp::create(nb, ll, has, newM2, m2)});
      });
  return SmallVector<Value>(loop.getResults());
}

/// palm.layer_norm_merged -> a warp per row: every lane merges the row's
/// moments, then the row's shard is normalized.
struct LayerNormMergedToKernel : RuntimePattern<LayerNormMergedOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(LayerNormMergedOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    ArrayRef<int64_t> x = op.getInput().getType().getShape();
    Type t = op.getInput().getType().getElementType();
    Type ptr = LLVM::LLVMPointerType::get(e.builder().getContext());
    Type i64 = e.builder().getI64Type();
    StringRef kernel = state.gpu->get(
        "layer_norm_merged:" + typeName(t),
        {ptr, ptr, ptr, ptr, i64, i64, i64, e.builder().getF32Type()},
        [&](OpBuilder &b, Location l, ArrayRef<Value> a) {
          byVectorWidth(b, l, t, {a[0], a[1], a[3]}, a[5], [&](int64_t w) {
            K::warpRows(b, l, a[4], [&](Value row, Value lane) {
              SmallVector<Value> merged = mergeMoments(b, l, a, row);
              Value rstd = reciprocalStd(b, l, merged[2], merged[0], a[7]);
              Value base = arith::MulIOp::create(b, l, row, a[5]);
              normalizeRow(b, l, t, a[0], a[1], a[3], base, lane, a[5], w,
                           merged[1], rstd);
            });
          });
        });
    int64_t rows = product(x.drop_back());
    e.launch(kernel, rows, true,
             {adaptor.getInput(), adaptor.getScale(), adaptor.getMoments(),
              resultPtr(op.getResult()), e.i64(rows), e.i64(x.back()),
              e.i64(op.getMoments().getType().getDimSize(0)),
              e.f32(op.getEpsilon().convertToFloat())});
    return success();
  }
};

/// palm.rope -> a thread per (batch, position, pair).
struct RopeToKernel : RuntimePattern<RopeOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(RopeOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    bool inverse = op.getInverse();
    ArrayRef<int64_t> x = op.getInput().getType().getShape();
    Type t = op.getInput().getType().getElementType();
    Type ptr = LLVM::LLVMPointerType::get(e.builder().getContext());
    int64_t pairs = x[0] * x[1] * (x[3] / 2);
    StringRef kernel = state.gpu->get(
        std::string(inverse ? "rope_inverse:" : "rope:") + typeName(t) + ":" +
            shapeKey(x),
        {ptr, ptr, e.builder().getF32Type(), e.builder().getI64Type()},
        [&](OpBuilder &b, Location l, ArrayRef<Value> a) {
          K::gridStride(b, l, K::i64(b, l, pairs),
                        [&](Value i) { ropePair(b, l, a, t, x, i, inverse); });
        });
    e.launch(kernel, pairs, false,
             {adaptor.getInput(), resultPtr(op.getResult()),
              e.f32(std::log2(op.getBase().convertToDouble())),
              e.shardOffset(op.getSeqShardAttr(), x[1])});
    return success();
  }
};

} // namespace

void mlir::palm::lowering::populateGpuNormalizationPatterns(
    RewritePatternSet &patterns, const TypeConverter &converter,
    LoweringState &state) {
  patterns.add<LayerNormToKernel, RowMomentsToKernel, LayerNormMergedToKernel,
               LayerNormGradToKernels, RopeToKernel>(converter, state);
}
