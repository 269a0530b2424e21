//===- LowerGpuOps.cpp - palm ops to generated GPU kernels ----------------===//
//
// For --target cuda, each op that is not a GEMM, attention or a collective
// becomes a launch of a generated kernel (GpuKernels). Kernels take their
// shapes as constants where they are static and their shard offsets as
// arguments; identical kernels are generated once.
//
//===----------------------------------------------------------------------===//

#include "Lowering.h"

#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::palm;
using namespace mlir::palm::lowering;

using K = GpuKernels;

static int64_t product(ArrayRef<int64_t> dims) {
  int64_t n = 1;
  for (int64_t d : dims)
    n *= d;
  return n;
}

static std::string typeName(Type t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << t;
  return s;
}

static std::string shapeKey(ArrayRef<int64_t> shape) {
  std::string s;
  llvm::raw_string_ostream os(s);
  llvm::interleave(shape, os, "x");
  return s;
}

/// Row-major coordinates of flat index `i` in `shape`.
static SmallVector<Value> coordinates(OpBuilder &b, Location loc, Value i,
                                      ArrayRef<int64_t> shape) {
  SmallVector<Value> coords(shape.size());
  Value rest = i;
  for (int64_t d = shape.size() - 1; d >= 0; --d) {
    Value size = K::i64(b, loc, shape[d]);
    coords[d] = arith::RemSIOp::create(b, loc, rest, size);
    rest = arith::DivSIOp::create(b, loc, rest, size);
  }
  return coords;
}

/// Flat index of `coords` (+ `offsets`) in `shape`.
static Value flatIndex(OpBuilder &b, Location loc, ArrayRef<Value> coords,
                       ArrayRef<int64_t> shape,
                       ArrayRef<int64_t> offsets = {}) {
  Value index = K::i64(b, loc, 0);
  for (auto [d, c] : llvm::enumerate(coords)) {
    Value coord = c;
    if (!offsets.empty() && offsets[d])
      coord = arith::AddIOp::create(b, loc, coord, K::i64(b, loc, offsets[d]));
    index = arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, index, K::i64(b, loc, shape[d])),
        coord);
  }
  return index;
}

static Value zeroOf(OpBuilder &b, Location loc, Type t) {
  return arith::ConstantOp::create(b, loc, t, b.getZeroAttr(t));
}

/// Runs `then` only in lane 0 of the warp.
static void inLaneZero(OpBuilder &b, Location loc, Value lane,
                       const std::function<void()> &then) {
  Value isZero = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, lane,
                                       K::i64(b, loc, 0));
  auto ifOp = scf::IfOp::create(b, loc, isZero, /*withElseRegion=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&ifOp.getThenRegion().front());
  then();
}

Value FunctionLowering::constString(StringRef text) {
  auto [it, inserted] =
      strings.try_emplace(text, "__palm_str_" + std::to_string(strings.size()));
  if (inserted) {
    OpBuilder::InsertionGuard guard(builder);
    builder.setInsertionPointToStart(module.getBody());
    std::string data = text.str();
    data.push_back('\0');
    LLVM::GlobalOp::create(
        builder, loc,
        LLVM::LLVMArrayType::get(builder.getI8Type(), data.size()),
        /*isConstant=*/true, LLVM::Linkage::Private, it->second,
        builder.getStringAttr(data));
  }
  return LLVM::AddressOfOp::create(builder, loc, ptrType(), it->second);
}

void FunctionLowering::launch(StringRef kernel, int64_t work, bool warpPerRow,
                              ArrayRef<Value> args) {
  int64_t threads = std::max<int64_t>(1, warpPerRow ? work * 32 : work);
  // Kernels loop over their work, so the grid only needs to fill the GPU.
  int64_t grid = std::min<int64_t>((threads + kBlock - 1) / kBlock, 65535);
  Value array = LLVM::AllocaOp::create(builder, loc, ptrType(), ptrType(),
                                       i64(args.size()), /*alignment=*/8);
  for (auto [i, arg] : llvm::enumerate(args)) {
    Value slot = LLVM::AllocaOp::create(builder, loc, ptrType(),
                                        arg.getType(), i64(1),
                                        /*alignment=*/8);
    LLVM::StoreOp::create(builder, loc, arg, slot);
    Value entry = LLVM::GEPOp::create(builder, loc, ptrType(), ptrType(),
                                      array, ArrayRef<LLVM::GEPArg>{int32_t(i)});
    LLVM::StoreOp::create(builder, loc, slot, entry);
  }
  Value image = LLVM::AddressOfOp::create(builder, loc, ptrType(),
                                          "__palm_gpu_image");
  call("palmrt_launch", {ctxArg, image, constString(kernel), i64(grid), i64(1),
                         i64(1), i64(kBlock), i64(1), i64(1), i32(0), array});
}

int64_t FunctionLowering::gpuScratchBytes(Operation *op) {
  // Per-token losses, summed by a second kernel in a fixed order.
  if (auto ce = dyn_cast<CrossEntropyOp>(op))
    return 4 * product(ce.getLogits().getType().getShape().drop_back());
  if (auto loss = dyn_cast<CrossEntropyLossOp>(op))
    return 4 * product(loss.getMax().getType().getShape());
  return 0;
}

/// A text describing an elementwise tree, its leaves numbered in order of
/// first use: two trees with equal keys compile to the same kernel.
static void describeTree(Value v, const DenseSet<Value> &computed,
                         SmallVectorImpl<Value> &leaves,
                         llvm::raw_ostream &os) {
  Operation *def = v.getDefiningOp();
  if (!def || !isElementwise(def) || !computed.contains(v)) {
    auto it = llvm::find(leaves, v);
    os << "L" << (it - leaves.begin()) << ":"
       << typeName(tensorType(v).getElementType());
    if (it == leaves.end())
      leaves.push_back(v);
    return;
  }
  os << def->getName().stripDialect() << ":"
     << typeName(tensorType(v).getElementType());
  if (auto scale = dyn_cast<ScaleOp>(def))
    os << "*" << scale.getFactor().convertToFloat();
  os << "(";
  for (Value operand : def->getOperands()) {
    describeTree(operand, computed, leaves, os);
    os << ",";
  }
  os << ")";
}

/// The shared sum of per-token losses: one warp, a fixed order.
static StringRef sumKernel(GpuKernels &gpu, Type ptr, Type i64Type) {
  return gpu.get("sum_f32", {ptr, ptr, i64Type},
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
                     inLaneZero(b, loc, lane, [&] {
                       K::store(b, loc, total, a[1], K::i64(b, loc, 0));
                     });
                   });
                 });
}

/// Folds `step(acc, x)` from `init` over classes [0, count) of the row that
/// starts at element `base` of `logits` (elements of type `t`, rows of
/// `vocab`), each lane over its share; the caller combines the lanes. When
/// the rows are 16-byte aligned (`logits` aligned, `vocab` a multiple of the
/// vector width) lanes read 16 bytes at a time up to the last whole vector,
/// then one class each for the rest.
static Value rowFold(OpBuilder &b, Location loc, Type t, Value logits,
                     Value base, Value lane, Value count, Value vocab,
                     Value init,
                     const std::function<Value(Value, Value)> &step) {
  int64_t width = 16 / (t.getIntOrFloatBitWidth() / 8);
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

/// Maximum over classes [0, count) of row `base` of `logits` (elements of
/// type `t`, rows of `vocab`), in every lane of the warp.
static Value rowMax(OpBuilder &b, Location loc, Type t, Value logits,
                    Value base, Value lane, Value count, Value vocab) {
  Value m = rowFold(b, loc, t, logits, base, lane, count, vocab,
                    K::f32(b, loc, -std::numeric_limits<float>::infinity()),
                    [&](Value acc, Value x) {
                      return arith::MaximumFOp::create(b, loc, acc, x)
                          .getResult();
                    });
  return K::warpReduce(b, loc, m, /*max=*/true);
}

/// Sum over classes [0, count) of exp(logit - max), in every lane.
static Value rowSumExp(OpBuilder &b, Location loc, Type t, Value logits,
                       Value base, Value lane, Value count, Value vocab,
                       Value max) {
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

/// Loss of token `row` from logZ and the target logit, zero for padding.
static Value tokenLoss(OpBuilder &b, Location loc, Value row,
                       ArrayRef<int64_t> tokenShape,
                       ArrayRef<Value> validExtents, Value logZ, Value target,
                       Value zLoss, Value count) {
  SmallVector<Value> coords = coordinates(b, loc, row, tokenShape);
  Value valid = arith::ConstantIntOp::create(b, loc, 1, 1);
  for (auto [c, extent] : llvm::zip(coords, validExtents))
    valid = arith::AndIOp::create(
        b, loc, valid,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, c, extent));
  Value z = arith::MulFOp::create(b, loc, zLoss,
                                  arith::MulFOp::create(b, loc, logZ, logZ));
  Value loss = arith::AddFOp::create(
      b, loc, arith::SubFOp::create(b, loc, logZ, target), z);
  Value n = arith::SIToFPOp::create(b, loc, b.getF32Type(), count);
  loss = arith::DivFOp::create(b, loc, loss, n);
  return arith::SelectOp::create(b, loc, valid, loss, K::f32(b, loc, 0));
}

FailureOr<bool> FunctionLowering::lowerGpuOp(Operation *op) {
  loc = op->getLoc();
  Type ptr = ptrType();
  Type i64Type = builder.getI64Type();
  Type f32Type = builder.getF32Type();
  auto shape = [&](Value v) { return tensorType(v).getShape(); };
  auto elementOf = [&](Value v) { return tensorType(v).getElementType(); };

  if (isElementwise(op)) {
    Value root = op->getResult(0);
    if (inlined.contains(root))
      return true;
    DenseSet<Value> computed = inlined;
    computed.insert(root);
    SmallVector<Value> leaves;
    std::string key;
    llvm::raw_string_ostream os(key);
    os << "ew:";
    describeTree(root, computed, leaves, os);
    // Each thread takes `width` consecutive elements, 16 bytes of the
    // widest type, with vector loads and stores when the element count
    // allows it; the kernel checks that every pointer is 16-byte aligned
    // and falls back to one element per thread otherwise.
    int64_t n = tensorType(root).getNumElements();
    int64_t widest = elementOf(root).getIntOrFloatBitWidth() / 8;
    for (Value leafValue : leaves)
      widest = std::max<int64_t>(
          widest, elementOf(leafValue).getIntOrFloatBitWidth() / 8);
    int64_t width = 16 / widest;
    if (n % width != 0)
      width = 1;
    os << ":w" << width;
    SmallVector<Type> argTypes(leaves.size() + 1, ptr);
    argTypes.push_back(i64Type);
    StringRef kernel = gpu->get(key, argTypes, [&](OpBuilder &b, Location l,
                                                   ArrayRef<Value> a) {
      auto leaf = [&](Value v) {
        return a[1 + (llvm::find(leaves, v) - leaves.begin())];
      };
      auto scalarLoop = [&](OpBuilder &sb, Location sl) {
        K::gridStride(sb, sl, a.back(), [&](Value i) {
          DenseMap<Value, Value> cache;
          Value x = emitElementExpr(sb, sl, root, i, computed, leaf, cache);
          K::store(sb, sl, x, a[0], i);
        });
      };
      if (width == 1) {
        scalarLoop(b, l);
        return;
      }
      auto branch = scf::IfOp::create(
          b, l, K::vectorizable(b, l, a.drop_back(), a.back(), width),
          /*withElseRegion=*/true);
      {
        OpBuilder vb = branch.getThenBodyBuilder();
        Value vectors = arith::DivSIOp::create(vb, l, a.back(),
                                               K::i64(vb, l, width));
        K::gridStride(vb, l, vectors, [&](Value iv) {
          Value first = arith::MulIOp::create(vb, l, iv, K::i64(vb, l, width));
          SmallVector<SmallVector<Value>> loaded;
          for (Value leafValue : leaves)
            loaded.push_back(K::loadVector(vb, l, elementOf(leafValue),
                                           leaf(leafValue), first, width));
          SmallVector<Value> results;
          for (int64_t e = 0; e < width; ++e) {
            DenseMap<Value, Value> cache;
            for (auto [leafValue, v] : llvm::zip(leaves, loaded))
              cache[leafValue] = v[e];
            Value index = arith::AddIOp::create(vb, l, first, K::i64(vb, l, e));
            results.push_back(
                emitElementExpr(vb, l, root, index, computed, leaf, cache));
          }
          K::storeVector(vb, l, a[0], first, results);
        });
      }
      OpBuilder sb = branch.getElseBodyBuilder();
      scalarLoop(sb, l);
    });
    SmallVector<Value> args = {ptrOf(root)};
    for (Value leafValue : leaves)
      args.push_back(ptrOf(leafValue));
    args.push_back(i64(n));
    launch(kernel, n / width, /*warpPerRow=*/false, args);
    return true;
  }

  if (auto emb = dyn_cast<EmbeddingOp>(op)) {
    ArrayRef<int64_t> table = shape(emb.getTable());
    Type t = elementOf(emb.getTable());
    StringRef kernel = gpu->get(
        "embedding:" + typeName(t), {ptr, ptr, ptr, i64Type, i64Type, i64Type,
                                     i64Type},
        [&](OpBuilder &b, Location l, ArrayRef<Value> a) {
          Value n = a[3], rows = a[4], d = a[5], offset = a[6];
          K::gridStride(b, l, n, [&](Value i) {
            Value token = arith::DivSIOp::create(b, l, i, d);
            Value col = arith::RemSIOp::create(b, l, i, d);
            Value id = arith::ExtSIOp::create(
                b, l, b.getI64Type(),
                K::load(b, l, b.getI32Type(), a[1], token));
            Value r = arith::SubIOp::create(b, l, id, offset);
            Value inRange = arith::AndIOp::create(
                b, l,
                arith::CmpIOp::create(b, l, arith::CmpIPredicate::sge, r,
                                      K::i64(b, l, 0)),
                arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt, r,
                                      rows));
            // Read a valid row even for ids elsewhere; select afterwards.
            Value safe = arith::SelectOp::create(b, l, inRange, r,
                                                 K::i64(b, l, 0));
            Value x = K::load(
                b, l, t, a[0],
                arith::AddIOp::create(
                    b, l, arith::MulIOp::create(b, l, safe, d), col));
            K::store(b, l,
                     arith::SelectOp::create(b, l, inRange, x,
                                             zeroOf(b, l, t)),
                     a[2], i);
          });
        });
    Value offset = emb.getVocabShardAttr()
                       ? shardExtent(emb.getVocabShardAttr(), table[0]).first
                       : i64(0);
    int64_t n = product(shape(emb.getIds())) * table[1];
    launch(kernel, n, false,
           {ptrOf(emb.getTable()), ptrOf(emb.getIds()), ptrOf(emb.getResult()),
            i64(n), i64(table[0]), i64(table[1]), offset});
    return true;
  }

  if (auto ln = dyn_cast<LayerNormOp>(op)) {
    ArrayRef<int64_t> x = shape(ln.getInput());
    Type t = elementOf(ln.getInput());
    StringRef kernel = gpu->get(
        "layer_norm:" + typeName(t),
        {ptr, ptr, ptr, i64Type, i64Type, f32Type},
        [&](OpBuilder &b, Location l, ArrayRef<Value> a) {
          Value cols = a[4];
          Value colsF = arith::SIToFPOp::create(b, l, b.getF32Type(), cols);
          // One warp per row; each lane takes `width` consecutive elements
          // per step (16-byte vector accesses) when the row length and the
          // pointers allow, one otherwise.
          auto rowsOf = [&](int64_t width) {
            K::warpRows(b, l, a[3], [&](Value row, Value lane) {
              Value base = arith::MulIOp::create(b, l, row, cols);
              auto at = [&](Value j) {
                return arith::AddIOp::create(b, l, base, j).getResult();
              };
              auto sumOf = [&](const std::function<Value(Value)> &term) {
                Value partial =
                    K::laneChunks(b, l, lane, Value(), cols, width,
                                  {K::f32(b, l, 0)},
                                  [&](Value j, ValueRange acc)
                                      -> SmallVector<Value> {
                      Value s = acc[0];
                      for (Value v : K::loadF32s(b, l, t, a[0], at(j), width))
                        s = arith::AddFOp::create(b, l, s, term(v));
                      return {s};
                    })[0];
                return K::warpReduce(b, l, partial, false);
              };
              Value mean = arith::DivFOp::create(
                  b, l, sumOf([](Value v) { return v; }), colsF);
              Value var = arith::DivFOp::create(
                  b, l, sumOf([&](Value v) {
                    Value dx = arith::SubFOp::create(b, l, v, mean);
                    return arith::MulFOp::create(b, l, dx, dx).getResult();
                  }),
                  colsF);
              Value rstd = arith::DivFOp::create(
                  b, l, K::f32(b, l, 1),
                  math::SqrtOp::create(
                      b, l, arith::AddFOp::create(b, l, var, a[5])));
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
          };
          int64_t width = 16 / (t.getIntOrFloatBitWidth() / 8);
          auto branch = scf::IfOp::create(
              b, l, K::vectorizable(b, l, a.take_front(3), cols, width),
              /*withElseRegion=*/true);
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPoint(branch.thenBlock()->getTerminator());
          rowsOf(width);
          b.setInsertionPoint(branch.elseBlock()->getTerminator());
          rowsOf(1);
        });
    int64_t rows = product(x.drop_back());
    launch(kernel, rows, true,
           {ptrOf(ln.getInput()), ptrOf(ln.getScale()), ptrOf(ln.getResult()),
            i64(rows), i64(x.back()), f32(ln.getEpsilon().convertToFloat())});
    return true;
  }

  if (auto rope = dyn_cast<RopeOp>(op)) {
    ArrayRef<int64_t> x = shape(rope.getInput());
    Type t = elementOf(rope.getInput());
    int64_t half = x[3] / 2;
    StringRef kernel = gpu->get(
        "rope:" + typeName(t) + ":" + shapeKey(x),
        {ptr, ptr, f32Type}, [&](OpBuilder &b, Location l, ArrayRef<Value> a) {
          // A thread per (batch, position, pair): its sine and cosine serve
          // every head.
          int64_t n = x[0] * x[1] * half;
          K::gridStride(b, l, K::i64(b, l, n), [&](Value i) {
            SmallVector<Value> c = coordinates(b, l, i, {x[0], x[1], half});
            Type f = b.getF32Type();
            // angle = p * base^(-2i/d); reduced to [0, 2 pi) before the
            // hardware sin/cos, which are accurate only there.
            Value iF = arith::SIToFPOp::create(b, l, f, c[2]);
            Value expo = arith::MulFOp::create(
                b, l, iF, K::f32(b, l, -2.0 / double(x[3])));
            Value freq = math::Exp2Op::create(
                b, l, arith::MulFOp::create(b, l, expo, a[2]));
            Value pos = arith::SIToFPOp::create(b, l, f, c[1]);
            Value angle = arith::MulFOp::create(b, l, pos, freq);
            Value turns = math::FloorOp::create(
                b, l,
                arith::MulFOp::create(b, l, angle,
                                      K::f32(b, l, 0.5 / M_PI)));
            angle = arith::SubFOp::create(
                b, l, angle,
                arith::MulFOp::create(b, l, turns, K::f32(b, l, 2 * M_PI)));
            Value cs = math::CosOp::create(b, l, angle);
            Value sn = math::SinOp::create(b, l, angle);
            Value row = flatIndex(b, l, {c[0], c[1]}, {x[0], x[1]});
            scf::ForOp::create(
                b, l, K::i64(b, l, 0), K::i64(b, l, x[2]), K::i64(b, l, 1),
                ValueRange{},
                [&](OpBuilder &nb, Location hl, Value head, ValueRange) {
                  Value base = arith::MulIOp::create(
                      b, hl,
                      arith::AddIOp::create(
                          b, hl,
                          arith::MulIOp::create(b, hl, row,
                                                K::i64(b, hl, x[2])),
                          head),
                      K::i64(b, hl, x[3]));
                  Value i1 = arith::AddIOp::create(b, hl, base, c[2]);
                  Value i2 = arith::AddIOp::create(b, hl, i1,
                                                   K::i64(b, hl, half));
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
          });
        });
    launch(kernel, x[0] * x[1] * half, false,
           {ptrOf(rope.getInput()), ptrOf(rope.getResult()),
            f32(std::log2(rope.getBase().convertToDouble()))});
    return true;
  }

  if (auto max = dyn_cast<SoftmaxMaxOp>(op)) {
    ArrayRef<int64_t> logits = shape(max.getLogits());
    Type t = elementOf(max.getLogits());
    StringRef kernel = gpu->get(
        "softmax_max:" + typeName(t), {ptr, ptr, i64Type, i64Type, i64Type},
        [&](OpBuilder &b, Location l, ArrayRef<Value> a) {
          Value vocab = a[3], valid = a[4];
          K::warpRows(b, l, a[2], [&](Value row, Value lane) {
            Value base = arith::MulIOp::create(b, l, row, vocab);
            Value m = rowMax(b, l, t, a[0], base, lane, valid, vocab);
            inLaneZero(b, l, lane, [&] { K::store(b, l, m, a[1], row); });
          });
        });
    auto [offset, valid] = shardExtent(max.getVocabShard(), logits.back());
    (void)offset;
    int64_t tokens = product(logits.drop_back());
    launch(kernel, tokens, true,
           {ptrOf(max.getLogits()), ptrOf(max.getResult()), i64(tokens),
            i64(logits.back()), valid});
    return true;
  }

  if (auto sums = dyn_cast<SoftmaxSumsOp>(op)) {
    ArrayRef<int64_t> logits = shape(sums.getLogits());
    Type t = elementOf(sums.getLogits());
    StringRef kernel = gpu->get(
        "softmax_sums:" + typeName(t),
        {ptr, ptr, ptr, ptr, i64Type, i64Type, i64Type, i64Type},
        [&](OpBuilder &b, Location l, ArrayRef<Value> a) {
          Value tokens = a[4], vocab = a[5], valid = a[6], offset = a[7];
          K::warpRows(b, l, tokens, [&](Value row, Value lane) {
            Value base = arith::MulIOp::create(b, l, row, vocab);
            Value m = K::load(b, l, b.getF32Type(), a[1], row);
            Value s = rowSumExp(b, l, t, a[0], base, lane, valid, vocab, m);
            inLaneZero(b, l, lane, [&] {
              Value target = arith::SubIOp::create(
                  b, l,
                  arith::ExtSIOp::create(b, l, b.getI64Type(),
                                         K::load(b, l, b.getI32Type(), a[2],
                                                 row)),
                  offset);
              Value here = arith::AndIOp::create(
                  b, l,
                  arith::CmpIOp::create(b, l, arith::CmpIPredicate::sge,
                                        target, K::i64(b, l, 0)),
                  arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt,
                                        target, valid));
              Value safe = arith::SelectOp::create(b, l, here, target,
                                                   K::i64(b, l, 0));
              Value x = K::loadF32(b, l, t, a[0],
                                   arith::AddIOp::create(b, l, base, safe));
              Value tl = arith::SelectOp::create(b, l, here, x,
                                                 K::f32(b, l, 0));
              K::store(b, l, s, a[3], row);
              K::store(b, l, tl, a[3], arith::AddIOp::create(b, l, tokens, row));
            });
          });
        });
    auto [offset, valid] = shardExtent(sums.getVocabShard(), logits.back());
    int64_t tokens = product(logits.drop_back());
    launch(kernel, tokens, true,
           {ptrOf(sums.getLogits()), ptrOf(sums.getMax()),
            ptrOf(sums.getTargets()), ptrOf(sums.getResult()), i64(tokens),
            i64(logits.back()), valid, offset});
    return true;
  }

  if (auto ce = dyn_cast<CrossEntropyOp>(op)) {
    ArrayRef<int64_t> logits = shape(ce.getLogits());
    ArrayRef<int64_t> tokenShape = logits.drop_back();
    Type t = elementOf(ce.getLogits());
    SmallVector<Type> types = {ptr, ptr, ptr, i64Type, f32Type, i64Type};
    types.append(tokenShape.size(), i64Type);
    StringRef kernel = gpu->get(
        "cross_entropy:" + typeName(t) + ":" + shapeKey(tokenShape), types,
        [&](OpBuilder &b, Location l, ArrayRef<Value> a) {
          Value vocab = a[3];
          K::warpRows(b, l, K::i64(b, l, product(tokenShape)),
                      [&](Value row, Value lane) {
            Value base = arith::MulIOp::create(b, l, row, vocab);
            auto at = [&](Value j) {
              return arith::AddIOp::create(b, l, base, j).getResult();
            };
            Value m = rowMax(b, l, t, a[0], base, lane, vocab, vocab);
            Value s = rowSumExp(b, l, t, a[0], base, lane, vocab, vocab, m);
            inLaneZero(b, l, lane, [&] {
              Value logZ = arith::AddFOp::create(b, l, m, K::log(b, l, s));
              Value target = arith::ExtSIOp::create(
                  b, l, b.getI64Type(),
                  K::load(b, l, b.getI32Type(), a[1], row));
              Value tl = K::loadF32(b, l, t, a[0], at(target));
              Value loss = tokenLoss(b, l, row, tokenShape, a.drop_front(6),
                                     logZ, tl, a[4], a[5]);
              K::store(b, l, loss, a[2], row);
            });
          });
        });
    int64_t tokens = product(tokenShape);
    int64_t count = ce.getTokenCount() ? *ce.getTokenCount() : tokens;
    SmallVector<Value> args = {ptrOf(ce.getLogits()), ptrOf(ce.getTargets()),
                               scratch.lookup(op), i64(logits.back()),
                               f32(ce.getZLoss().convertToFloat()), i64(count)};
    llvm::append_range(args, tokenExtents(tokenShape, ce.getTokenShardsAttr()));
    launch(kernel, tokens, true, args);
    launch(sumKernel(*gpu, ptr, i64Type), 1, true,
           {scratch.lookup(op), ptrOf(ce.getResult()), i64(tokens)});
    return true;
  }

  if (auto loss = dyn_cast<CrossEntropyLossOp>(op)) {
    ArrayRef<int64_t> tokenShape = shape(loss.getMax());
    int64_t tokens = product(tokenShape);
    SmallVector<Type> types = {ptr, ptr, ptr, f32Type, i64Type};
    types.append(tokenShape.size(), i64Type);
    StringRef kernel = gpu->get(
        "cross_entropy_loss:" + shapeKey(tokenShape), types,
        [&](OpBuilder &b, Location l, ArrayRef<Value> a) {
          K::gridStride(b, l, K::i64(b, l, tokens), [&](Value i) {
            Value m = K::load(b, l, b.getF32Type(), a[0], i);
            Value s = K::load(b, l, b.getF32Type(), a[1], i);
            Value tl = K::load(b, l, b.getF32Type(), a[1],
                               arith::AddIOp::create(b, l, i,
                                                     K::i64(b, l, tokens)));
            Value logZ = arith::AddFOp::create(b, l, m, K::log(b, l, s));
            K::store(b, l,
                     tokenLoss(b, l, i, tokenShape, a.drop_front(5), logZ, tl,
                               a[3], a[4]),
                     a[2], i);
          });
        });
    SmallVector<Value> args = {ptrOf(loss.getMax()), ptrOf(loss.getSums()),
                               scratch.lookup(op),
                               f32(loss.getZLoss().convertToFloat()),
                               i64(loss.getTokenCount())};
    llvm::append_range(args,
                       tokenExtents(tokenShape, loss.getTokenShardsAttr()));
    launch(kernel, tokens, false, args);
    launch(sumKernel(*gpu, ptr, i64Type), 1, true,
           {scratch.lookup(op), ptrOf(loss.getResult()), i64(tokens)});
    return true;
  }

  // Data movement: one thread per element of the tensor written.
  auto indexMap = [&](StringRef what, Value in, Value out,
                      ArrayRef<int64_t> walked, Type t,
                      const std::function<std::pair<Value, Value>(
                          OpBuilder &, Location, ArrayRef<Value>, Value,
                          ArrayRef<Value>)> &map,
                      ArrayRef<Value> extra, bool writeIn) {
    SmallVector<Type> types = {ptr, ptr};
    for (Value e : extra)
      types.push_back(e.getType());
    StringRef kernel = gpu->get(
        what, types, [&](OpBuilder &b, Location l, ArrayRef<Value> a) {
          K::gridStride(b, l, K::i64(b, l, product(walked)), [&](Value i) {
            SmallVector<Value> c = coordinates(b, l, i, walked);
            auto [other, keep] = map(b, l, c, i, a.drop_front(2));
            if (writeIn) {
              K::store(b, l, K::load(b, l, t, a[0], i), a[1], other);
              return;
            }
            Value x = K::load(b, l, t, a[0], other);
            if (keep)
              x = arith::SelectOp::create(b, l, keep, x, zeroOf(b, l, t));
            K::store(b, l, x, a[1], i);
          });
        });
    SmallVector<Value> args = {ptrOf(in), out};
    llvm::append_range(args, extra);
    launch(kernel, product(walked), false, args);
  };

  if (auto mask = dyn_cast<MaskPaddingOp>(op)) {
    ArrayRef<int64_t> x = shape(mask.getInput());
    int64_t dim = mask.getDim();
    Value valid = shardExtent(mask.getShard(), x[dim]).second;
    indexMap("mask:" + typeName(elementOf(mask.getInput())) + ":" +
                 shapeKey(x) + ":" + std::to_string(dim),
             mask.getInput(), ptrOf(mask.getResult()), x,
             elementOf(mask.getInput()),
             [&](OpBuilder &b, Location l, ArrayRef<Value> c, Value i,
                 ArrayRef<Value> e) -> std::pair<Value, Value> {
               return {i, arith::CmpIOp::create(
                              b, l, arith::CmpIPredicate::slt, c[dim], e[0])};
             },
             {valid}, false);
    return true;
  }
  if (auto tr = dyn_cast<TransposeOp>(op)) {
    ArrayRef<int64_t> in = shape(tr.getInput()), out = shape(tr.getResult());
    ArrayRef<int64_t> perm = tr.getPermutation();
    std::string key = "transpose:" + typeName(elementOf(tr.getInput())) + ":" +
                      shapeKey(in) + ":" + shapeKey(perm);
    indexMap(key, tr.getInput(), ptrOf(tr.getResult()), out,
             elementOf(tr.getInput()),
             [&](OpBuilder &b, Location l, ArrayRef<Value> c, Value,
                 ArrayRef<Value>) -> std::pair<Value, Value> {
               SmallVector<Value> inCoords(in.size());
               for (auto [j, p] : llvm::enumerate(perm))
                 inCoords[p] = c[j];
               return {flatIndex(b, l, inCoords, in), Value()};
             },
             {}, false);
    return true;
  }
  if (auto s = dyn_cast<tensor::ExtractSliceOp>(op)) {
    ArrayRef<int64_t> in = shape(s.getSource()), out = shape(s.getResult());
    SmallVector<int64_t> offsets(s.getStaticOffsets());
    indexMap("slice:" + typeName(elementOf(s.getSource())) + ":" +
                 shapeKey(in) + ":" + shapeKey(out) + ":" + shapeKey(offsets),
             s.getSource(), ptrOf(s.getResult()), out,
             elementOf(s.getSource()),
             [&](OpBuilder &b, Location l, ArrayRef<Value> c, Value,
                 ArrayRef<Value>) -> std::pair<Value, Value> {
               return {flatIndex(b, l, c, in, offsets), Value()};
             },
             {}, false);
    return true;
  }
  if (auto p = dyn_cast<tensor::PadOp>(op)) {
    ArrayRef<int64_t> in = shape(p.getSource()), out = shape(p.getResult());
    indexMap("pad:" + typeName(elementOf(p.getSource())) + ":" +
                 shapeKey(in) + ":" + shapeKey(out),
             p.getSource(), ptrOf(p.getResult()), out,
             elementOf(p.getSource()),
             [&](OpBuilder &b, Location l, ArrayRef<Value> c, Value,
                 ArrayRef<Value>) -> std::pair<Value, Value> {
               Value inside = arith::ConstantIntOp::create(b, l, 1, 1);
               SmallVector<Value> clamped;
               for (auto [d, coord] : llvm::enumerate(c)) {
                 Value ok = arith::CmpIOp::create(b, l,
                                                  arith::CmpIPredicate::slt,
                                                  coord, K::i64(b, l, in[d]));
                 inside = arith::AndIOp::create(b, l, inside, ok);
                 clamped.push_back(
                     arith::SelectOp::create(b, l, ok, coord, K::i64(b, l, 0)));
               }
               return {flatIndex(b, l, clamped, in), inside};
             },
             {}, false);
    return true;
  }
  if (auto c = dyn_cast<tensor::ConcatOp>(op)) {
    int64_t dim = c.getDim(), offset = 0;
    ArrayRef<int64_t> out = shape(c.getResult());
    for (Value input : c.getInputs()) {
      ArrayRef<int64_t> in = shape(input);
      SmallVector<int64_t> offsets(in.size(), 0);
      offsets[dim] = offset;
      indexMap("insert:" + typeName(elementOf(input)) + ":" + shapeKey(in) +
                   ":" + shapeKey(out) + ":" + shapeKey(offsets),
               input, ptrOf(c.getResult()), in, elementOf(input),
               [&](OpBuilder &b, Location l, ArrayRef<Value> coords, Value,
                   ArrayRef<Value>) -> std::pair<Value, Value> {
                 return {flatIndex(b, l, coords, out, offsets), Value()};
               },
               {}, /*writeIn=*/true);
      offset += in[dim];
    }
    return true;
  }
  return false;
}
