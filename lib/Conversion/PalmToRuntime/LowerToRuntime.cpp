//===- LowerToRuntime.cpp - local palm to loops and palmrt calls ----------===//
//
// The local function becomes palm_forward(buffers, arena, ctx). Every tensor
// value becomes a pointer: arguments and results into `buffers`, the rest
// into the arena at planned offsets. Elementwise chains are emitted as one
// loop each; everything else calls palmrt (runtime/include/palmrt/palmrt.h).
//
//===----------------------------------------------------------------------===//

#include "BufferPlan.h"
#include "Lowering.h"
#include "ProgramInfo.h"

#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/SymbolTable.h"
#include "palm/Conversion/Passes.h"
#include "palm/Dialect/Palm/IR/PalmOps.h"
#include "palm/Dialect/Palm/IR/ShardingUtils.h"

#include <cmath>
#include <functional>
#include <numeric>

namespace mlir::palm {
#define GEN_PASS_DEF_PALMLOWERTORUNTIME
#include "palm/Conversion/Passes.h.inc"
} // namespace mlir::palm

using namespace mlir;
using namespace mlir::palm;

using namespace mlir::palm::lowering;

FailureOr<int32_t> FunctionLowering::dtypeOf(Operation *op, Type t) {
  if (t.isF32())
    return int32_t(kF32);
  if (t.isBF16())
    return int32_t(kBF16);
  if (t.isInteger(32))
    return int32_t(kI32);
  if (t.isInteger(64))
    return int32_t(kI64);
  return op->emitOpError() << "has element type " << t
                           << ", which the runtime does not support";
}

int32_t FunctionLowering::groupOf(ArrayRef<StringAttr> axes) {
  for (auto [i, g] : llvm::enumerate(groups))
    if (ArrayRef<StringAttr>(g) == axes)
      return i;
  groups.emplace_back(axes.begin(), axes.end());
  return groups.size() - 1;
}

int32_t FunctionLowering::groupOf(ArrayAttr axes) {
  AxisList list;
  for (Attribute a : axes)
    list.push_back(cast<StringAttr>(a));
  return groupOf(list);
}

LogicalResult FunctionLowering::check() {
  if (!fn.getBody().hasOneBlock())
    return fn.emitError() << "palm lowers functions with one block only";
  for (Operation &op : fn.getBody().front().without_terminator()) {
    if (op.getNumRegions())
      return op.emitOpError() << "has regions, which palm does not lower";
    bool known =
        isa<EmbeddingOp, LayerNormOp, DotGeneralOp, RopeOp, AttentionOp,
            AddOp, MulOp, SiluOp, ScaleOp, ConvertOp, CrossEntropyOp,
            TransposeOp, ReshapeOp, AllGatherOp, AllReduceOp, ReduceScatterOp,
            AllToAllOp, CollectivePermuteOp, AllSliceOp, MaskPaddingOp,
            SoftmaxMaxOp, SoftmaxSumsOp, CrossEntropyLossOp,
            tensor::ExtractSliceOp, tensor::PadOp, tensor::ConcatOp,
            arith::ConstantOp>(op);
    if (!known)
      return op.emitOpError() << "cannot be lowered by palm";
    if (isa<ShardingConstraintOp>(op))
      return op.emitOpError() << "is global-level; partition first";
    // The CPU kernels compute in f32; elementwise loops and data movement
    // take any element type.
    bool f32Kernel = !cuda && isa<EmbeddingOp, LayerNormOp, DotGeneralOp,
                                  RopeOp, AttentionOp, CrossEntropyOp,
                                  SoftmaxMaxOp, SoftmaxSumsOp>(op);
    if (f32Kernel)
      for (Value v : op.getOperands())
        if (auto t = dyn_cast<RankedTensorType>(v.getType());
            t && isa<FloatType>(t.getElementType()) &&
            !t.getElementType().isF32())
          return op.emitOpError()
                 << "computes in " << t.getElementType()
                 << "; the CPU backend supports f32 programs only";
    if (isa<EmbeddingOp, CrossEntropyOp, SoftmaxSumsOp>(op))
      for (Value v : op.getOperands())
        if (auto t = dyn_cast<RankedTensorType>(v.getType());
            t && t.getElementType().isInteger(64))
          return op.emitOpError()
                 << "uses i64 token ids; the runtime supports i32";
    if (auto pad = dyn_cast<tensor::PadOp>(op)) {
      auto constant = pad.getConstantPaddingValue();
      if (!constant || !matchPattern(constant, m_AnyZeroFloat()) ||
          llvm::any_of(pad.getStaticLow(), [](int64_t l) { return l != 0; }))
        return op.emitOpError() << "is not a zero padding at the high end";
    }
    if (auto slice = dyn_cast<tensor::ExtractSliceOp>(op))
      if (!slice.hasUnitStride() || !slice.getType().hasStaticShape() ||
          ShapedType::isDynamicShape(slice.getStaticOffsets()))
        return op.emitOpError() << "is not a static unit-stride slice";
  }
  return success();
}

void FunctionLowering::plan() {
  Block &body = fn.getBody().front();
  DenseMap<Operation *, int64_t> position;
  int64_t index = 0;
  for (Operation &op : body)
    position[&op] = index++;
  int64_t end = index;

  // An elementwise result read once, by another elementwise op, is computed
  // inside its consumer's loop and never stored.
  for (Operation &op : body.without_terminator())
    if (isElementwise(&op) && op.getResult(0).hasOneUse() &&
        isElementwise(*op.getResult(0).user_begin()))
      inlined.insert(op.getResult(0));

  SmallVector<Value> values;
  SmallVector<BufferRequest> requests;
  DenseMap<Value, int64_t> lastUse;
  // Uses of a view extend the life of what it views; reads of an inlined
  // value are reads of its operands by its consumer.
  std::function<void(Value, int64_t)> touch = [&](Value v, int64_t at) {
    if (inlined.contains(v)) {
      for (Value operand : v.getDefiningOp()->getOperands())
        touch(operand, at);
      return;
    }
    Value r = root(v);
    lastUse[r] = std::max(lastUse.lookup(r), at);
  };
  for (Operation &op : body)
    for (Value operand : op.getOperands())
      if (isa<RankedTensorType>(operand.getType()))
        touch(operand, isa<func::ReturnOp>(op) ? end : position[&op]);
  for (Operation &op : body.without_terminator()) {
    if (isView(&op) || isa<arith::ConstantOp>(op))
      continue;
    for (Value r : op.getResults()) {
      if (inlined.contains(r))
        continue;
      RankedTensorType t = tensorType(r);
      values.push_back(r);
      requests.push_back({tensorBytes(t.getShape(), t.getElementType()),
                          position[&op],
                          std::max(lastUse.lookup(r), position[&op])});
    }
  }
  // Scratch lives only during its op.
  SmallVector<Operation *> scratchOps;
  if (cuda)
    for (Operation &op : body.without_terminator())
      if (int64_t bytes = gpuScratchBytes(&op)) {
        scratchOps.push_back(&op);
        requests.push_back({bytes, position[&op], position[&op]});
      }
  SmallVector<int64_t> offsets = planArena(requests, 256, arenaBytes);
  for (auto [v, offset] : llvm::zip(values, offsets))
    arenaOffset.push_back({v, offset});
  for (auto [op, offset] :
       llvm::zip(scratchOps, ArrayRef<int64_t>(offsets).drop_front(
                                 values.size())))
    scratchOffset.push_back({op, offset});
}

Value FunctionLowering::constArray(ArrayRef<int64_t> values) {
  SmallVector<int64_t> data(values.begin(), values.end());
  if (data.empty())
    data.push_back(0);
  std::string name = "__palm_i64_" + std::to_string(constCounter++);
  {
    OpBuilder::InsertionGuard guard(builder);
    builder.setInsertionPointToStart(module.getBody());
    auto type = LLVM::LLVMArrayType::get(builder.getI64Type(), data.size());
    LLVM::GlobalOp::create(
        builder, loc, type, /*isConstant=*/true, LLVM::Linkage::Private, name,
        DenseElementsAttr::get(RankedTensorType::get({int64_t(data.size())},
                                                     builder.getI64Type()),
                               ArrayRef<int64_t>(data)));
  }
  return LLVM::AddressOfOp::create(builder, loc, ptrType(), name);
}

Value FunctionLowering::stackArray(ArrayRef<Value> values) {
  Value array = LLVM::AllocaOp::create(
      builder, loc, ptrType(), builder.getI64Type(),
      i64(std::max<size_t>(values.size(), 1)), /*alignment=*/8);
  for (auto [i, v] : llvm::enumerate(values)) {
    Value slot = LLVM::GEPOp::create(builder, loc, ptrType(),
                                     builder.getI64Type(), array,
                                     ArrayRef<LLVM::GEPArg>{int32_t(i)});
    LLVM::StoreOp::create(builder, loc, v, slot);
  }
  return array;
}

Value FunctionLowering::callValue(StringRef name, ArrayRef<Value> args,
                                  Type result) {
  SmallVector<Type> argTypes;
  for (Value a : args)
    argTypes.push_back(a.getType());
  SmallVector<Type> results;
  if (result)
    results.push_back(result);
  auto type = builder.getFunctionType(argTypes, results);
  if (!module.lookupSymbol<func::FuncOp>(name)) {
    OpBuilder::InsertionGuard guard(builder);
    builder.setInsertionPointToStart(module.getBody());
    auto decl = func::FuncOp::create(builder, loc, name, type);
    decl.setPrivate();
  }
  auto op = func::CallOp::create(builder, loc, name, results, args);
  return result ? op.getResult(0) : Value();
}

void FunctionLowering::call(StringRef name, ArrayRef<Value> args,
                            Type result) {
  callValue(name, args, result);
}

std::pair<Value, Value> FunctionLowering::shardExtent(DimShardAttr shard,
                                                      int64_t local) {
  Value group = i32(groupOf(shard.getAxes()));
  Value index = callValue("palmrt_group_index", {ctxArg, group},
                          builder.getI64Type());
  Value offset = arith::MulIOp::create(builder, loc, index, i64(local));
  Value rest = arith::SubIOp::create(builder, loc, i64(shard.getSize()),
                                     offset);
  Value valid = arith::MinSIOp::create(
      builder, loc, arith::MaxSIOp::create(builder, loc, rest, i64(0)),
      i64(local));
  return {offset, valid};
}

SmallVector<Value> FunctionLowering::tokenExtents(ArrayRef<int64_t> tokens,
                                                 ArrayAttr shards) {
  SmallVector<Value> extents;
  for (auto [d, size] : llvm::enumerate(tokens)) {
    auto shard = shards ? dyn_cast<DimShardAttr>(shards[d]) : DimShardAttr();
    extents.push_back(shard ? shardExtent(shard, size).second : i64(size));
  }
  return extents;
}

static int64_t product(ArrayRef<int64_t> dims) {
  int64_t n = 1;
  for (int64_t d : dims)
    n *= d;
  return n;
}

Value mlir::palm::lowering::emitElementExpr(
    OpBuilder &b, Location loc, Value v, Value index,
    const DenseSet<Value> &computed, function_ref<Value(Value)> leaf,
    DenseMap<Value, Value> &cache) {
  if (Value known = cache.lookup(v))
    return known;
  Type element = tensorType(v).getElementType();
  Operation *def = v.getDefiningOp();
  Value result;
  if (!def || !isElementwise(def) || !computed.contains(v)) {
    Value addr = LLVM::GEPOp::create(
        b, loc, LLVM::LLVMPointerType::get(b.getContext()), element, leaf(v),
        ValueRange{index});
    result = LLVM::LoadOp::create(b, loc, element, addr);
  } else {
    Type f32Type = b.getF32Type();
    auto widen = [&](Value x) {
      return x.getType() == f32Type
                 ? x
                 : arith::ExtFOp::create(b, loc, f32Type, x).getResult();
    };
    auto narrow = [&](Value x, Type to) {
      return to == f32Type
                 ? x
                 : arith::TruncFOp::create(b, loc, to, x).getResult();
    };
    SmallVector<Value> in;
    for (Value operand : def->getOperands())
      in.push_back(widen(emitElementExpr(b, loc, operand, index, computed,
                                         leaf, cache)));
    auto constant = [&](float c) {
      return arith::ConstantFloatOp::create(b, loc, b.getF32Type(), APFloat(c));
    };
    Value out;
    if (isa<AddOp>(def))
      out = arith::AddFOp::create(b, loc, in[0], in[1]);
    else if (isa<MulOp>(def))
      out = arith::MulFOp::create(b, loc, in[0], in[1]);
    else if (auto scale = dyn_cast<ScaleOp>(def))
      out = arith::MulFOp::create(b, loc, in[0],
                                  constant(scale.getFactor().convertToFloat()));
    else if (isa<SiluOp>(def)) {
      // x / (1 + exp(-x)), with exp as exp2 so that it maps to one
      // instruction on GPUs and vectorizes on CPUs.
      Value scaled = arith::MulFOp::create(b, loc, in[0],
                                           constant(-1.4426950408889634f));
      Value e = math::Exp2Op::create(b, loc, scaled);
      Value den = arith::AddFOp::create(b, loc, constant(1.0f), e);
      out = arith::DivFOp::create(b, loc, in[0], den);
    } else {
      out = in[0]; // convert: widened above, narrowed below
    }
    result = narrow(out, element);
  }
  cache[v] = result;
  return result;
}

void FunctionLowering::emitElementwise(Value rootValue) {
  int64_t n = tensorType(rootValue).getNumElements();
  Value lb = arith::ConstantIndexOp::create(builder, loc, 0);
  Value ub = arith::ConstantIndexOp::create(builder, loc, n);
  Value step = arith::ConstantIndexOp::create(builder, loc, 1);
  Type element = tensorType(rootValue).getElementType();
  Value out = ptrOf(rootValue);
  scf::ForOp::create(
      builder, loc, lb, ub, step, ValueRange{},
      [&](OpBuilder &b, Location, Value iv, ValueRange) {
        OpBuilder::InsertionGuard guard(builder);
        builder.setInsertionPoint(b.getInsertionBlock(),
                                  b.getInsertionPoint());
        Value index = arith::IndexCastOp::create(builder, loc,
                                                 builder.getI64Type(), iv);
        DenseMap<Value, Value> cache;
        // The root is computed, never loaded.
        DenseSet<Value> computed = inlined;
        computed.insert(rootValue);
        Value value = emitElementExpr(builder, loc, rootValue, index,
                                      computed,
                                      [&](Value v) { return ptrOf(v); },
                                      cache);
        Value addr = LLVM::GEPOp::create(builder, loc, ptrType(), element,
                                         out, ValueRange{index});
        LLVM::StoreOp::create(builder, loc, value, addr);
        scf::YieldOp::create(builder, loc);
      });
}

LogicalResult FunctionLowering::lowerDot(DotGeneralOp op) {
  RankedTensorType lhs = op.getLhs().getType(), rhs = op.getRhs().getType();
  ArrayRef<int64_t> lb = op.getLhsBatchDims(), rb = op.getRhsBatchDims();
  ArrayRef<int64_t> lc = op.getLhsContractingDims(),
                    rc = op.getRhsContractingDims();
  int64_t nb = lb.size();
  auto isIota = [](ArrayRef<int64_t> dims, int64_t from) {
    for (auto [i, d] : llvm::enumerate(dims))
      if (d != from + int64_t(i))
        return false;
    return true;
  };
  // Supported without copies: leading batch dimensions in order, and the
  // contracting dimensions contiguous, paired in the same order, at one end
  // of each operand.
  if (!isIota(lb, 0) || !isIota(rb, 0))
    return op.emitOpError()
           << "has batch dimensions that are not leading; palm lowers them "
              "only in front (transpose first)";
  SmallVector<int64_t> order(lc.size());
  std::iota(order.begin(), order.end(), 0);
  llvm::sort(order, [&](int64_t a, int64_t b) { return lc[a] < lc[b]; });
  SmallVector<int64_t> lcSorted, rcPaired;
  for (int64_t i : order) {
    lcSorted.push_back(lc[i]);
    rcPaired.push_back(rc[i]);
  }
  int64_t nc = lc.size();
  bool lhsKLast = isIota(lcSorted, lhs.getRank() - nc);
  bool lhsKFirst = isIota(lcSorted, nb);
  bool rhsKFirst = isIota(rcPaired, nb);
  bool rhsKLast = isIota(rcPaired, rhs.getRank() - nc);
  if (!(lhsKLast || lhsKFirst) || !(rhsKFirst || rhsKLast))
    return op.emitOpError()
           << "contracts dimensions that are not contiguous at one end of an "
              "operand, or pairs them out of order; palm does not lower it";
  int64_t batch = product(lhs.getShape().take_front(nb));
  int64_t k = 1;
  for (int64_t d : lc)
    k *= lhs.getDimSize(d);
  int64_t m = product(lhs.getShape().drop_front(nb)) / k;
  int64_t n = product(rhs.getShape().drop_front(nb)) / k;
  FailureOr<int32_t> dtype = dtypeOf(op, lhs.getElementType());
  if (failed(dtype))
    return failure();
  call("palmrt_gemm",
       {ctxArg, i32(*dtype), i64(batch), i64(m), i64(n), i64(k),
        ptrOf(op.getLhs()), i32(lhsKLast ? 0 : 1), ptrOf(op.getRhs()),
        i32(rhsKFirst ? 0 : 1), ptrOf(op.getResult())});
  return success();
}

LogicalResult FunctionLowering::lowerOp(Operation *op) {
  loc = op->getLoc();
  if (isa<arith::ConstantOp>(op) || isView(op))
    return success();
  if (isElementwise(op)) {
    if (!inlined.contains(op->getResult(0)))
      emitElementwise(op->getResult(0));
    return success();
  }
  auto shape = [&](Value v) { return tensorType(v).getShape(); };
  auto rankOf = [&](Value v) { return i32(tensorType(v).getRank()); };
  auto elemBytes = [&](Value v) {
    return bytesPerElement(tensorType(v).getElementType());
  };
  auto dtype = [&](Value v) -> FailureOr<Value> {
    FailureOr<int32_t> code = dtypeOf(op, tensorType(v).getElementType());
    if (failed(code))
      return failure();
    return i32(*code);
  };
  // Valid extents of token dimensions, from their shards.
  auto validExtents = [&](ArrayRef<int64_t> tokens, ArrayAttr shards) {
    return stackArray(tokenExtents(tokens, shards));
  };

  if (auto dot = dyn_cast<DotGeneralOp>(op))
    return lowerDot(dot);
  if (auto emb = dyn_cast<EmbeddingOp>(op)) {
    ArrayRef<int64_t> table = shape(emb.getTable());
    Value offset = emb.getVocabShardAttr()
                       ? shardExtent(emb.getVocabShardAttr(), table[0]).first
                       : i64(0);
    call("palmrt_embedding_f32",
         {ptrOf(emb.getTable()), ptrOf(emb.getIds()), ptrOf(emb.getResult()),
          i64(product(shape(emb.getIds()))), i64(table[0]), i64(table[1]),
          offset});
    return success();
  }
  if (auto ln = dyn_cast<LayerNormOp>(op)) {
    ArrayRef<int64_t> x = shape(ln.getInput());
    call("palmrt_layer_norm_f32",
         {ptrOf(ln.getInput()), ptrOf(ln.getScale()), ptrOf(ln.getResult()),
          i64(product(x.drop_back())), i64(x.back()),
          f32(ln.getEpsilon().convertToFloat())});
    return success();
  }
  if (auto rope = dyn_cast<RopeOp>(op)) {
    ArrayRef<int64_t> x = shape(rope.getInput());
    call("palmrt_rope_f32",
         {ptrOf(rope.getInput()), ptrOf(rope.getResult()), i64(x[0]),
          i64(x[1]), i64(x[2]), i64(x[3]),
          f32(rope.getBase().convertToFloat())});
    return success();
  }
  if (auto attn = dyn_cast<AttentionOp>(op)) {
    ArrayRef<int64_t> q = shape(attn.getQuery()), k = shape(attn.getKey()),
                      v = shape(attn.getValue());
    FailureOr<Value> code = dtype(attn.getQuery());
    if (failed(code))
      return failure();
    int64_t globalHeads = q[2];
    Value offset = i64(0);
    if (auto shard = attn.getHeadsShardAttr()) {
      globalHeads = shard.getSize();
      offset = shardExtent(shard, q[2]).first;
    }
    call("palmrt_attention",
         {ctxArg, *code, ptrOf(attn.getQuery()), ptrOf(attn.getKey()),
          ptrOf(attn.getValue()), ptrOf(attn.getResult()), i64(q[0]),
          i64(q[1]), i64(k[1]), i64(q[2]), i64(k[2]), i64(q[3]), i64(v[3]),
          i32(attn.getCausal() ? 1 : 0), f32(attn.getEffectiveScale()),
          offset, i64(globalHeads / k[2]), i64(globalHeads)});
    return success();
  }
  if (auto ce = dyn_cast<CrossEntropyOp>(op)) {
    ArrayRef<int64_t> logits = shape(ce.getLogits());
    ArrayRef<int64_t> tokens = logits.drop_back();
    int64_t count = ce.getTokenCount() ? *ce.getTokenCount() : product(tokens);
    call("palmrt_cross_entropy_f32",
         {ptrOf(ce.getLogits()), ptrOf(ce.getTargets()), ptrOf(ce.getResult()),
          i32(tokens.size()), constArray(tokens),
          validExtents(tokens, ce.getTokenShardsAttr()), i64(logits.back()),
          f32(ce.getZLoss().convertToFloat()), i64(count)});
    return success();
  }
  if (auto max = dyn_cast<SoftmaxMaxOp>(op)) {
    ArrayRef<int64_t> logits = shape(max.getLogits());
    Value valid = shardExtent(max.getVocabShard(), logits.back()).second;
    call("palmrt_softmax_max_f32",
         {ptrOf(max.getLogits()), ptrOf(max.getResult()),
          i64(product(logits.drop_back())), i64(logits.back()), valid});
    return success();
  }
  if (auto sums = dyn_cast<SoftmaxSumsOp>(op)) {
    ArrayRef<int64_t> logits = shape(sums.getLogits());
    auto [offset, valid] = shardExtent(sums.getVocabShard(), logits.back());
    call("palmrt_softmax_sums_f32",
         {ptrOf(sums.getLogits()), ptrOf(sums.getMax()),
          ptrOf(sums.getTargets()), ptrOf(sums.getResult()),
          i64(product(logits.drop_back())), i64(logits.back()), valid,
          offset});
    return success();
  }
  if (auto loss = dyn_cast<CrossEntropyLossOp>(op)) {
    ArrayRef<int64_t> tokens = shape(loss.getMax());
    call("palmrt_cross_entropy_loss_f32",
         {ptrOf(loss.getMax()), ptrOf(loss.getSums()), ptrOf(loss.getResult()),
          i32(tokens.size()), constArray(tokens),
          validExtents(tokens, loss.getTokenShardsAttr()),
          f32(loss.getZLoss().convertToFloat()),
          i64(loss.getTokenCount())});
    return success();
  }
  if (auto mask = dyn_cast<MaskPaddingOp>(op)) {
    ArrayRef<int64_t> x = shape(mask.getInput());
    int64_t dim = mask.getDim();
    Value valid = shardExtent(mask.getShard(), x[dim]).second;
    call("palmrt_mask_padding",
         {ptrOf(mask.getInput()), ptrOf(mask.getResult()),
          rankOf(mask.getInput()), constArray(x), i32(dim), valid,
          elemBytes(mask.getInput())});
    return success();
  }
  if (auto t = dyn_cast<TransposeOp>(op)) {
    call("palmrt_transpose",
         {ptrOf(t.getInput()), ptrOf(t.getResult()), rankOf(t.getInput()),
          constArray(shape(t.getInput())), constArray(t.getPermutation()),
          elemBytes(t.getInput())});
    return success();
  }
  if (auto s = dyn_cast<tensor::ExtractSliceOp>(op)) {
    call("palmrt_extract_slice",
         {ptrOf(s.getSource()), ptrOf(s.getResult()), rankOf(s.getSource()),
          constArray(shape(s.getSource())), constArray(shape(s.getResult())),
          constArray(s.getStaticOffsets()), elemBytes(s.getSource())});
    return success();
  }
  if (auto p = dyn_cast<tensor::PadOp>(op)) {
    call("palmrt_pad",
         {ptrOf(p.getSource()), ptrOf(p.getResult()), rankOf(p.getSource()),
          constArray(shape(p.getSource())), constArray(shape(p.getResult())),
          elemBytes(p.getSource())});
    return success();
  }
  if (auto c = dyn_cast<tensor::ConcatOp>(op)) {
    int64_t dim = c.getDim();
    int64_t offset = 0;
    for (Value input : c.getInputs()) {
      SmallVector<int64_t> offsets(tensorType(input).getRank(), 0);
      offsets[dim] = offset;
      call("palmrt_insert_slice",
           {ptrOf(input), ptrOf(c.getResult()), rankOf(input),
            constArray(shape(input)), constArray(shape(c.getResult())),
            constArray(offsets), elemBytes(input)});
      offset += tensorType(input).getDimSize(dim);
    }
    return success();
  }
  // Collectives.
  FailureOr<Value> code = dtype(op->getOperand(0));
  if (failed(code))
    return failure();
  auto reduction = [&](ReductionKindAttr kind) {
    return i32(kind.getValue() == ReductionKind::Sum ? 0 : 1);
  };
  if (auto c = dyn_cast<AllReduceOp>(op)) {
    call("palmrt_all_reduce",
         {ctxArg, ptrOf(c.getInput()), ptrOf(c.getResult()),
          i64(tensorType(c.getInput()).getNumElements()), *code,
          reduction(c.getReductionAttr()), i32(groupOf(c.getMeshAxes()))});
    return success();
  }
  if (auto c = dyn_cast<AllGatherOp>(op)) {
    call("palmrt_all_gather",
         {ctxArg, ptrOf(c.getInput()), ptrOf(c.getResult()),
          rankOf(c.getInput()), constArray(shape(c.getInput())),
          i32(c.getGatherDim()), *code, i32(groupOf(c.getMeshAxes()))});
    return success();
  }
  if (auto c = dyn_cast<ReduceScatterOp>(op)) {
    call("palmrt_reduce_scatter",
         {ctxArg, ptrOf(c.getInput()), ptrOf(c.getResult()),
          rankOf(c.getInput()), constArray(shape(c.getInput())),
          i32(c.getScatterDim()), *code, reduction(c.getReductionAttr()),
          i32(groupOf(c.getMeshAxes()))});
    return success();
  }
  if (auto c = dyn_cast<AllToAllOp>(op)) {
    call("palmrt_all_to_all",
         {ctxArg, ptrOf(c.getInput()), ptrOf(c.getResult()),
          rankOf(c.getInput()), constArray(shape(c.getInput())),
          i32(c.getSplitDim()), i32(c.getConcatDim()), *code,
          i32(groupOf(c.getMeshAxes()))});
    return success();
  }
  if (auto c = dyn_cast<CollectivePermuteOp>(op)) {
    ArrayRef<int64_t> pairs = c.getSourceTargetPairs();
    call("palmrt_collective_permute",
         {ctxArg, ptrOf(c.getInput()), ptrOf(c.getResult()),
          i64(tensorType(c.getInput()).getNumElements()), *code,
          i32(groupOf(c.getMeshAxes())), i64(pairs.size() / 2),
          constArray(pairs)});
    return success();
  }
  if (auto c = dyn_cast<AllSliceOp>(op)) {
    call("palmrt_all_slice",
         {ctxArg, ptrOf(c.getInput()), ptrOf(c.getResult()),
          rankOf(c.getInput()), constArray(shape(c.getInput())),
          i32(c.getSliceDim()), *code, i32(groupOf(c.getMeshAxes()))});
    return success();
  }
  return op->emitOpError() << "cannot be lowered by palm";
}

LogicalResult FunctionLowering::run() {
  if (failed(check()))
    return failure();
  if (cuda) {
    gpu.emplace(module);
    // The launches point at the kernels' PTX, filled in after compilation
    // by -palm-embed-gpu-kernels.
    OpBuilder::InsertionGuard guard(builder);
    builder.setInsertionPointToStart(module.getBody());
    LLVM::GlobalOp::create(
        builder, fn.getLoc(), LLVM::LLVMArrayType::get(builder.getI8Type(), 1),
        /*isConstant=*/true, LLVM::Linkage::Private, "__palm_gpu_image",
        builder.getStringAttr(StringRef("\0", 1)));
  }
  plan();
  MLIRContext *ctx = fn.getContext();
  Block &body = fn.getBody().front();
  unsigned numArgs = fn.getNumArguments();

  builder.setInsertionPoint(fn);
  auto entry = func::FuncOp::create(
      builder, fn.getLoc(), "palm_forward",
      builder.getFunctionType({ptrType(), ptrType(), ptrType()}, {}));
  Block *block = entry.addEntryBlock();
  builder.setInsertionPointToStart(block);
  loc = fn.getLoc();
  buffersArg = block->getArgument(0);
  arenaArg = block->getArgument(1);
  ctxArg = block->getArgument(2);
  auto bufferAt = [&](int64_t i) {
    Value slot = LLVM::GEPOp::create(builder, loc, ptrType(), ptrType(),
                                     buffersArg, ValueRange{i64(i)});
    return LLVM::LoadOp::create(builder, loc, ptrType(), slot).getResult();
  };
  for (BlockArgument arg : body.getArguments())
    ptrs[arg] = bufferAt(arg.getArgNumber());
  for (auto [v, offset] : arenaOffset)
    ptrs[v] = LLVM::GEPOp::create(builder, loc, ptrType(),
                                  builder.getI8Type(), arenaArg,
                                  ValueRange{i64(offset)});
  for (auto [op, offset] : scratchOffset)
    scratch[op] = LLVM::GEPOp::create(builder, loc, ptrType(),
                                      builder.getI8Type(), arenaArg,
                                      ValueRange{i64(offset)});

  for (Operation &op : body.without_terminator()) {
    if (cuda) {
      FailureOr<bool> done = lowerGpuOp(&op);
      if (failed(done))
        return failure();
      if (*done)
        continue;
    }
    if (failed(lowerOp(&op)))
      return failure();
  }

  loc = body.getTerminator()->getLoc();
  for (auto [j, v] : llvm::enumerate(body.getTerminator()->getOperands())) {
    RankedTensorType t = tensorType(v);
    Value dst = bufferAt(numArgs + j);
    Value bytes = i64(tensorBytes(t.getShape(), t.getElementType()));
    if (cuda)
      call("palmrt_copy", {ctxArg, dst, ptrOf(v), bytes});
    else
      LLVM::MemcpyOp::create(builder, loc, dst, ptrOf(v), bytes,
                             /*isVolatile=*/false);
  }
  func::ReturnOp::create(builder, loc);

  FailureOr<std::string> info = describeProgram(fn, mesh, groups, cuda);
  if (failed(info))
    return failure();
  builder.setInsertionPointToStart(module.getBody());
  std::string text = *info;
  text.push_back('\0');
  LLVM::GlobalOp::create(
      builder, loc, LLVM::LLVMArrayType::get(builder.getI8Type(), text.size()),
      /*isConstant=*/true, LLVM::Linkage::External, "palm_program_info",
      builder.getStringAttr(text));
  LLVM::GlobalOp::create(builder, loc, builder.getI64Type(),
                         /*isConstant=*/true, LLVM::Linkage::External,
                         "palm_arena_bytes",
                         builder.getI64IntegerAttr(arenaBytes));
  (void)ctx;
  fn.erase();
  return success();
}

namespace {

/// Lowers the module's one function to the runtime entry point.
struct LowerToRuntimePass
    : public palm::impl::PalmLowerToRuntimeBase<LowerToRuntimePass> {
  using PalmLowerToRuntimeBase::PalmLowerToRuntimeBase;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (getLevel(module) != Level::Local) {
      module.emitError() << "palm-lower-to-runtime needs a local-level "
                            "module; run -palm-spmd-pipeline first";
      return signalPassFailure();
    }
    SmallVector<func::FuncOp> fns;
    for (auto fn : module.getOps<func::FuncOp>())
      if (!fn.isExternal())
        fns.push_back(fn);
    if (fns.size() != 1) {
      module.emitError() << "palm lowers modules with exactly one function, "
                            "found "
                         << fns.size();
      return signalPassFailure();
    }
    SmallVector<MeshOp> meshes(module.getOps<MeshOp>());
    if (meshes.size() > 1) {
      module.emitError() << "palm lowers modules with at most one mesh";
      return signalPassFailure();
    }
    MeshOp mesh = meshes.empty() ? MeshOp() : meshes.front();
    if (target != "cpu" && target != "cuda") {
      module.emitError() << "unknown target '" << target
                         << "' (expected cpu or cuda)";
      return signalPassFailure();
    }
    if (failed(FunctionLowering(fns.front(), mesh, target == "cuda").run()))
      return signalPassFailure();
    // Meshes and the level mark are compile-time only.
    for (MeshOp m : llvm::make_early_inc_range(module.getOps<MeshOp>()))
      m.erase();
    module->removeAttr(PalmDialect::kLevelAttrName);
  }
};

} // namespace
