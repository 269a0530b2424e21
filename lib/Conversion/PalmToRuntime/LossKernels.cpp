//===- LossKernels.cpp - row reductions of the loss kernels ---------------===//

#include "LossKernels.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include <limits>

using namespace mlir;
using namespace mlir::palm;
using namespace mlir::palm::lowering;

using K = GpuKernels;

/// Folds `step(acc, x)` from `init` over classes [0, count) of the row that
/// starts at element `base` of `logits`, each lane over its share; the
/// caller combines the lanes. When the rows are 16-byte aligned (`logits`
/// aligned, `vocab` a multiple of the vector width) lanes read 16 bytes at
/// a time up to the last whole vector, then one class each for the rest.
static Value rowFold(OpBuilder &b, Location loc, Type t, Value logits,
                     Value base, Value lane, Value count, Value vocab,
                     Value init,
                     const std::function<Value(Value, Value)> &step) {
  int64_t width = K::vectorWidth(t);
  auto fold = [&](Value from, Value to, int64_t w, Value acc) {
    return K::laneChunks(
        b, loc, lane, from, to, w, {acc},
        [&](Value j, ValueRange carried) -> SmallVector<Value> {
          Value v = carried[0];
          for (Value x :
               K::loadF32s(b, loc, t, logits,
                           arith::AddIOp::create(b, loc, base, j), w))
            v = step(v, x);
          return {v};
        })[0];
  };
  auto branch = scf::IfOp::create(
      b, loc, TypeRange{b.getF32Type()},
      K::vectorizable(b, loc, {logits}, vocab, width), /*withElseRegion=*/true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(branch.thenBlock());
  Value whole = arith::SubIOp::create(
      b, loc, count,
      arith::RemSIOp::create(b, loc, count, K::i64(b, loc, width)));
  Value vectors = fold(Value(), whole, width, init);
  scf::YieldOp::create(b, loc, fold(whole, count, 1, vectors));
  b.setInsertionPointToStart(branch.elseBlock());
  scf::YieldOp::create(b, loc, fold(Value(), count, 1, init));
  return branch.getResult(0);
}

Value mlir::palm::lowering::rowMax(OpBuilder &b, Location loc, Type t,
                                   Value logits, Value base, Value lane,
                                   Value count, Value vocab) {
  Value m = rowFold(b, loc, t, logits, base, lane, count, vocab,
                    K::f32(b, loc, -std::numeric_limits<float>::infinity()),
                    [&](Value acc, Value x) {
                      return arith::MaximumFOp::create(b, loc, acc, x)
                          .getResult();
                    });
  return K::warpReduce(b, loc, m, /*max=*/true);
}

Value mlir::palm::lowering::rowSumExp(OpBuilder &b, Location loc, Type t,
                                      Value logits, Value base, Value lane,
                                      Value count, Value vocab, Value max) {
  Value s = rowFold(b, loc, t, logits, base, lane, count, vocab,
                    K::f32(b, loc, 0), [&](Value acc, Value x) {
                      return arith::AddFOp::create(
                                 b, loc, acc,
                                 K::exp(b, loc,
                                        arith::SubFOp::create(b, loc, x, max)))
                          .getResult();
                    });
  return K::warpReduce(b, loc, s, /*max=*/false);
}

Value mlir::palm::lowering::isRealToken(OpBuilder &b, Location loc,
                                        Value row,
                                        ArrayRef<int64_t> tokenShape,
                                        ArrayRef<Value> validExtents) {
  SmallVector<Value> coords = K::coordinates(b, loc, row, tokenShape);
  Value valid = arith::ConstantIntOp::create(b, loc, 1, 1);
  for (auto [c, extent] : llvm::zip(coords, validExtents))
    valid = arith::AndIOp::create(
        b, loc, valid,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, c, extent));
  return valid;
}

Value mlir::palm::lowering::tokenLoss(OpBuilder &b, Location loc, Value row,
                                      ArrayRef<int64_t> tokenShape,
                                      ArrayRef<Value> validExtents, Value logZ,
                                      Value target, Value zLoss, Value count) {
  Value valid = isRealToken(b, loc, row, tokenShape, validExtents);
  Value z = arith::MulFOp::create(b, loc, zLoss,
                                  arith::MulFOp::create(b, loc, logZ, logZ));
  Value loss = arith::AddFOp::create(
      b, loc, arith::SubFOp::create(b, loc, logZ, target), z);
  Value n = arith::SIToFPOp::create(b, loc, b.getF32Type(), count);
  loss = arith::DivFOp::create(b, loc, loss, n);
  return arith::SelectOp::create(b, loc, valid, loss, K::f32(b, loc, 0));
}

StringRef mlir::palm::lowering::sumKernel(GpuKernels &gpu, MLIRContext *ctx) {
  Type ptr = LLVM::LLVMPointerType::get(ctx);
  Type i64 = IntegerType::get(ctx, 64);
  return gpu.get("sum_f32", {ptr, ptr, i64},
                 [](OpBuilder &b, Location loc, ArrayRef<Value> a) {
                   Value n = a[2];
                   K::warpRows(b, loc, K::i64(b, loc, 1),
                               [&](Value, Value lane) {
                     Value total = K::laneLoop(
                         b, loc, lane, n, {K::f32(b, loc, 0)},
                         [&](Value j, ValueRange acc) -> SmallVector<Value> {
                           Value x = K::load(b, loc, b.getF32Type(), a[0], j);
                           return {arith::AddFOp::create(b, loc, acc[0], x)};
                         })[0];
                     total = K::warpReduce(b, loc, total, /*max=*/false);
                     K::inLaneZero(b, loc, lane, [&] {
                       K::store(b, loc, total, a[1], K::i64(b, loc, 0));
                     });
                   });
                 });
}
