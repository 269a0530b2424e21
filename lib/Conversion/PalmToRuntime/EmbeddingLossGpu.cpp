//===- EmbeddingLossGpu.cpp - embedding and loss kernels (CUDA) -----------===//
//
// The embedding lookup is a thread per output element (ids outside the
// vocabulary shard give zeros). The softmax pieces and the cross-entropy
// are a warp per token; the per-token losses go to arena scratch and one
// warp sums them in a fixed order.
//
// Backwards: the embedding's is a thread per (block of table rows, column),
// adding the rows of dy in id order (so each element sums in a fixed order,
// as the host's does); the cross-entropy's is a warp per token writing its row
// of dlogits, from the row's max and sum of exponentials (recomputed, or the
// split vocabulary's all-reduced ones).
//
//===----------------------------------------------------------------------===//

#include "LossKernels.h"
#include "PopulatePatterns.h"

#include "mlir/Dialect/SCF/IR/SCF.h"

#include <limits>

using namespace mlir;
using namespace mlir::palm;
using namespace mlir::palm::lowering;

using K = GpuKernels;

/// Row `token`'s element at `target - offset` of `logits` when that class is
/// in [0, valid) of this shard, else 0. `base` is the row's first element.
static Value targetLogit(OpBuilder &b, Location l, Type t, Value logits,
                         Value base, Value target, Value offset,
                         Value valid) {
  Value local = arith::SubIOp::create(b, l, target, offset);
  Value here = arith::AndIOp::create(
      b, l,
      arith::CmpIOp::create(b, l, arith::CmpIPredicate::sge, local,
                            K::i64(b, l, 0)),
      arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt, local, valid));
  Value safe = arith::SelectOp::create(b, l, here, local, K::i64(b, l, 0));
  Value x =
      K::loadF32(b, l, t, logits, arith::AddIOp::create(b, l, base, safe));
  return arith::SelectOp::create(b, l, here, x, K::f32(b, l, 0));
}

/// The target id of row `row`, as i64.
static Value targetOf(OpBuilder &b, Location l, Value targets, Value row) {
  return arith::ExtSIOp::create(b, l, b.getI64Type(),
                                K::load(b, l, b.getI32Type(), targets, row));
}

/// Embedding kernel: a = (table, ids, out, n, rows, d, row offset).
static void embeddingBody(OpBuilder &b, Location l, ArrayRef<Value> a,
                          Type t) {
  Value n = a[3], rows = a[4], d = a[5], offset = a[6];
  K::gridStride(b, l, n, [&](Value i) {
    Value token = arith::DivSIOp::create(b, l, i, d);
    Value col = arith::RemSIOp::create(b, l, i, d);
    Value r = arith::SubIOp::create(b, l, targetOf(b, l, a[1], token), offset);
    Value inRange = arith::AndIOp::create(
        b, l,
        arith::CmpIOp::create(b, l, arith::CmpIPredicate::sge, r,
                              K::i64(b, l, 0)),
        arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt, r, rows));
    // Read a valid row even for ids elsewhere; select afterwards.
    Value safe = arith::SelectOp::create(b, l, inRange, r, K::i64(b, l, 0));
    Value x = K::load(
        b, l, t, a[0],
        arith::AddIOp::create(b, l, arith::MulIOp::create(b, l, safe, d), col));
    K::store(b, l, arith::SelectOp::create(b, l, inRange, x, K::zero(b, l, t)),
             a[2], i);
  });
}

namespace {

/// palm.embedding -> a thread per output element.
struct EmbeddingToKernel : RuntimePattern<EmbeddingOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(EmbeddingOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    if (failed(requireI32Ids(op)))
      return failure();
    ArrayRef<int64_t> table = op.getTable().getType().getShape();
    Type t = op.getTable().getType().getElementType();
    StringRef kernel =
        state.gpu->get("embedding:" + typeName(t),
                       GpuKernels::argTypes(e.builder().getContext(), 3, 4),
                       [&](OpBuilder &b, Location l, ArrayRef<Value> a) {
                         embeddingBody(b, l, a, t);
                       });
    Value offset = op.getVocabShardAttr()
                       ? e.shardExtent(op.getVocabShardAttr(), table[0]).first
                       : e.i64(0);
    int64_t n = product(op.getIds().getType().getShape()) * table[1];
    e.launch(kernel, n, false,
             {adaptor.getTable(), adaptor.getIds(), resultPtr(op.getResult()),
              e.i64(n), e.i64(table[0]), e.i64(table[1]), offset});
    return success();
  }
};

/// palm.softmax_max -> a warp per token.
struct SoftmaxMaxToKernel : RuntimePattern<SoftmaxMaxOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(SoftmaxMaxOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    ArrayRef<int64_t> logits = op.getLogits().getType().getShape();
    Type t = op.getLogits().getType().getElementType();
    StringRef kernel = state.gpu->get(
        "softmax_max:" + typeName(t),
        GpuKernels::argTypes(e.builder().getContext(), 2, 3),
        [&](OpBuilder &b, Location l, ArrayRef<Value> a) {
          Value vocab = a[3], valid = a[4];
          K::warpRows(b, l, a[2], [&](Value row, Value lane) {
            Value base = arith::MulIOp::create(b, l, row, vocab);
            Value m = rowMax(b, l, t, a[0], base, lane, valid, vocab);
            K::inLaneZero(b, l, lane, [&] { K::store(b, l, m, a[1], row); });
          });
        });
    Value valid = e.shardExtent(op.getVocabShard(), logits.back()).second;
    int64_t tokens = product(logits.drop_back());
    e.launch(kernel, tokens, true,
             {adaptor.getLogits(), resultPtr(op.getResult()), e.i64(tokens),
              e.i64(logits.back()), valid});
    return success();
  }
};

/// palm.softmax_sums -> a warp per token.
struct SoftmaxSumsToKernel : RuntimePattern<SoftmaxSumsOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(SoftmaxSumsOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    if (failed(requireI32Ids(op)))
      return failure();
    ArrayRef<int64_t> logits = op.getLogits().getType().getShape();
    Type t = op.getLogits().getType().getElementType();
    StringRef kernel = state.gpu->get(
        "softmax_sums:" + typeName(t),
        GpuKernels::argTypes(e.builder().getContext(), 4, 4),
        [&](OpBuilder &b, Location l, ArrayRef<Value> a) {
          Value tokens = a[4], vocab = a[5], valid = a[6], offset = a[7];
          K::warpRows(b, l, tokens, [&](Value row, Value lane) {
            Value base = arith::MulIOp::create(b, l, row, vocab);
            Value m = K::load(b, l, b.getF32Type(), a[1], row);
            Value s = rowSumExp(b, l, t, a[0], base, lane, valid, vocab, m);
            K::inLaneZero(b, l, lane, [&] {
              Value tl = targetLogit(b, l, t, a[0], base,
                                     targetOf(b, l, a[2], row), offset, valid);
              K::store(b, l, s, a[3], row);
              K::store(b, l, tl, a[3],
                       arith::AddIOp::create(b, l, tokens, row));
            });
          });
        });
    auto [offset, valid] = e.shardExtent(op.getVocabShard(), logits.back());
    int64_t tokens = product(logits.drop_back());
    e.launch(kernel, tokens, true,
             {adaptor.getLogits(), adaptor.getMax(), adaptor.getTargets(),
              resultPtr(op.getResult()), e.i64(tokens), e.i64(logits.back()),
              valid, offset});
    return success();
  }
};

/// palm.cross_entropy -> a warp per token into scratch, then their sum.
struct CrossEntropyToKernels : RuntimePattern<CrossEntropyOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(CrossEntropyOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    if (failed(requireI32Ids(op)))
      return failure();
    ArrayRef<int64_t> logits = op.getLogits().getType().getShape();
    ArrayRef<int64_t> tokenShape = logits.drop_back();
    Type t = op.getLogits().getType().getElementType();
    SmallVector<Type> types =
        GpuKernels::argTypes(e.builder().getContext(), 3, 1);
    types.push_back(e.builder().getF32Type());
    types.append(1 + tokenShape.size(), e.builder().getI64Type());
    StringRef kernel = state.gpu->get(
        "cross_entropy:" + typeName(t) + ":" + shapeKey(tokenShape), types,
        [&](OpBuilder &b, Location l, ArrayRef<Value> a) {
          tokenLosses(b, l, a, t, tokenShape);
        });
    int64_t tokens = product(tokenShape);
    int64_t count = op.getTokenCount() ? *op.getTokenCount() : tokens;
    Value scratch = state.scratch.lookup(op);
    SmallVector<Value> args = {adaptor.getLogits(), adaptor.getTargets(),
                               scratch, e.i64(logits.back()),
                               e.f32(op.getZLoss().convertToFloat()),
                               e.i64(count)};
    llvm::append_range(args,
                       e.tokenExtents(tokenShape, op.getTokenShardsAttr()));
    e.launch(kernel, tokens, true, args);
    e.launch(sumKernel(*state.gpu, e.builder().getContext()), 1, true,
             {scratch, resultPtr(op.getResult()), e.i64(tokens)});
    return success();
  }

  /// a = (logits, targets, losses, vocab, z_loss, count, valid extents...).
  static void tokenLosses(OpBuilder &b, Location l, ArrayRef<Value> a, Type t,
                          ArrayRef<int64_t> tokenShape) {
    Value vocab = a[3];
    K::warpRows(b, l, K::i64(b, l, product(tokenShape)),
                [&](Value row, Value lane) {
      Value base = arith::MulIOp::create(b, l, row, vocab);
      Value m = rowMax(b, l, t, a[0], base, lane, vocab, vocab);
      Value s = rowSumExp(b, l, t, a[0], base, lane, vocab, vocab, m);
      K::inLaneZero(b, l, lane, [&] {
        Value logZ = arith::AddFOp::create(b, l, m, K::log(b, l, s));
        Value target = targetOf(b, l, a[1], row);
        Value tl = K::loadF32(b, l, t, a[0],
                              arith::AddIOp::create(b, l, base, target));
        Value loss = tokenLoss(b, l, row, tokenShape, a.drop_front(6), logZ,
                               tl, a[4], a[5]);
        K::store(b, l, loss, a[2], row);
      });
    });
  }
};

/// palm.cross_entropy_loss -> a thread per token into scratch, then their
/// sum.
struct CrossEntropyLossToKernels : RuntimePattern<CrossEntropyLossOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(CrossEntropyLossOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    ArrayRef<int64_t> tokenShape = op.getMax().getType().getShape();
    int64_t tokens = product(tokenShape);
    SmallVector<Type> types =
        GpuKernels::argTypes(e.builder().getContext(), 3, 0);
    types.push_back(e.builder().getF32Type());
    types.append(1 + tokenShape.size(), e.builder().getI64Type());
    StringRef kernel = state.gpu->get(
        "cross_entropy_loss:" + shapeKey(tokenShape), types,
        [&](OpBuilder &b, Location l, ArrayRef<Value> a) {
          K::gridStride(b, l, K::i64(b, l, tokens), [&](Value i) {
            Value m = K::load(b, l, b.getF32Type(), a[0], i);
            Value s = K::load(b, l, b.getF32Type(), a[1], i);
            Value tl = K::load(
                b, l, b.getF32Type(), a[1],
                arith::AddIOp::create(b, l, i, K::i64(b, l, tokens)));
            Value logZ = arith::AddFOp::create(b, l, m, K::log(b, l, s));
            K::store(b, l,
                     tokenLoss(b, l, i, tokenShape, a.drop_front(5), logZ, tl,
                               a[3], a[4]),
                     a[2], i);
          });
        });
    Value scratch = state.scratch.lookup(op);
    SmallVector<Value> args = {adaptor.getMax(), adaptor.getSums(), scratch,
                               e.f32(op.getZLoss().convertToFloat()),
                               e.i64(op.getTokenCount())};
    llvm::append_range(args,
                       e.tokenExtents(tokenShape, op.getTokenShardsAttr()));
    e.launch(kernel, tokens, false, args);
    e.launch(sumKernel(*state.gpu, e.builder().getContext()), 1, true,
             {scratch, resultPtr(op.getResult()), e.i64(tokens)});
    return success();
  }
};

/// Table rows one thread of the embedding's backward owns (in one column).
static constexpr int64_t kEmbeddingGradRows = 256;

/// palm.embedding_grad -> a thread per (block of kEmbeddingGradRows table
/// rows, column): it scans every id in order and adds the rows of dy whose
/// id falls in its block, summing in f32 (in the result, or for a narrower
/// result in arena scratch that the thread then rounds into the result).
/// The threads of a warp share their block, so each id is one broadcast
/// load per warp; every element sums its ids in id order, as the host does.
struct EmbeddingGradToKernel : RuntimePattern<EmbeddingGradOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(EmbeddingGradOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    if (failed(requireI32Ids(op)))
      return failure();
    Type t = op.getResult().getType().getElementType();
    Type tg = op.getGrad().getType().getElementType();
    bool wide = t.isF32();
    ArrayRef<int64_t> table = op.getResult().getType().getShape();
    // a = (ids, dy, sums, dtable, ids, rows, d, row offset)
    StringRef kernel = state.gpu->get(
        "embedding_grad:" + typeName(tg) + ":" + typeName(t),
        GpuKernels::argTypes(e.builder().getContext(), 4, 4),
        [&](OpBuilder &b, Location l, ArrayRef<Value> a) {
          Value numIds = a[4], rows = a[5], d = a[6], offset = a[7];
          Value zero = K::i64(b, l, 0), one = K::i64(b, l, 1);
          Value block = K::i64(b, l, kEmbeddingGradRows);
          Value blocks = arith::DivSIOp::create(
              b, l,
              arith::AddIOp::create(b, l, rows,
                                    K::i64(b, l, kEmbeddingGradRows - 1)),
              block);
          K::gridStride(
              b, l, arith::MulIOp::create(b, l, blocks, d), [&](Value i) {
            Value first = arith::MulIOp::create(
                b, l, arith::DivSIOp::create(b, l, i, d), block);
            Value col = arith::RemSIOp::create(b, l, i, d);
            Value last = arith::MinSIOp::create(
                b, l, rows, arith::AddIOp::create(b, l, first, block));
            auto at = [&](OpBuilder &nb, Location ll, Value r) -> Value {
              return arith::AddIOp::create(
                  nb, ll, arith::MulIOp::create(nb, ll, r, d), col);
            };
            // body(r) for the rows of this thread's block.
            auto eachRow = [&](const std::function<void(OpBuilder &, Location,
                                                        Value)> &body) {
              scf::ForOp::create(
                  b, l, first, last, one, ValueRange{},
                  [&](OpBuilder &nb, Location ll, Value r, ValueRange) {
                    body(nb, ll, r);
                    scf::YieldOp::create(nb, ll);
                  });
            };
            eachRow([&](OpBuilder &nb, Location ll, Value r) {
              K::store(nb, ll, K::f32(nb, ll, 0), a[2], at(nb, ll, r));
            });
            scf::ForOp::create(
                b, l, zero, numIds, one, ValueRange{},
                [&](OpBuilder &nb, Location ll, Value id, ValueRange) {
                  Value r = arith::SubIOp::create(
                      nb, ll, targetOf(nb, ll, a[0], id), offset);
                  Value here = arith::AndIOp::create(
                      nb, ll,
                      arith::CmpIOp::create(nb, ll, arith::CmpIPredicate::sge,
                                            r, first),
                      arith::CmpIOp::create(nb, ll, arith::CmpIPredicate::slt,
                                            r, last));
                  auto add = scf::IfOp::create(nb, ll, here);
                  OpBuilder ib = add.getThenBodyBuilder();
                  Value to = at(ib, ll, r);
                  Value from = arith::AddIOp::create(
                      ib, ll, arith::MulIOp::create(ib, ll, id, d), col);
                  Value sum = arith::AddFOp::create(
                      ib, ll, K::load(ib, ll, ib.getF32Type(), a[2], to),
                      K::loadF32(ib, ll, tg, a[1], from));
                  K::store(ib, ll, sum, a[2], to);
                  scf::YieldOp::create(nb, ll);
                });
            if (!wide)
              eachRow([&](OpBuilder &nb, Location ll, Value r) {
                Value where = at(nb, ll, r);
                K::storeF32(nb, ll, t, a[3], where,
                            K::load(nb, ll, nb.getF32Type(), a[2], where));
              });
          });
        });
    Value result = resultPtr(op.getResult());
    Value sums = wide ? result : state.scratch.lookup(op);
    int64_t blocks =
        (table[0] + kEmbeddingGradRows - 1) / kEmbeddingGradRows;
    e.launch(kernel, blocks * table[1], false,
             {adaptor.getIds(), adaptor.getGrad(), sums, result,
              e.countOf(op.getIds()), e.i64(table[0]), e.i64(table[1]),
              e.shardOffset(op.getVocabShardAttr(), table[0])});
    return success();
  }
};

/// palm.cross_entropy_grad -> a warp per token.
struct CrossEntropyGradToKernel : RuntimePattern<CrossEntropyGradOp> {
  using RuntimePattern::RuntimePattern;
  LogicalResult lower(CrossEntropyGradOp op, OpAdaptor adaptor,
                      Emitter &e) const override {
    if (failed(requireI32Ids(op)))
      return failure();
    ArrayRef<int64_t> logits = op.getLogits().getType().getShape();
    ArrayRef<int64_t> tokenShape = logits.drop_back();
    Type t = op.getLogits().getType().getElementType();
    Type td = op.getResult().getType().getElementType();
    bool split = static_cast<bool>(op.getMax());
    bool scaled = static_cast<bool>(op.getGrad());
    SmallVector<Type> types =
        GpuKernels::argTypes(e.builder().getContext(), 6, 4);
    types.push_back(e.builder().getF32Type());
    types.append(tokenShape.size(), e.builder().getI64Type());
    // a = (logits, targets, dloss, max, sums, dlogits, vocab, valid, offset,
    //      count, z_loss, valid extents...)
    StringRef kernel = state.gpu->get(
        "cross_entropy_grad:" + typeName(t) + ":" + typeName(td) + ":" +
            shapeKey(tokenShape) + (split ? ":split" : "") +
            (scaled ? ":scaled" : ""),
        types, [&](OpBuilder &b, Location l, ArrayRef<Value> a) {
          gradRows(b, l, a, t, td, tokenShape, split, scaled);
        });
    auto [offset, valid] =
        op.getVocabShardAttr()
            ? e.shardExtent(op.getVocabShardAttr(), logits.back())
            : std::pair(e.i64(0), e.i64(logits.back()));
    Value null = LLVM::ZeroOp::create(e.builder(), e.location(), e.ptrType());
    auto orNull = [&](Value v) { return v ? v : null; };
    int64_t count = op.getTokenCount() ? *op.getTokenCount()
                                       : product(tokenShape);
    SmallVector<Value> args = {
        adaptor.getLogits(),        adaptor.getTargets(),
        orNull(adaptor.getGrad()),  orNull(adaptor.getMax()),
        orNull(adaptor.getSums()),  resultPtr(op.getResult()),
        e.i64(logits.back()),       valid,
        offset,                     e.i64(count),
        e.f32(op.getZLoss().convertToFloat())};
    llvm::append_range(args,
                       e.tokenExtents(tokenShape, op.getTokenShardsAttr()));
    e.launch(kernel, product(tokenShape), true, args);
    return success();
  }

  /// softmax_c (1 + 2 z logZ) / count, minus 1 / count at the target, times
  /// dloss; zero for padding tokens and classes.
  static void gradRows(OpBuilder &b, Location l, ArrayRef<Value> a, Type t,
                       Type td, ArrayRef<int64_t> tokenShape, bool split,
                       bool scaled) {
    Value vocab = a[6], valid = a[7], offset = a[8];
    Value count = arith::SIToFPOp::create(b, l, b.getF32Type(), a[9]);
    Value dloss =
        scaled ? K::load(b, l, b.getF32Type(), a[2], K::i64(b, l, 0))
               : K::f32(b, l, 1);
    Value factor = arith::DivFOp::create(b, l, dloss, count);
    K::warpRows(b, l, K::i64(b, l, product(tokenShape)),
                [&](Value row, Value lane) {
      Value base = arith::MulIOp::create(b, l, row, vocab);
      Value m, s;
      if (split) {
        m = K::load(b, l, b.getF32Type(), a[3], row);
        s = K::load(b, l, b.getF32Type(), a[4], row);
      } else {
        m = rowMax(b, l, t, a[0], base, lane, valid, vocab);
        s = rowSumExp(b, l, t, a[0], base, lane, valid, vocab, m);
      }
      Value logZ = arith::AddFOp::create(b, l, m, K::log(b, l, s));
      Value twoZ =
          arith::MulFOp::create(b, l, K::f32(b, l, 2), a[10]);
      Value coeff = arith::MulFOp::create(
          b, l,
          arith::DivFOp::create(
              b, l,
              arith::AddFOp::create(b, l, K::f32(b, l, 1),
                                    arith::MulFOp::create(b, l, twoZ, logZ)),
              s),
          factor);
      // No class anywhere (an empty vocabulary): nothing to differentiate.
      Value real = arith::AndIOp::create(
          b, l, isRealToken(b, l, row, tokenShape, a.drop_front(11)),
          arith::AndIOp::create(
              b, l,
              arith::CmpFOp::create(b, l, arith::CmpFPredicate::OGT, s,
                                    K::f32(b, l, 0)),
              arith::CmpFOp::create(
                  b, l, arith::CmpFPredicate::ONE, m,
                  K::f32(b, l, -std::numeric_limits<float>::infinity()))));
      Value target =
          arith::SubIOp::create(b, l, targetOf(b, l, a[1], row), offset);
      K::laneLoop(b, l, lane, vocab, {},
                  [&](Value c, ValueRange) -> SmallVector<Value> {
        Value at = arith::AddIOp::create(b, l, base, c);
        Value x = K::loadF32(b, l, t, a[0], at);
        Value g = arith::MulFOp::create(
            b, l, K::exp(b, l, arith::SubFOp::create(b, l, x, m)), coeff);
        Value isTarget =
            arith::CmpIOp::create(b, l, arith::CmpIPredicate::eq, c, target);
        g = arith::SelectOp::create(b, l, isTarget,
                                    arith::SubFOp::create(b, l, g, factor), g);
        Value keep = arith::AndIOp::create(
            b, l, real,
            arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt, c, valid));
        K::storeF32(b, l, td, a[5], at,
                    arith::SelectOp::create(b, l, keep, g, K::f32(b, l, 0)));
        return {};
      });
    });
  }
};

} // namespace

void mlir::palm::lowering::populateGpuEmbeddingLossPatterns(
    RewritePatternSet &patterns, const TypeConverter &converter,
    LoweringState &state) {
  patterns.add<EmbeddingToKernel, SoftmaxMaxToKernel, SoftmaxSumsToKernel,
               CrossEntropyToKernels, CrossEntropyLossToKernels,
               EmbeddingGradToKernel, CrossEntropyGradToKernel>(converter,
                                                                state);
}
