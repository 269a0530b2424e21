//===- NormalizationGpu.cpp - layer norm and RoPE kernels (CUDA) ----------===//
//
// Layer norm: one warp per row, mean then the sum of squared deviations
// (two passes over the row, no cancellation), 16-byte vector accesses when
// the row length and the pointers allow. RoPE: one thread per (batch,
// position, pair), whose sine and cosine serve every head.
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

/// The rows of a layer-norm kernel, each lane taking `width` consecutive
/// elements per step. a = (x, scale, y, rows, cols, eps); `colsF` is cols
/// as f32.
static void layerNormRows(OpBuilder &b, Location l, ArrayRef<Value> a, Type t,
                          Value colsF, int64_t width) {
  Value cols = a[4];
  K::warpRows(b, l, a[3], [&](Value row, Value lane) {
    Value base = arith::MulIOp::create(b, l, row, cols);
    auto at = [&](Value j) {
      return arith::AddIOp::create(b, l, base, j).getResult();
    };
    auto sumOf = [&](const std::function<Value(Value)> &term) {
      Value partial =
          K::laneChunks(b, l, lane, Value(), cols, width, {K::f32(b, l, 0)},
                        [&](Value j, ValueRange acc) -> SmallVector<Value> {
                          Value s = acc[0];
                          for (Value v :
                               K::loadF32s(b, l, t, a[0], at(j), width))
                            s = arith::AddFOp::create(b, l, s, term(v));
                          return {s};
                        })[0];
      return K::warpReduce(b, l, partial, false);
    };
    Value mean = arith::DivFOp::create(b, l, sumOf([](Value v) { return v; }),
                                       colsF);
    Value var = arith::DivFOp::create(b, l, sumOf([&](Value v) {
                                        Value dx = arith::SubFOp::create(
                                            b, l, v, mean);
                                        return arith::MulFOp::create(b, l, dx,
                                                                     dx)
                                            .getResult();
                                      }),
                                      colsF);
    Value rstd = arith::DivFOp::create(
        b, l, K::f32(b, l, 1),
        math::SqrtOp::create(b, l, arith::AddFOp::create(b, l, var, a[5])));
    K::laneChunks(b, l, lane, Value(), cols, width, {},
                  [&](Value j, ValueRange) -> SmallVector<Value> {
                    SmallVector<Value> xs =
                        K::loadF32s(b, l, t, a[0], at(j), width);
                    SmallVector<Value> scales =
                        K::loadF32s(b, l, t, a[1], j, width);
                    SmallVector<Value> ys;
                    for (auto [xv, sv] : llvm::zip(xs, scales)) {
                      Value dx = arith::SubFOp::create(b, l, xv, mean);
                      ys.push_back(arith::MulFOp::create(
                          b, l, arith::MulFOp::create(b, l, dx, rstd), sv));
                    }
                    K::storeF32s(b, l, t, a[2], at(j), ys);
                    return {};
                  });
  });
}

/// Rotates one (batch, position, pair) of rope input `x` for every head.
/// a = (input, output, log2(base), position offset).
static void ropePair(OpBuilder &b, Location l, ArrayRef<Value> a, Type t,
                     ArrayRef<int64_t> x, Value i) {
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
          int64_t width = K::vectorWidth(t);
          auto branch = scf::IfOp::create(
              b, l, K::vectorizable(b, l, a.take_front(3), a[4], width),
              /*withElseRegion=*/true);
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPoint(branch.thenBlock()->getTerminator());
          layerNormRows(b, l, a, t, colsF, width);
          b.setInsertionPoint(branch.elseBlock()->getTerminator());
          layerNormRows(b, l, a, t, colsF, 1);
        });
    int64_t rows = product(x.drop_back());
    e.launch(kernel, rows, true,
             {adaptor.getInput(), adaptor.getScale(), resultPtr(op.getResult()),
              e.i64(rows), e.i64(x.back()),
              e.f32(op.getEpsilon().convertToFloat())});
    return success();
  }
};

/// palm.rope -> a thread per (batch, position, pair).
struct RopeToKernel : RuntimePattern<RopeOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(RopeOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    ArrayRef<int64_t> x = op.getInput().getType().getShape();
    Type t = op.getInput().getType().getElementType();
    Type ptr = LLVM::LLVMPointerType::get(e.builder().getContext());
    int64_t pairs = x[0] * x[1] * (x[3] / 2);
    StringRef kernel = state.gpu->get(
        "rope:" + typeName(t) + ":" + shapeKey(x),
        {ptr, ptr, e.builder().getF32Type(), e.builder().getI64Type()},
        [&](OpBuilder &b, Location l, ArrayRef<Value> a) {
          K::gridStride(b, l, K::i64(b, l, pairs),
                        [&](Value i) { ropePair(b, l, a, t, x, i); });
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
  patterns.add<LayerNormToKernel, RopeToKernel>(converter, state);
}
